"""The operator's command `shop`: replay from the producers' outbox logs, DLQ tooling, reconciliation,
status and trace, against the embedded stack or an AWS stage (docs/reliability.md).

Each command is a function that takes a `Target` and returns data (the fault-injection tests call them
directly); `shop_ops.cli` is the thin typer layer that prints it. Nothing here ships in a Lambda package.
"""
