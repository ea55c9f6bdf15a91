// The picking list (fulfillment): shipments to pick and pack, oldest first. The warehouse marks each
// picked, then packed (saying how it leaves: the logistics service's API or the carrier's CSV).
import { useState } from "preact/hooks";
import { api } from "../../lib/api";
import { formatDateTime, t } from "../../lib/i18n";
import { Loading } from "../../lib/ui";
import { LiveStatus, Refusal, StateBadge, useLoad } from "../shared";

interface Shipment {
  shipment_id: string;
  order_id: string;
  lines: Array<{ sku: string; quantity: number }>;
  address: string;
  status: string;
  requested_at: string;
  picked_at: string | null;
  packed_at: string | null;
  handoff: string | null;
}

function statusLabel(status: string): string {
  return t(`console.shipmentStatus.${status}`);
}

export function PickingListPage() {
  const list = useLoad(() => api<{ shipments: Shipment[] }>("fulfillment", "/picking-list?limit=100"), []);
  // Rows stay as the last answer left them (a packed one leaves the list on the next refresh).
  const [changed, setChanged] = useState<Record<string, Shipment>>({});
  const [status, setStatus] = useState("");
  const [errors, setErrors] = useState<Record<string, unknown>>({});
  const [busy, setBusy] = useState<string | null>(null);

  async function step(shipment: Shipment, what: "picked" | "packed", handoff?: string) {
    setBusy(shipment.order_id);
    setErrors((current) => ({ ...current, [shipment.order_id]: null }));
    try {
      const answer = await api<Shipment>("fulfillment", `/orders/${encodeURIComponent(shipment.order_id)}/shipment/${what}`, {
        method: "POST",
        body: what === "packed" ? { handoff } : undefined,
      });
      setChanged((current) => ({ ...current, [answer.order_id]: answer }));
      setStatus(t(what === "picked" ? "console.picking.markedPicked" : "console.picking.markedPacked", { order: answer.order_id }));
    } catch (failure) {
      setErrors((current) => ({ ...current, [shipment.order_id]: failure }));
    } finally {
      setBusy(null);
    }
  }

  const shipments = (list.data?.shipments ?? []).map((s) => changed[s.order_id] ?? s);
  return (
    <section aria-labelledby="picking-title">
      <h1 id="picking-title">{t("console.picking.title")}</h1>
      <p class="hint">{t("console.picking.hint")}</p>
      <button
        type="button"
        class="secondary"
        onClick={() => {
          setChanged({});
          void list.reload();
        }}
      >
        {t("console.action.refresh")}
      </button>
      <LiveStatus testId="picking-status">{status}</LiveStatus>
      {list.error ? <Refusal error={list.error} /> : null}
      {!list.data ? (
        list.error ? null : <Loading />
      ) : shipments.length === 0 ? (
        <p>{t("console.picking.empty")}</p>
      ) : (
        <table>
          <caption class="visually-hidden">{t("console.picking.title")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("console.picking.order")}</th>
              <th scope="col">{t("console.picking.items")}</th>
              <th scope="col">{t("console.picking.address")}</th>
              <th scope="col">{t("console.picking.requested")}</th>
              <th scope="col">{t("console.picking.status")}</th>
              <th scope="col">{t("console.picking.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {shipments.map((shipment) => (
              <tr key={shipment.shipment_id} data-testid={`shipment-${shipment.order_id}`}>
                <td>
                  <code>{shipment.order_id}</code>
                </td>
                <td>
                  <ul>
                    {shipment.lines.map((line) => (
                      <li key={line.sku}>{t("console.picking.line", { sku: line.sku, quantity: line.quantity })}</li>
                    ))}
                  </ul>
                </td>
                <td>{shipment.address}</td>
                <td>{formatDateTime(shipment.requested_at)}</td>
                <td data-testid="shipment-status">
                  <StateBadge state={shipment.status} label={statusLabel(shipment.status)} />
                </td>
                <td>
                  {shipment.status === "REQUESTED" && (
                    <button
                      type="button"
                      disabled={busy === shipment.order_id}
                      aria-label={t("console.picking.pickFor", { order: shipment.order_id })}
                      onClick={() => void step(shipment, "picked")}
                    >
                      {t("console.picking.pick")}
                    </button>
                  )}
                  {shipment.status === "PICKED" && <PackForm shipment={shipment} busy={busy === shipment.order_id} onPack={(handoff) => void step(shipment, "packed", handoff)} />}
                  <Refusal error={errors[shipment.order_id]} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function PackForm(props: { shipment: Shipment; busy: boolean; onPack: (handoff: string) => void }) {
  const [handoff, setHandoff] = useState("logistics_service");
  const id = `handoff-${props.shipment.shipment_id}`;
  return (
    <div class="form-row">
      <label for={id}>
        {t("console.picking.handoff")}
        <select id={id} value={handoff} onChange={(e) => setHandoff((e.target as HTMLSelectElement).value)}>
          <option value="logistics_service">{t("console.picking.handoff.logistics_service")}</option>
          <option value="carrier_csv">{t("console.picking.handoff.carrier_csv")}</option>
        </select>
      </label>
      <button
        type="button"
        disabled={props.busy}
        aria-label={t("console.picking.packFor", { order: props.shipment.order_id })}
        onClick={() => props.onPack(handoff)}
      >
        {t("console.picking.pack")}
      </button>
    </div>
  );
}
