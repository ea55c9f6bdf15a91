"""`shop`: the operator's command (docs/reliability.md). A thin typer layer over the functions of
shop_ops, which return data; this module only parses options, asks for confirmation and prints.

    shop status                                   # the embedded stack of `make run`
    shop --stage prod dlq list                    # an AWS stage, with boto3's usual credentials
    shop replay --since 2h --to notify.order-emails --dry-run
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from shop_ops import dlq as dlq_ops
from shop_ops import reconcile as reconcile_ops
from shop_ops import replay as replay_ops
from shop_ops import status as status_ops
from shop_ops import trace as trace_ops
from shop_ops.queues import utcnow
from shop_ops.target import Target, UnknownSubscriber, resolve
from shop_ops.timeparse import age, duration, moment

app = typer.Typer(
    help="Operate the shop: replay events, tend the DLQs, reconcile, status and trace.",
    no_args_is_help=True,
    add_completion=False,
)
dlq_app = typer.Typer(help="Dead-letter queues: list, show, redrive, purge.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
console = Console()
errors = Console(stderr=True)

Since = Annotated[str, typer.Option(help="start of the window: ISO 8601 (UTC unless it has an offset) or an age (30m, 2h, 3d)")]
Until = Annotated[str, typer.Option(help="end of the window, excluded: ISO 8601, an age, or now")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="show what would be done; change nothing")]


class Settings:
    target: Target


settings = Settings()


@app.callback()
def main_options(
    stage: Annotated[str | None, typer.Option(envvar="SHOP_STAGE", help="the stage (AWS unless --endpoint is given)")] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(envvar="AWS_ENDPOINT_URL", help="the embedded stack's AWS endpoint (make run's: http://127.0.0.1:5100)"),
    ] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile (AWS only)")] = None,
    region: Annotated[str | None, typer.Option(help="AWS region (AWS only)")] = None,
) -> None:
    """With neither --stage nor --endpoint: the embedded stack of `make run` (stage local)."""
    settings.target = resolve(stage, endpoint, profile=profile, region=region)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _moment(text: str, now: datetime) -> datetime:
    try:
        return moment(text, now)
    except ValueError as error:
        raise _fail(str(error)) from None


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


def _target_flags(target: Target) -> list[str]:
    if target.local:
        return [
            "--endpoint",
            str(target.endpoint_url),
            *(["--stage", target.naming.stage] if target.naming.stage != "local" else []),
        ]
    return ["--stage", target.naming.stage]


# -- status and trace ----------------------------------------------------------------------------------


@app.command()
def status() -> None:
    """Per service: each subscription's queue and DLQ (depth, oldest message) and the outbox backlog."""
    target = settings.target
    console.print(f"[bold]{target.describe()}[/bold]")
    table = Table("service", "subscription / outbox", "queue", "in flight", "oldest", "DLQ", "DLQ oldest")
    for service in status_ops.status(target):
        for s in service.subscriptions:
            dlq = f"[red]{s.dlq.total}[/red]" if s.dlq.total else "0"
            table.add_row(
                service.service,
                s.subscriber.partition(".")[2],
                str(s.queue.visible),
                str(s.queue.in_flight),
                age(s.queue_oldest),
                dlq,
                age(s.dlq_oldest),
            )
        if service.outbox is not None:
            pending = f"[yellow]{service.outbox.pending}[/yellow]" if service.outbox.pending else "0"
            table.add_row(service.service, "outbox (unpublished)", pending, "", age(service.outbox.oldest), "", "")
        table.add_section()
    console.print(table)
    if target.local:
        console.print("oldest: a live queue's oldest message has no age locally (CloudWatch's metric on AWS); a DLQ's is peeked.")


