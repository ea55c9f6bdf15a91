// Orders and refunds (orders' staff API): look an order up by its id, read its statuses, lines and
// timeline, cancel it, and refund it fully or in part; the API's refusals are shown as it gives them.
import { useState } from "preact/hooks";
import { api } from "../../lib/api";
import { formatDateTime, formatMoney, type Money, t } from "../../lib/i18n";
import { navigate } from "../../lib/router";
import { Loading } from "../../lib/ui";
import { fromMinor, LiveStatus, newKey, Refusal, StateBadge, toMinor, useLoad } from "../shared";

interface Order {
  order_id: string;
  status: string;
  payment_status: string;
  fulfillment_status: string;
  customer_email: string;
  lines: Array<{ sku: string; name: string; kind: string; quantity: number; unit_price: number; delivery: { status: string } | null }>;
  total: Money;
  refunded: Money;
  shipping_address: string | null;
  cancellation: { reason?: string } | null;
  created_at: string;
  timeline: Array<{ event_id: string; event_type: string; occurred_at: string; summary: string }>;
}

export function OrderLookupPage() {
  function submit(event: Event) {
    event.preventDefault();
    const id = String(new FormData(event.currentTarget as HTMLFormElement).get("order_id") ?? "").trim();
    if (id) navigate(`/console/orders/${encodeURIComponent(id)}`);
  }
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">{t("console.orders.title")}</h1>
      <form onSubmit={submit} class="panel">
        <div class="form-row">
          <label>
            {t("console.orders.orderId")}
            <input name="order_id" required autoComplete="off" spellcheck={false} />
          </label>
          <button type="submit">{t("console.orders.find")}</button>
        </div>
      </form>
    </section>
  );
}

