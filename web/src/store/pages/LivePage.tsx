// `/live/:id`: a live show. While it is LIVE, POST /live-shows/{id}/playback gives the channel's playlist
// with a short-lived token, played with hls.js. The pinned product arrives through the push channel
// ({"action": "watch", "live_show_id"} → "pin" / "unpin", the highest sequence wins) without a reload;
// the show's own current_pin is what a late joiner starts from.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, ApiError } from "../../lib/api";
import { formatDateTime, formatMoney, type Money, t } from "../../lib/i18n";
import { subscribe } from "../../lib/push";
import { ErrorNotice, Loading, SignInRequired, useUser } from "../../lib/ui";
import { addToCart } from "../cart";
import { loadProduct, productsGiving } from "../catalog";
import { labelFor, useLoad, useTitle } from "../hooks";
import { HlsPlayer } from "../player";

interface LiveShow {
  live_show_id: string;
  title: string;
  description: string | null;
  starts_at: string;
  state: "SCHEDULED" | "LIVE" | "ENDED" | "RECORDED";
  current_pin: { sku: string; sequence: number; name?: string | null; price?: Money | null } | null;
  sequence: number;
  video_id: string | null;
}

interface Pinned {
  sku: string;
  name: string | null;
  price: Money | null;
}

const SHOW_POLL_MS = 5000;

export function LivePage(props: { id: string }) {
  useTitle(t("store.live.title"));
  const user = useUser();
  if (!user)
    return (
      <section>
        <h1>{t("store.live.title")}</h1>
        <SignInRequired />
      </section>
    );
  return <LiveShowView id={props.id} />;
}

