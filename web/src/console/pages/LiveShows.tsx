// Live shows (vod): the list, scheduling one (with its private channel), and a show's page: its state
// (polled: the channel's start and end arrive from IVS, not from staff), the streamer's ingest details,
// and pinning a product for the viewers (while LIVE; vod pushes it to every viewer's page).
import { useState } from "preact/hooks";
import { api } from "../../lib/api";
import { formatDateTime, formatMoney, type Money, t } from "../../lib/i18n";
import { navigate } from "../../lib/router";
import { Loading } from "../../lib/ui";
import { LiveStatus, Refusal, StateBadge, useLoad, usePolling } from "../shared";
import { allStaffProducts } from "./Products";

type ShowState = "SCHEDULED" | "LIVE" | "ENDED" | "RECORDED";

interface LiveShow {
  live_show_id: string;
  title: string;
  description: string | null;
  starts_at: string;
  state: ShowState;
  started_at: string | null;
  ended_at: string | null;
  current_pin: { pin_id: string; sku: string; sequence: number; pinned_at: string; name: string | null; price: Money | null } | null;
  sequence: number;
  video_id: string | null;
  channel: { arn: string; name: string; ingest_endpoint: string; stream_key: string; playback_url: string } | null;
}

function stateLabel(state: string): string {
  return t(`console.showState.${state}`);
}