export function OrderPage(props: { orderId: string }) {
  const path = `/staff/orders/${encodeURIComponent(props.orderId)}`;
  const order = useLoad(() => api<Order>("orders", path), [props.orderId]);
  const [status, setStatus] = useState("");
  const data = order.data;
  return (
    <section aria-labelledby="order-title">
      <p>
        <a href="/console/orders">{t("console.orders.back")}</a>
      </p>
      <h1 id="order-title">{t("console.order.title", { id: props.orderId })}</h1>
      {order.error ? <Refusal error={order.error} /> : null}
      {!data ? (
        order.error ? null : <Loading />
      ) : (
        <>
          <dl class="facts">
            <dt>{t("console.order.status")}</dt>
            <dd data-testid="order-status">
              <StateBadge state={data.status} />
            </dd>
            <dt>{t("console.order.payment")}</dt>
            <dd data-testid="payment-status">{t(`console.paymentStatus.${data.payment_status}`)}</dd>
            <dt>{t("console.order.fulfillment")}</dt>
            <dd>{t(`console.fulfillmentStatus.${data.fulfillment_status}`)}</dd>
            <dt>{t("console.order.customer")}</dt>
            <dd>{data.customer_email}</dd>
            <dt>{t("console.order.placed")}</dt>
            <dd>{formatDateTime(data.created_at)}</dd>
            <dt>{t("console.order.total")}</dt>
            <dd>{formatMoney(data.total)}</dd>
            <dt>{t("console.order.refunded")}</dt>
            <dd data-testid="order-refunded">{formatMoney(data.refunded)}</dd>
            {data.shipping_address && (
              <>
                <dt>{t("console.order.address")}</dt>
                <dd>{data.shipping_address}</dd>
              </>
            )}
          </dl>
          <LiveStatus testId="order-live-status">{status}</LiveStatus>
          <section class="panel" aria-labelledby="lines-title">
            <h2 id="lines-title">{t("console.order.lines")}</h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t("console.product.sku")}</th>
                  <th scope="col">{t("console.product.name")}</th>
                  <th scope="col" class="number">
                    {t("console.order.quantity")}
                  </th>
                  <th scope="col" class="number">
                    {t("console.order.unitPrice")}
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.lines.map((line) => (
                  <tr key={line.sku}>
                    <td>{line.sku}</td>
                    <td>{line.name}</td>
                    <td class="number">{line.quantity}</td>
                    <td class="number">{formatMoney({ amount: line.unit_price, currency: data.total.currency })}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <RefundForm
            order={data}
            onRefunded={(refundedTotal) => {
              setStatus(t("console.refund.done", { total: formatMoney(refundedTotal) }));
              void order.reload();
            }}
          />
          <CancelForm
            order={data}
            onCancelled={(cancelled) => {
              order.setData(cancelled);
              setStatus(t("console.cancel.done"));
            }}
          />
          <section class="panel" aria-labelledby="timeline-title">
            <h2 id="timeline-title">{t("console.order.timeline")}</h2>
            <ol>
              {data.timeline.map((entry) => (
                <li key={entry.event_id}>
                  <time dateTime={entry.occurred_at}>{formatDateTime(entry.occurred_at)}</time> · <strong>{entry.event_type}</strong>: {entry.summary}
                </li>
              ))}
            </ol>
          </section>
        </>
      )}
    </section>
  );
}

function RefundForm(props: { order: Order; onRefunded: (refundedTotal: Money) => void }) {
  const currency = props.order.total.currency;
  const left = props.order.total.amount - props.order.refunded.amount;
  const digital = props.order.lines.filter((line) => line.kind === "digital");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // The same refund sent again (a lost answer, a double click) keeps its key: refunded once.
  const [key, setKey] = useState(newKey());
  const [sentBody, setSentBody] = useState("");

  async function submit(event: Event) {
    event.preventDefault();
    const formElement = event.currentTarget as HTMLFormElement;
    const form = new FormData(formElement);
    const amount = toMinor(String(form.get("amount") ?? ""), currency);
    if (amount === null) {
      setError(new Error(t("console.product.badPrice", { currency })));
      return;
    }
    const body = { amount, reason: String(form.get("reason") ?? "").trim(), skus: form.getAll("skus").map(String) };
    const serialized = JSON.stringify(body);
    const idempotencyKey = serialized === sentBody ? key : newKey();
    setKey(idempotencyKey);
    setSentBody(serialized);
    setBusy(true);
    setError(null);
    try {
      const refund = await api<{ refunded_total: Money }>("orders", `/staff/orders/${encodeURIComponent(props.order.order_id)}/refunds`, {
        method: "POST",
        body,
        idempotencyKey,
      });
      formElement.reset();
      setSentBody("");
      props.onRefunded(refund.refunded_total);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="refund-title">
      <h2 id="refund-title">{t("console.refund.title")}</h2>
      <p class="hint">{t("console.refund.left", { amount: formatMoney({ amount: Math.max(left, 0), currency }) })}</p>
      <form onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <label>
            {t("console.refund.amount", { currency })}
            <input name="amount" required inputMode="decimal" autoComplete="off" placeholder={fromMinor(Math.max(left, 0), currency)} />
          </label>
          <label>
            {t("console.refund.reason")}
            <input name="reason" required maxLength={500} autoComplete="off" />
          </label>
        </div>
        {digital.length > 0 && (
          <fieldset>
            <legend>{t("console.refund.revoke")}</legend>
            {digital.map((line) => (
              <label key={line.sku} class="checkbox">
                <span>
                  <input type="checkbox" name="skus" value={line.sku} /> {line.name} ({line.sku})
                </span>
              </label>
            ))}
          </fieldset>
        )}
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {t("console.refund.submit")}
          </button>
        </div>
        <Refusal error={error} />
      </form>
    </section>
  );
}

function CancelForm(props: { order: Order; onCancelled: (order: Order) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const reason = String(new FormData(event.currentTarget as HTMLFormElement).get("reason") ?? "").trim();
    setBusy(true);
    setError(null);
    try {
      props.onCancelled(
        await api<Order>("orders", `/staff/orders/${encodeURIComponent(props.order.order_id)}/cancel`, { method: "POST", body: { reason } }),
      );
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="cancel-title">
      <h2 id="cancel-title">{t("console.cancel.title")}</h2>
      <form onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <label>
            {t("console.cancel.reason")}
            <input name="reason" required maxLength={500} autoComplete="off" />
          </label>
          <button type="submit" class="danger" disabled={busy || props.order.status === "CANCELLED"}>
            {t("console.cancel.submit")}
          </button>
        </div>
        <Refusal error={error} />
      </form>
    </section>
  );
}