@app.command()
def trace(
    order_id: Annotated[str, typer.Argument(help="the order id (any correlation id works: a video's too)")],
    since: Annotated[str | None, typer.Option(help="default: a minute before the order was placed")] = None,
    until: Annotated[str | None, typer.Option(help="default: now")] = None,
) -> None:
    """One order's story across services in time order: events published, handled, failed, missing."""
    now = utcnow()
    steps = trace_ops.trace(
        settings.target,
        order_id,
        since=_moment(since, now) if since else None,
        until=_moment(until, now) if until else None,
    )
    if not steps:
        console.print(f"no event about {order_id} in the outbox logs")
        raise typer.Exit(1)
    table = Table("time (UTC)", "service", "step")
    styles = {"failed": "red", "not handled": "yellow", "pending": "yellow"}
    for step in steps:
        text = step.describe()
        style = styles.get(step.kind)
        table.add_row(
            step.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], step.service, f"[{style}]{text}[/{style}]" if style else text
        )
    console.print(table)


# -- replay --------------------------------------------------------------------------------------------


@app.command()
def replay(
    since: Since,
    until: Until = "now",
    event_type: Annotated[list[str] | None, typer.Option("--type", help="only this event type (repeatable)")] = None,
    to: Annotated[list[str] | None, typer.Option(help="only this subscriber, e.g. notify.order-emails (repeatable)")] = None,
    event_id: Annotated[list[str] | None, typer.Option("--event-id", help="only this event (repeatable)")] = None,
    order: Annotated[str | None, typer.Option(help="only this order's events (its correlation id)")] = None,
    rate: Annotated[float, typer.Option(help="messages per second, at most")] = replay_ops.DEFAULT_RATE,
    dry_run: DryRun = False,
) -> None:
    """Re-deliver the events logged in [since, until) with their original event_id to their subscribers'
    queues (only --to's): a subscriber that had them repeats nothing, one that missed them gets them."""
    target, now = settings.target, utcnow()
    try:
        deliveries = replay_ops.select(
            target,
            since=_moment(since, now),
            until=_moment(until, now),
            types=event_type or (),
            to=to or (),
            event_ids=event_id or (),
            correlation_id=order,
        )
    except (UnknownSubscriber, ValueError) as error:
        raise _fail(str(error)) from None
    _replay(target, deliveries, rate=rate, dry_run=dry_run)


def _replay(target: Target, deliveries: Sequence[replay_ops.Delivery], *, rate: float, dry_run: bool) -> None:
    counts = replay_ops.ReplayResult("", list(deliveries)).counts()
    table = Table(
        "event type", "subscriber", "deliveries", title=f"{'would replay' if dry_run else 'replaying'} on {target.describe()}"
    )
    for (event_type, subscriber), count in sorted(counts.items()):
        table.add_row(event_type, subscriber, str(count))
    table.add_section()
    table.add_row("total", f"{len({d.event.event_id for d in deliveries})} events", str(len(deliveries)))
    console.print(table)
    if dry_run or not deliveries:
        return
    with _progress("replaying", len(deliveries)) as advance:
        result = replay_ops.send(target, deliveries, rate=rate, progress=advance)
    console.print(f"sent {result.sent} of {len(deliveries)} as replay {result.replay_name}")
    for delivery, reason in result.failed:
        errors.print(f"[red]not sent[/red] {delivery.event.event_id} to {delivery.subscriber}: {reason}")
    if result.failed:
        raise typer.Exit(1)


# -- DLQs ----------------------------------------------------------------------------------------------


def _subscriber(name: str) -> str:
    try:
        return dlq_ops.subscribers(settings.target, [name])[0]
    except UnknownSubscriber as error:
        raise _fail(str(error)) from None


@dlq_app.command("list")
def dlq_list(
    all_queues: Annotated[bool, typer.Option("--all", help="list the empty DLQs too")] = False,
) -> None:
    """Every DLQ holding messages, with its depth and the age of its oldest message."""
    target = settings.target
    summaries = dlq_ops.list_dlqs(target)
    shown = [s for s in summaries if all_queues or s.depth]
    table = Table("subscriber", "DLQ", "messages", "oldest", title=f"DLQs on {target.describe()}")
    for summary in shown:
        table.add_row(summary.subscriber, summary.dlq, str(summary.depth), age(summary.oldest_age))
    console.print(table if shown else f"every DLQ is empty ({len(summaries)} DLQs) on {target.describe()}")