export function LiveShowsPage() {
  const shows = useLoad(() => api<{ live_shows: LiveShow[] }>("vod", "/live-shows?limit=50"), []);
  return (
    <section aria-labelledby="live-title">
      <h1 id="live-title">{t("console.live.title")}</h1>
      <CreateShow />
      <section class="panel" aria-labelledby="show-list-title">
        <h2 id="show-list-title">{t("console.live.list")}</h2>
        <button type="button" class="secondary" onClick={() => void shows.reload()}>
          {t("console.action.refresh")}
        </button>
        {shows.error ? <Refusal error={shows.error} /> : null}
        {!shows.data ? (
          <Loading />
        ) : shows.data.live_shows.length === 0 ? (
          <p>{t("console.live.empty")}</p>
        ) : (
          <table>
            <caption class="visually-hidden">{t("console.live.list")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("console.show.titleField")}</th>
                <th scope="col">{t("console.show.startsAt")}</th>
                <th scope="col">{t("console.show.state")}</th>
              </tr>
            </thead>
            <tbody>
              {shows.data.live_shows.map((show) => (
                <tr key={show.live_show_id}>
                  <td>
                    <a href={`/console/live/${encodeURIComponent(show.live_show_id)}`}>{show.title}</a>
                  </td>
                  <td>{formatDateTime(show.starts_at)}</td>
                  <td>
                    <StateBadge state={show.state} label={stateLabel(show.state)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}

/** "2026-12-01T19:00" (a datetime-local, in the browser's zone) → ISO 8601 with the zone's offset. */
function withOffset(local: string): string {
  const date = new Date(local);
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const pad = (n: number) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${local.length === 16 ? `${local}:00` : local}${sign}${pad(offset / 60)}:${pad(offset % 60)}`;
}

function CreateShow() {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const description = String(form.get("description") ?? "").trim();
    setBusy(true);
    setError(null);
    try {
      const created = await api<LiveShow>("vod", "/live-shows", {
        method: "POST",
        body: { title: String(form.get("title") ?? "").trim(), starts_at: withOffset(String(form.get("starts_at"))), description: description || null },
      });
      navigate(`/console/live/${encodeURIComponent(created.live_show_id)}`);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="new-show-title">
      <h2 id="new-show-title">{t("console.live.new")}</h2>
      <form onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <label>
            {t("console.show.titleField")}
            <input name="title" required maxLength={200} autoComplete="off" />
          </label>
          <label>
            {t("console.show.startsAt")}
            <input name="starts_at" type="datetime-local" required />
          </label>
          <label>
            {t("console.show.description")}
            <input name="description" maxLength={2000} autoComplete="off" />
          </label>
        </div>
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {t("console.live.create")}
          </button>
        </div>
        <Refusal error={error} />
      </form>
    </section>
  );
}

export function LiveShowPage(props: { showId: string }) {
  const path = `/live-shows/${encodeURIComponent(props.showId)}`;
  const show = useLoad(() => api<LiveShow>("vod", path), [props.showId]);
  const products = useLoad(() => allStaffProducts("published"), []);
  const [sku, setSku] = useState("");
  const [status, setStatus] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [revealKey, setRevealKey] = useState(false);
  // Until it is recorded, its state changes by itself (the streamer starts and stops).
  usePolling(() => void show.reload(), 2000, !!show.data && show.data.state !== "RECORDED");

  async function pin(event: Event) {
    event.preventDefault();
    if (!sku) return;
    setBusy(true);
    setError(null);
    try {
      const changed = await api<LiveShow>("vod", `${path}/pin`, { method: "PUT", body: { sku } });
      show.setData(changed);
      setStatus(t("console.pin.pinned", { name: changed.current_pin?.name ?? sku }));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  async function unpin() {
    setBusy(true);
    setError(null);
    try {
      show.setData(await api<LiveShow>("vod", `${path}/pin`, { method: "DELETE" }));
      setStatus(t("console.pin.unpinned"));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  const data = show.data;
  const live = data?.state === "LIVE";
  return (
    <section aria-labelledby="show-title">
      <p>
        <a href="/console/live">{t("console.live.back")}</a>
      </p>
      <h1 id="show-title">{data ? t("console.show.title", { title: data.title }) : props.showId}</h1>
      {show.error && !data ? <Refusal error={show.error} /> : null}
      {!data ? (
        show.error ? null : <Loading />
      ) : (
        <>
          <p role="status" aria-live="polite" class="live-status">
            {t("console.show.stateIs")} <StateBadge state={data.state} label={stateLabel(data.state)} />
            <span data-testid="show-state" class="visually-hidden">
              {data.state}
            </span>
          </p>
          <dl class="facts">
            <dt>{t("console.show.startsAt")}</dt>
            <dd>{formatDateTime(data.starts_at)}</dd>
            {data.started_at && (
              <>
                <dt>{t("console.show.startedAt")}</dt>
                <dd>{formatDateTime(data.started_at)}</dd>
              </>
            )}
            {data.ended_at && (
              <>
                <dt>{t("console.show.endedAt")}</dt>
                <dd>{formatDateTime(data.ended_at)}</dd>
              </>
            )}
            {data.description && (
              <>
                <dt>{t("console.show.description")}</dt>
                <dd>{data.description}</dd>
              </>
            )}
            {data.video_id && (
              <>
                <dt>{t("console.show.recording")}</dt>
                <dd>
                  <a href={`/console/videos/${encodeURIComponent(data.video_id)}`}>{t("console.show.openRecording")}</a>
                </dd>
              </>
            )}
          </dl>

          <section class="panel" aria-labelledby="pin-title">
            <h2 id="pin-title">{t("console.pin.title")}</h2>
            <div class="pinned" data-testid="current-pin">
              {data.current_pin ? (
                <p>
                  {t("console.pin.current")} <strong>{data.current_pin.name ?? data.current_pin.sku}</strong> ({data.current_pin.sku})
                  {data.current_pin.price ? ` · ${formatMoney(data.current_pin.price)}` : ""}
                </p>
              ) : (
                <p>{t("console.pin.nothing")}</p>
              )}
            </div>
            {!live && <p class="hint">{t("console.pin.onlyLive")}</p>}
            <form onSubmit={(e) => void pin(e)}>
              <div class="form-row">
                <label>
                  {t("console.pin.product")}
                  <select value={sku} required onChange={(e) => setSku((e.target as HTMLSelectElement).value)}>
                    <option value="">{t("console.markers.chooseProduct")}</option>
                    {(products.data ?? []).map((p) => (
                      <option key={p.sku} value={p.sku}>
                        {p.name} ({p.sku})
                      </option>
                    ))}
                  </select>
                </label>
                <button type="submit" disabled={busy || !sku}>
                  {t("console.pin.pin")}
                </button>
                <button type="button" class="secondary" disabled={busy || !data.current_pin} onClick={() => void unpin()}>
                  {t("console.pin.unpin")}
                </button>
              </div>
            </form>
            <LiveStatus testId="pin-status">{status}</LiveStatus>
            <Refusal error={error} />
            {products.error ? <Refusal error={products.error} /> : null}
          </section>

          {data.channel && (
            <section class="panel" aria-labelledby="ingest-title">
              <h2 id="ingest-title">{t("console.ingest.title")}</h2>
              <p class="hint">{t("console.ingest.hint")}</p>
              <dl class="facts">
                <dt>{t("console.ingest.server")}</dt>
                <dd>
                  <code data-testid="ingest-server">{`rtmps://${data.channel.ingest_endpoint}:443/app/`}</code>
                </dd>
                <dt>{t("console.ingest.streamKey")}</dt>
                <dd>
                  <code>{revealKey ? data.channel.stream_key : "••••••••••••"}</code>{" "}
                  <button type="button" class="secondary" onClick={() => setRevealKey(!revealKey)}>
                    {revealKey ? t("console.ingest.hideKey") : t("console.ingest.showKey")}
                  </button>
                </dd>
                <dt>{t("console.ingest.channel")}</dt>
                <dd>
                  <code>{data.channel.arn}</code>
                </dd>
                <dt>{t("console.ingest.playback")}</dt>
                <dd>
                  <code>{data.channel.playback_url}</code>
                </dd>
              </dl>
            </section>
          )}
        </>
      )}
    </section>
  );
}
