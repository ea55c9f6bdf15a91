// `/me/orders/:id`: one order, its status timeline and the cancel button. The status follows the push
// channel without a reload (an "order-status" message for this order → refetch, keeping the highest
// status_version); while the channel does not cover orders, the page polls until a final status.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../../lib/api";
import { formatDateTime, formatMoney, t } from "../../lib/i18n";
import { ErrorNotice, Loading, SignInRequired, useUser } from "../../lib/ui";
import { labelFor, useTitle } from "../hooks";
import { cancellable, FINAL_STATUSES, getOrder, type Order, POLL_MS, useOrderPush } from "../orders";

export function OrderPage(props: { id: string }) {
  const user = useUser();
  useTitle(t("store.order.title"));
  if (!user)
    return (
      <section>
        <h1>{t("store.order.title")}</h1>
        <SignInRequired />
      </section>
    );
  return <OrderView id={props.id} />;
}

function OrderView(props: { id: string }) {
  const [order, setOrder] = useState<Order | null>(null);
  const [error, setError] = useState<unknown>(null);
  const shown = useRef<Order | null>(null);

  const refresh = useCallback(async () => {
    try {
      const fresh = await getOrder(props.id);
      const current = shown.current;
      // Answers may cross: never go back to an older status version than the one shown.
      if (current && (current.status_version ?? 0) > (fresh.status_version ?? 0)) return;
      shown.current = fresh;
      setOrder(fresh);
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }, [props.id]);

  useEffect(() => {
    shown.current = null;
    setOrder(null);
    setError(null);
    void refresh();
  }, [refresh]);

  const pushed = useOrderPush((orderId, version) => {
    if (orderId !== props.id) return;
    if (version !== null && (shown.current?.status_version ?? -1) >= version) return;
    void refresh();
  });

  const final = order ? FINAL_STATUSES.has(order.status) : false;
  const notFound = error instanceof ApiError && (error.status === 404 || error.status === 403);
  useEffect(() => {
    if (pushed || final || notFound) return;
    const timer = window.setInterval(() => void refresh(), POLL_MS);
    return () => window.clearInterval(timer);
  }, [pushed, final, notFound, refresh]);

  if (notFound)
    return (
      <section>
        <h1>{t("store.order.title")}</h1>
        <p class="error" role="alert" data-testid="refusal">
          {t("store.order.notFound")}
        </p>
        <p>
          <a href="/me/orders">{t("store.order.toList")}</a>
        </p>
      </section>
    );
  if (!order)
    return (
      <section>
        <h1>{t("store.order.title")}</h1>
        {error ? <ErrorNotice error={error} /> : <Loading />}
      </section>
    );
  return (
    <article aria-labelledby="order-title" class="order">
      <p>
        <a href="/me/orders">{t("store.order.toList")}</a>
      </p>
      <h1 id="order-title">{t("store.order.heading", { id: order.order_id })}</h1>
      <p role="status" aria-live="polite" aria-atomic="true" class="order-status">
        {t("store.order.status")}{" "}
        <strong data-testid="order-status" data-status={order.status}>
          {labelFor("store.status", order.status)}
        </strong>
      </p>
      {error ? <ErrorNotice error={error} /> : null}
      <dl class="facts">
        <dt>{t("store.order.placed")}</dt>
        <dd>{formatDateTime(order.created_at)}</dd>
        <dt>{t("store.order.payment")}</dt>
        <dd>{labelFor("store.payment", order.payment_status)}</dd>
        <dt>{t("store.order.fulfillment")}</dt>
        <dd>{labelFor("store.fulfillment", order.fulfillment_status)}</dd>
        <dt>{t("store.order.total")}</dt>
        <dd>{formatMoney(order.total)}</dd>
        {order.refunded.amount > 0 && (
          <>
            <dt>{t("store.order.refunded")}</dt>
            <dd>{formatMoney(order.refunded)}</dd>
          </>
        )}
        {order.shipping_address && (
          <>
            <dt>{t("store.order.shipTo")}</dt>
            <dd>{order.shipping_address}</dd>
          </>
        )}
        {order.tracking?.tracking_number && (
          <>
            <dt>{t("store.order.tracking")}</dt>
            <dd>
              {order.tracking.tracking_url ? (
                <a href={order.tracking.tracking_url} rel="noopener noreferrer" target="_blank">
                  {order.tracking.carrier} {order.tracking.tracking_number}
                </a>
              ) : (
                `${order.tracking.carrier ?? ""} ${order.tracking.tracking_number}`
              )}
            </dd>
          </>
        )}
        {order.cancellation && (
          <>
            <dt>{t("store.order.cancelled")}</dt>
            <dd>{order.cancellation.reason}</dd>
          </>
        )}
      </dl>

      <h2>{t("store.order.items")}</h2>
      <ul class="lines">
        {order.lines.map((line) => (
          <li key={line.sku}>
            <span>
              {line.name} × {line.quantity} — {formatMoney({ amount: line.unit_price * line.quantity, currency: order.total.currency })}
            </span>
            {line.delivery && (
              <span class="tag">
                {" "}
                {labelFor("store.delivery", line.delivery.status)}
                {line.delivery.expires_at ? ` · ${t("store.videos.until", { when: formatDateTime(line.delivery.expires_at) })}` : ""}
              </span>
            )}
            {line.access?.video_id && line.delivery?.status === "delivered" && (
              <>
                {" "}
                <a href={`/videos/${encodeURIComponent(line.access.video_id)}`}>{t("store.videos.watch")}</a>
              </>
            )}
            {line.access?.live_show_id && line.delivery?.status === "delivered" && (
              <>
                {" "}
                <a href={`/live/${encodeURIComponent(line.access.live_show_id)}`}>{t("store.videos.watchLive")}</a>
              </>
            )}
          </li>
        ))}
      </ul>

      <h2 id="timeline-title">{t("store.order.timeline")}</h2>
      <ol class="timeline" aria-labelledby="timeline-title" data-testid="timeline">
        {order.timeline.map((entry) => (
          <li key={entry.event_id}>
            <time dateTime={entry.occurred_at}>{formatDateTime(entry.occurred_at)}</time>{" "}
            <strong>{labelFor("store.event", entry.event_type)}</strong>
            <span class="summary"> — {entry.summary}</span>
          </li>
        ))}
      </ol>

      {cancellable(order) && <CancelForm order={order} onDone={() => void refresh()} />}
    </article>
  );
}

function CancelForm(props: { order: Order; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<unknown>(null);
  return (
    <form
      class="cancel"
      aria-labelledby="cancel-title"
      onSubmit={(event) => {
        event.preventDefault();
        if (busy) return;
        setBusy(true);
        setRefusal(null);
        api("orders", `/orders/${encodeURIComponent(props.order.order_id)}/cancel`, {
          body: { reason: reason.trim() || t("store.order.cancelDefaultReason") },
        })
          .then(props.onDone, setRefusal)
          .finally(() => setBusy(false));
      }}
    >
      <h2 id="cancel-title">{t("store.order.cancelTitle")}</h2>
      <label>
        <span>{t("store.order.cancelReason")}</span>
        <input type="text" maxLength={500} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
      </label>
      <p class="actions">
        <button type="submit" class="danger" disabled={busy}>
          {t("store.order.cancel")}
        </button>
      </p>
      {refusal ? <ErrorNotice error={refusal} /> : null}
    </form>
  );
}