@dlq_app.command("show")
def dlq_show(
    subscriber: Annotated[str, typer.Argument(help="e.g. notify.crm-sync")],
    limit: Annotated[int, typer.Option(help="at most this many messages")] = 10,
    body: Annotated[bool, typer.Option("--body", help="print each message's body too")] = False,
) -> None:
    """The subscriber's dead letters (left in the DLQ) with why they failed and how often they were received."""
    name = _subscriber(subscriber)
    letters = dlq_ops.show(settings.target, name, limit=limit)
    if not letters:
        console.print(f"{name}'s DLQ is empty")
        return
    console.print(f"[bold]{name}[/bold]: {len(letters)} dead letter(s), oldest first")
    for number, letter in enumerate(letters, 1):
        event = f"{letter.event_type or '?'} {letter.event_id or '(no event id)'}"
        console.print(f"{number}. {event}  correlation id {letter.correlation_id or '-'}", soft_wrap=True, highlight=False)
        received = f"received {letter.receive_count} time(s)"
        console.print(f"   sent {letter.sent_at:%Y-%m-%d %H:%M:%S} UTC, {received}, message {letter.message_id}", highlight=False)
        if letter.reason_from == "failure record":
            why = f"   the handler raised (last at {(letter.failed_at or '')[:19]}): {letter.reason}"
        elif letter.reason:
            why = f"   dead-lettered by the consumer: {letter.reason}"
        else:
            why = "   [yellow]no reason recorded: look for the message id in the service's log[/yellow]"
        console.print(why, soft_wrap=True, highlight=False)
    if body:
        for letter in letters:
            console.print(f"[bold]{letter.message_id}[/bold] {letter.body}", soft_wrap=True, highlight=False)


@dlq_app.command("redrive")
def dlq_redrive(
    subscriber: Annotated[str, typer.Argument(help="e.g. notify.crm-sync")],
    rate: Annotated[float, typer.Option(help="messages per second, at most")] = dlq_ops.DEFAULT_REDRIVE_RATE,
    limit: Annotated[int | None, typer.Option(help="move at most this many (embedded stack only)")] = None,
    dry_run: DryRun = False,
) -> None:
    """Move the subscriber's dead letters back to its queue (fix their cause first)."""
    target, name = settings.target, _subscriber(subscriber)
    held = dlq_ops.depth(target, name)
    how = "StartMessageMoveTask" if not target.local else "receive, send, delete (moto has no StartMessageMoveTask)"
    source = dlq_ops.queue_name(target, name)
    console.print(f"{name}: {held} message(s) in {dlq_ops.dlq_name(target, name)} → {source} at ≤{rate:g}/s by {how}")
    if dry_run or not held:
        return
    try:
        with _progress("redriving", min(held, limit) if limit is not None else held) as advance:
            result = dlq_ops.redrive(target, name, rate=rate, limit=limit, progress=advance)
    except ValueError as error:
        raise _fail(str(error)) from None
    if result.task_handle:
        console.print(f"message move task started: {result.task_handle} (aws sqs list-message-move-tasks shows its progress)")
    else:
        console.print(f"moved {result.moved} message(s) back to {dlq_ops.queue_name(target, name)}")


