// Videos (vod's staff API): the list, an upload straight to the media bucket with a progress bar (a
// presigned PUT through XMLHttpRequest, whose upload events say how far it is; big files in parts),
// and a video's page: its transcode state (polled until READY or FAILED), renditions, and the
// timeline markers editor (If-Match on the markers' version; a stale version is refused and said so).
import { useState } from "preact/hooks";
import { api, ApiError, apiResponse } from "../../lib/api";
import { formatDateTime, t } from "../../lib/i18n";
import { Loading } from "../../lib/ui";
import { LiveStatus, Refusal, StateBadge, useLoad, usePolling } from "../shared";
import { allStaffProducts } from "./Products";

type VideoState = "CREATED" | "UPLOADED" | "TRANSCODING" | "READY" | "FAILED";

interface Rendition {
  name: string;
  width: number;
  height: number;
}

export interface Video {
  video_id: string;
  title: string;
  state: VideoState;
  attempt: number;
  size_bytes: number | null;
  error: { code: string; message: string; attempt: number } | null;
  outputs: { renditions: Rendition[]; duration_ms: number | null; master_playlist_key: string } | null;
  created_at: string;
  updated_at: string;
}

interface Marker {
  marker_id?: string;
  sku: string;
  start_s: number;
  end_s: number;
  source?: "staff" | "live_pin";
}

const ACCEPTED_TYPES = ["video/mp4", "video/quicktime", "video/x-matroska", "video/webm"];
// Bigger files go up in parts (S3's parts are at least 5 MiB; vod presigns 64 per call).
const MULTIPART_THRESHOLD = 64 * 1024 * 1024;
const PART_SIZE = 16 * 1024 * 1024;

function stateLabel(state: string): string {
  return t(`console.videoState.${state}`);
}