function LiveShowView(props: { id: string }) {
  const [show, setShow] = useState<LiveShow | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [pin, setPin] = useState<Pinned | null>(null);
  const sequence = useRef(-1);

  const apply = (next: number, pinned: Pinned | null) => {
    if (next <= sequence.current) return; // a repeat or a late one: the newest change stays
    sequence.current = next;
    setPin(pinned);
  };

  // The show itself; polled while it has not started (its start is not on the push channel).
  useEffect(() => {
    let stopped = false;
    let timer: number | undefined;
    sequence.current = -1;
    setPin(null);
    const load = async () => {
      try {
        const fresh = await api<LiveShow>("vod", `/live-shows/${encodeURIComponent(props.id)}`);
        if (stopped) return;
        setShow(fresh);
        setError(null);
        const current = fresh.current_pin;
        apply(fresh.sequence, current ? { sku: current.sku, name: current.name ?? null, price: current.price ?? null } : null);
        if (fresh.state === "SCHEDULED") timer = window.setTimeout(() => void load(), SHOW_POLL_MS);
      } catch (failure) {
        if (!stopped) setError(failure);
      }
    };
    void load();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [props.id]);

  // Pins and unpins, pushed.
  useEffect(
    () =>
      subscribe(`live-show:${props.id}`, { action: "watch", live_show_id: props.id }, (message) => {
        if (message.live_show_id !== props.id || typeof message.sequence !== "number") return;
        if (message.type === "pin") {
          const product = (message.product ?? {}) as { sku?: string; name?: string | null; price?: Money | null };
          if (product.sku) apply(message.sequence, { sku: product.sku, name: product.name ?? null, price: product.price ?? null });
        } else if (message.type === "unpin") {
          apply(message.sequence, null);
        }
      }),
    [props.id],
  );

  if (error instanceof ApiError && error.status === 404)
    return (
      <section>
        <h1>{t("store.live.title")}</h1>
        <p class="error" role="alert" data-testid="refusal">
          {t("store.live.notFound")}
        </p>
      </section>
    );
  if (!show)
    return (
      <section>
        <h1>{t("store.live.title")}</h1>
        {error ? <ErrorNotice error={error} /> : <Loading />}
      </section>
    );
  return (
    <section aria-labelledby="live-title" class="watch">
      <h1 id="live-title">{show.title}</h1>
      <p role="status" aria-live="polite" data-testid="live-state">
        {labelFor("store.live.state", show.state)}
        {show.state === "SCHEDULED" ? ` · ${t("store.live.startsAt", { when: formatDateTime(show.starts_at) })}` : ""}
      </p>
      {show.description && <p>{show.description}</p>}
      <div class="stage">
        {show.state === "LIVE" ? <LivePlayer id={show.live_show_id} /> : <div class="player-placeholder" />}
        <aside class="shoppable" aria-labelledby="pinned-title">
          <h2 id="pinned-title">{t("store.live.pinnedTitle")}</h2>
          <div aria-live="polite" aria-atomic="true">
            {pin ? <PinnedProduct pin={pin} /> : <p class="muted">{t("store.live.nothingPinned")}</p>}
          </div>
        </aside>
      </div>
      {show.state === "RECORDED" && show.video_id && (
        <p>
          <a href={`/videos/${encodeURIComponent(show.video_id)}`}>{t("store.live.recording")}</a>
        </p>
      )}
    </section>
  );
}

function LivePlayer(props: { id: string }) {
  const playback = useLoad(
    () => api<{ playback_url: string }>("vod", `/live-shows/${encodeURIComponent(props.id)}/playback`, { body: {} }),
    [props.id],
  );
  const [fatal, setFatal] = useState("");
  if (playback.error) return <NoTicket id={props.id} error={playback.error} />;
  if (!playback.data) return <Loading />;
  return (
    <div>
      <HlsPlayer src={playback.data.playback_url} live label={t("store.live.player")} onFatal={setFatal} />
      {fatal && (
        <p class="error" role="alert">
          {t("store.video.playFailed")} ({fatal})
        </p>
      )}
    </div>
  );
}

function NoTicket(props: { id: string; error: unknown }) {
  const code = props.error instanceof ApiError ? props.error.code : "";
  const offers = useLoad(() => productsGiving({ liveShowId: props.id }).catch(() => []), [props.id]);
  if (!["not_entitled", "access_revoked", "not_live"].includes(code)) return <ErrorNotice error={props.error} />;
  return (
    <div class="notice">
      <p class="error" role="alert" data-testid="refusal">
        {t(`store.live.refused.${code}`)}
      </p>
      {code !== "not_live" &&
        (offers.data && offers.data.length > 0 ? (
          offers.data.map((offer) => (
            <a key={offer.sku} class="button" href={`/products/${encodeURIComponent(offer.sku)}`}>
              {t("store.live.buyTicket", { name: offer.name, price: formatMoney(offer.price) })}
            </a>
          ))
        ) : (
          <a href="/">{t("store.video.browse")}</a>
        ))}
    </div>
  );
}

function PinnedProduct(props: { pin: Pinned }) {
  const { pin } = props;
  const [state, setState] = useState<"" | "adding" | "added" | "failed">("");
  // vod names the product and its price when it has heard of it; else the catalog does.
  const details = useLoad(() => (pin.name && pin.price ? Promise.resolve(null) : loadProduct(pin.sku).catch(() => null)), [pin.sku]);
  const name = pin.name ?? details.data?.name ?? pin.sku;
  const price = pin.price ?? details.data?.price ?? null;
  useEffect(() => setState(""), [pin.sku]);
  return (
    <article class="card marker" data-testid="pinned-product" data-sku={pin.sku}>
      <h3>{name}</h3>
      {price && <p class="price">{formatMoney(price)}</p>}
      <button
        type="button"
        disabled={state === "adding"}
        aria-label={t("store.video.buyNamed", { name })}
        onClick={() => {
          setState("adding");
          loadProduct(pin.sku)
            .then((product) => {
              if (!product) throw new Error("not on sale");
              addToCart(product, 1);
              setState("added");
            })
            .catch(() => setState("failed"));
        }}
      >
        {t("store.video.buy")}
      </button>
      {state === "added" && (
        <p class="ok">
          {t("store.video.added")} <a href="/cart">{t("store.product.goToCart")}</a>
        </p>
      )}
      {state === "failed" && <p class="error">{t("store.live.notOnSale")}</p>}
    </article>
  );
}