@dlq_app.command("purge")
def dlq_purge(
    subscriber: Annotated[str, typer.Argument(help="e.g. notify.crm-sync")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    dry_run: DryRun = False,
) -> None:
    """Delete every message of the subscriber's DLQ, after confirmation. They are gone for good; the
    events themselves stay in their producers' logs (shop replay can still deliver them)."""
    target, name = settings.target, _subscriber(subscriber)
    held = dlq_ops.depth(target, name)
    console.print(f"{name}: {held} message(s) in {dlq_ops.dlq_name(target, name)} on {target.describe()}")
    if dry_run or not held:
        return
    if not yes and not typer.confirm(f"Delete these {held} message(s) for good?"):
        raise typer.Exit(1)
    console.print(f"purged {dlq_ops.purge(target, name)} message(s)")


# -- reconcile -----------------------------------------------------------------------------------------


@app.command()
def reconcile(
    since: Since = "1d",
    until: Until = "now",
    order: Annotated[str | None, typer.Option(help="only this order's events and status")] = None,
    to: Annotated[list[str] | None, typer.Option(help="only this subscriber's markers (repeatable)")] = None,
    stuck_after: Annotated[str, typer.Option(help="an order in PENDING, STOCK_RESERVED or PAID longer is stuck")] = "15m",
    settle: Annotated[str, typer.Option(help="events younger than this may still be on their way: not checked")] = "2m",
    repair: Annotated[bool, typer.Option("--repair", help="run the replays that repair what is missing")] = False,
    rate: Annotated[float, typer.Option(help="replay: messages per second, at most")] = replay_ops.DEFAULT_RATE,
    dry_run: DryRun = False,
) -> None:
    """Find orders stuck in the flow, outbox items never published and events a subscriber never
    handled; print the replays that repair them, or run them with --repair. Exits 1 while anything is found."""
    target, now = settings.target, utcnow()
    try:
        findings = reconcile_ops.reconcile(
            target,
            since=_moment(since, now),
            until=_moment(until, now),
            correlation_id=order,
            subscribers=to or (),
            stuck_after=duration(stuck_after),
            settle=duration(settle),
        )
    except (UnknownSubscriber, ValueError) as error:
        raise _fail(str(error)) from None
    console.print(
        f"checked {findings.checked_events} published event(s) from {findings.since:%Y-%m-%d %H:%M:%S} to "
        f"{findings.until:%Y-%m-%d %H:%M:%S} UTC on {target.describe()}"
    )
    if findings.clean:
        console.print("[green]nothing to repair[/green]: no stuck order, no unpublished outbox item, no missed event")
        return
    _print_findings(findings)
    repairs = findings.repairs()
    if repairs and not (repair and not dry_run):
        console.print("[bold]repair with[/bold] (or run shop reconcile --repair):")
        for planned in repairs:
            console.print(shlex.join(["shop", *_target_flags(target), "replay", *planned.replay_arguments()]), soft_wrap=True)
    if repair and repairs:
        _replay(target, findings.deliveries(target), rate=rate, dry_run=dry_run)
        if not dry_run and not (findings.stuck or findings.unpublished):
            return
    raise typer.Exit(1)


def _print_findings(findings: reconcile_ops.Findings) -> None:
    if findings.stuck:
        table = Table("order", "status", "placed (UTC)", "for", title=f"{len(findings.stuck)} order(s) stuck")
        for order in findings.stuck:
            table.add_row(order.order_id, order.status, f"{order.created_at:%Y-%m-%d %H:%M:%S}", age(order.age))
        console.print(table)
    if findings.unpublished:
        table = Table(
            "producer",
            "event",
            "occurred (UTC)",
            "correlation id",
            title=f"{len(findings.unpublished)} outbox item(s) unpublished",
        )
        for item in findings.unpublished:
            table.add_row(
                item.producer, f"{item.event_type} {item.event_id}", f"{item.occurred_at:%Y-%m-%d %H:%M:%S}", item.correlation_id
            )
        console.print(table)
        console.print(
            "the sweeper publishes these (every 5 min); if they stay, read the service's relay_outbox/sweep_outbox logs"
        )
    if findings.missed:
        table = Table(
            "subscriber", "event", "occurred (UTC)", "correlation id", title=f"{len(findings.missed)} event(s) never handled"
        )
        for missed in findings.missed:
            event = missed.event
            table.add_row(
                missed.subscriber,
                f"{event.event_type} {event.event_id}",
                f"{event.occurred_at:%Y-%m-%d %H:%M:%S}",
                event.correlation_id,
            )
        console.print(table)


def main() -> None:
    app()