export function VideosPage() {
  const videos = useLoad(() => api<{ videos: Video[] }>("vod", "/videos?limit=50"), []);
  return (
    <section aria-labelledby="videos-title">
      <h1 id="videos-title">{t("console.videos.title")}</h1>
      <UploadVideo onUploaded={() => void videos.reload()} />
      <section class="panel" aria-labelledby="video-list-title">
        <h2 id="video-list-title">{t("console.videos.list")}</h2>
        <button type="button" class="secondary" onClick={() => void videos.reload()}>
          {t("console.action.refresh")}
        </button>
        {videos.error ? <Refusal error={videos.error} /> : null}
        {!videos.data ? (
          <Loading />
        ) : videos.data.videos.length === 0 ? (
          <p>{t("console.videos.empty")}</p>
        ) : (
          <table>
            <caption class="visually-hidden">{t("console.videos.list")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("console.video.titleField")}</th>
                <th scope="col">{t("console.video.state")}</th>
                <th scope="col">{t("console.video.created")}</th>
              </tr>
            </thead>
            <tbody>
              {videos.data.videos.map((video) => (
                <tr key={video.video_id}>
                  <td>
                    <a href={`/console/videos/${encodeURIComponent(video.video_id)}`}>{video.title}</a>
                  </td>
                  <td>
                    <StateBadge state={video.state} label={stateLabel(video.state)} />
                  </td>
                  <td>{formatDateTime(video.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}

/** PUT a body to a presigned URL, reporting the bytes sent; resolves with the answer's ETag. */
function putWithProgress(url: string, body: Blob, contentType: string | null, onProgress: (sent: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    if (contentType) request.setRequestHeader("Content-Type", contentType);
    request.upload.onprogress = (event) => onProgress(event.loaded);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(body.size);
        resolve(request.getResponseHeader("ETag") ?? "");
      } else reject(new Error(t("console.upload.storageRefused", { status: request.status })));
    };
    request.onerror = () => reject(new Error(t("console.upload.storageUnreachable")));
    request.send(body);
  });
}

async function uploadInParts(videoId: string, file: File, onProgress: (sent: number) => void): Promise<unknown> {
  const { upload_id } = await api<{ upload_id: string }>("vod", `/videos/${encodeURIComponent(videoId)}/multipart`, { method: "POST", body: {} });
  const count = Math.ceil(file.size / PART_SIZE);
  const parts: Array<{ part_number: number; etag: string }> = [];
  let done = 0;
  for (let first = 1; first <= count; first += 64) {
    const numbers = Array.from({ length: Math.min(64, count - first + 1) }, (_, i) => first + i);
    const presigned = await api<{ parts: Array<{ part_number: number; url: string }> }>(
      "vod",
      `/videos/${encodeURIComponent(videoId)}/multipart/parts`,
      { method: "POST", body: { upload_id, part_numbers: numbers } },
    );
    for (const part of presigned.parts) {
      const start = (part.part_number - 1) * PART_SIZE;
      const etag = await putWithProgress(part.url, file.slice(start, start + PART_SIZE), null, (sent) => onProgress(done + sent));
      done += Math.min(PART_SIZE, file.size - start);
      parts.push({ part_number: part.part_number, etag });
    }
  }
  return { upload_id, parts };
}

function UploadVideo(props: { onUploaded: () => void }) {
  const [file, setFile] = useState<File | null>(null);
  const [sent, setSent] = useState<number | null>(null);
  const [phase, setPhase] = useState<"idle" | "creating" | "uploading" | "completing" | "done">("idle");
  const [uploaded, setUploaded] = useState<Video | null>(null);
  const [error, setError] = useState<unknown>(null);
  const percent = file && sent !== null ? Math.min(100, Math.floor((sent / Math.max(file.size, 1)) * 100)) : 0;

  async function submit(event: Event) {
    event.preventDefault();
    if (!file) return;
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const title = String(form.get("title") ?? "").trim();
    const notify = String(form.get("notify_email") ?? "").trim();
    const contentType = ACCEPTED_TYPES.includes(file.type) ? file.type : "application/octet-stream";
    setError(null);
    setUploaded(null);
    setSent(0);
    try {
      setPhase("creating");
      const created = await api<Video & { upload_url: string }>("vod", "/videos", {
        method: "POST",
        body: { title, content_type: contentType, notify_email: notify || null },
      });
      setPhase("uploading");
      let multipart: unknown = null;
      if (file.size > MULTIPART_THRESHOLD) multipart = await uploadInParts(created.video_id, file, setSent);
      else await putWithProgress(created.upload_url, file, contentType, setSent);
      setPhase("completing");
      const completed = await api<Video>("vod", `/videos/${encodeURIComponent(created.video_id)}/upload/complete`, {
        method: "POST",
        body: multipart ? { multipart } : {},
      });
      setUploaded(completed);
      setPhase("done");
      props.onUploaded();
    } catch (failure) {
      setError(failure);
      setPhase("idle");
    }
  }

  const busy = phase !== "idle" && phase !== "done";
  return (
    <section class="panel" aria-labelledby="upload-title">
      <h2 id="upload-title">{t("console.upload.title")}</h2>
      <form onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <label>
            {t("console.video.titleField")}
            <input name="title" required maxLength={200} autoComplete="off" />
          </label>
          <label>
            {t("console.upload.file")}
            <input
              name="file"
              type="file"
              required
              accept="video/*,.mkv,.mov"
              onChange={(e) => {
                setFile((e.target as HTMLInputElement).files?.[0] ?? null);
                setSent(null);
                setPhase("idle");
              }}
            />
          </label>
          <label>
            {t("console.upload.notifyEmail")}
            <input name="notify_email" type="email" autoComplete="email" />
          </label>
        </div>
        <div class="form-actions">
          <button type="submit" disabled={busy || !file}>
            {t("console.upload.start")}
          </button>
        </div>
      </form>
      {sent !== null && (
        <>
          <p id="upload-progress-label">{t("console.upload.progressLabel", { name: file?.name ?? "" })}</p>
          <div
            class="progress"
            role="progressbar"
            aria-labelledby="upload-progress-label"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={percent}
            aria-valuetext={`${percent} %`}
          >
            <div class="progress-bar" style={{ width: `${percent}%` }} />
          </div>
          <p data-testid="upload-percent">{percent} %</p>
        </>
      )}
      <LiveStatus testId="upload-status">
        {phase === "creating" && t("console.upload.creating")}
        {phase === "uploading" && t("console.upload.uploading")}
        {phase === "completing" && t("console.upload.completing")}
        {phase === "done" && uploaded && t("console.upload.done", { title: uploaded.title })}
      </LiveStatus>
      {phase === "done" && uploaded && (
        <p>
          <a href={`/console/videos/${encodeURIComponent(uploaded.video_id)}`}>{t("console.upload.open", { title: uploaded.title })}</a>
        </p>
      )}
      <Refusal error={error} />
    </section>
  );
}

export function VideoPage(props: { videoId: string }) {
  const path = `/videos/${encodeURIComponent(props.videoId)}`;
  const video = useLoad(() => api<Video>("vod", path), [props.videoId]);
  const settled = video.data?.state === "READY" || video.data?.state === "FAILED";
  usePolling(() => void video.reload(), 2000, !!video.data && !settled);
  const [retryError, setRetryError] = useState<unknown>(null);

  async function retry() {
    setRetryError(null);
    try {
      video.setData(await api<Video>("vod", `${path}/retry`, { method: "POST", body: {} }));
    } catch (failure) {
      setRetryError(failure);
    }
  }

  const data = video.data;
  return (
    <section aria-labelledby="video-title">
      <p>
        <a href="/console/videos">{t("console.videos.back")}</a>
      </p>
      <h1 id="video-title">{data ? t("console.video.title", { title: data.title }) : props.videoId}</h1>
      {video.error && !data ? <Refusal error={video.error} /> : null}
      {!data ? (
        video.error ? null : <Loading />
      ) : (
        <>
          <p role="status" aria-live="polite" class="live-status">
            {t("console.video.stateIs")} <StateBadge state={data.state} label={stateLabel(data.state)} />{" "}
            <span data-testid="video-state" class="visually-hidden">
              {data.state}
            </span>
          </p>
          <dl class="facts">
            <dt>{t("console.video.id")}</dt>
            <dd>
              <code>{data.video_id}</code>
            </dd>
            <dt>{t("console.video.attempt")}</dt>
            <dd>{data.attempt}</dd>
            {data.size_bytes !== null && (
              <>
                <dt>{t("console.video.size")}</dt>
                <dd>{t("console.video.bytes", { bytes: data.size_bytes.toLocaleString() })}</dd>
              </>
            )}
            {data.outputs?.duration_ms != null && (
              <>
                <dt>{t("console.video.duration")}</dt>
                <dd data-testid="video-duration">{t("console.video.seconds", { seconds: (data.outputs.duration_ms / 1000).toFixed(1) })}</dd>
              </>
            )}
            <dt>{t("console.video.updated")}</dt>
            <dd>{formatDateTime(data.updated_at)}</dd>
          </dl>
          {data.error && (
            <div class="error" role="alert">
              <p>{t("console.video.failed", { code: data.error.code, message: data.error.message })}</p>
              <button type="button" onClick={() => void retry()}>
                {t("console.video.retry")}
              </button>
            </div>
          )}
          <Refusal error={retryError} />
          {data.outputs && data.outputs.renditions.length > 0 && (
            <section class="panel" aria-labelledby="renditions-title">
              <h2 id="renditions-title">{t("console.video.renditions")}</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("console.video.rendition")}</th>
                    <th scope="col" class="number">
                      {t("console.video.width")}
                    </th>
                    <th scope="col" class="number">
                      {t("console.video.height")}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.outputs.renditions.map((r) => (
                    <tr key={r.name}>
                      <td>{r.name}</td>
                      <td class="number">{r.width}</td>
                      <td class="number">{r.height}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          )}
          <MarkersEditor videoId={props.videoId} durationS={data.outputs?.duration_ms != null ? data.outputs.duration_ms / 1000 : null} />
        </>
      )}
    </section>
  );
}

interface EditableMarker {
  key: number;
  sku: string;
  start: string;
  end: string;
}

let nextRowKey = 1;

function MarkersEditor(props: { videoId: string; durationS: number | null }) {
  const path = `/videos/${encodeURIComponent(props.videoId)}/markers`;
  const [rows, setRows] = useState<EditableMarker[]>([]);
  const [pins, setPins] = useState<Marker[]>([]);
  const [etag, setEtag] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  const products = useLoad(() => allStaffProducts(), []);
  const loaded = useLoad(async () => {
    const answer = await apiResponse<{ version: number; markers: Marker[] }>("vod", path);
    apply(answer.data.markers, answer.headers.get("ETag") ?? `"${answer.data.version}"`);
    return answer.data;
  }, [path]);

  function apply(markers: Marker[], version: string) {
    setRows(
      markers
        .filter((m) => m.source !== "live_pin")
        .map((m) => ({ key: nextRowKey++, sku: m.sku, start: String(m.start_s), end: String(m.end_s) })),
    );
    setPins(markers.filter((m) => m.source === "live_pin"));
    setEtag(version);
  }

  function change(key: number, field: "sku" | "start" | "end", value: string) {
    setRows((current) => current.map((row) => (row.key === key ? { ...row, [field]: value } : row)));
  }

  async function save(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setStatus("");
    try {
      const body = { markers: rows.map((row) => ({ sku: row.sku, start_s: Number(row.start), end_s: Number(row.end) })) };
      const answer = await apiResponse<{ version: number; markers: Marker[] }>("vod", path, {
        method: "PUT",
        body,
        ifMatch: etag ?? '"0"',
      });
      apply(answer.data.markers, answer.headers.get("ETag") ?? `"${answer.data.version}"`);
      setStatus(t("console.markers.saved", { count: body.markers.length }));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  const stale = error instanceof ApiError && (error.status === 412 || error.code === "stale_markers");
  const productOptions = products.data ?? [];
  return (
    <section class="panel" aria-labelledby="markers-title">
      <h2 id="markers-title">{t("console.markers.title")}</h2>
      <p class="hint">
        {props.durationS !== null ? t("console.markers.hintDuration", { seconds: props.durationS.toFixed(1) }) : t("console.markers.hint")}
      </p>
      {loaded.error ? <Refusal error={loaded.error} /> : null}
      {!loaded.data && !loaded.error ? <Loading /> : null}
      {pins.length > 0 && (
        <>
          <h3>{t("console.markers.pins")}</h3>
          <ul>
            {pins.map((pin) => (
              <li key={pin.marker_id}>{t("console.markers.pinLine", { sku: pin.sku, start: pin.start_s, end: pin.end_s })}</li>
            ))}
          </ul>
        </>
      )}
      <form onSubmit={(e) => void save(e)}>
        {rows.length === 0 ? <p>{t("console.markers.none")}</p> : null}
        {rows.map((row, index) => (
          <fieldset key={row.key} data-testid="marker-row">
            <legend>{t("console.markers.marker", { n: index + 1 })}</legend>
            <div class="form-row">
              <label>
                {t("console.markers.product")}
                <select value={row.sku} required onChange={(e) => change(row.key, "sku", (e.target as HTMLSelectElement).value)}>
                  <option value="">{t("console.markers.chooseProduct")}</option>
                  {!productOptions.some((p) => p.sku === row.sku) && row.sku && <option value={row.sku}>{row.sku}</option>}
                  {productOptions.map((p) => (
                    <option key={p.sku} value={p.sku}>
                      {p.name} ({p.sku})
                    </option>
                  ))}
                </select>
              </label>
              <label>
                {t("console.markers.start")}
                <input type="number" min={0} step={0.001} required value={row.start} onInput={(e) => change(row.key, "start", (e.target as HTMLInputElement).value)} />
              </label>
              <label>
                {t("console.markers.end")}
                <input type="number" min={0} step={0.001} required value={row.end} onInput={(e) => change(row.key, "end", (e.target as HTMLInputElement).value)} />
              </label>
              <button type="button" class="secondary" onClick={() => setRows((current) => current.filter((r) => r.key !== row.key))}>
                {t("console.markers.remove", { n: index + 1 })}
              </button>
            </div>
          </fieldset>
        ))}
        <div class="form-actions">
          <button
            type="button"
            class="secondary"
            onClick={() => setRows((current) => [...current, { key: nextRowKey++, sku: "", start: "0", end: String(Math.min(5, props.durationS ?? 5)) }])}
          >
            {t("console.markers.add")}
          </button>
          <button type="submit" disabled={busy || etag === null}>
            {t("console.markers.save")}
          </button>
        </div>
      </form>
      <LiveStatus testId="markers-status">{status}</LiveStatus>
      {stale ? (
        <div class="error" role="alert" data-testid="markers-conflict">
          <p>{t("console.markers.stale")}</p>
          <button type="button" class="secondary" onClick={() => void loaded.reload().then(() => setError(null))}>
            {t("console.markers.reload")}
          </button>
        </div>
      ) : (
        <Refusal error={error} />
      )}
    </section>
  );
}
