// `/videos/:id`: the player. POST /videos/{id}/playback sets the signed cookies (through the same-origin
// proxy; host cookies reach the media edge) and answers the master playlist and the shoppable markers;
// each marker's product shows while the video is within its [start, end], with a Buy button.
import { useState } from "preact/hooks";
import { api, ApiError } from "../../lib/api";
import { formatMoney, type Money, t } from "../../lib/i18n";
import { ErrorNotice, Loading, SignInRequired, useUser } from "../../lib/ui";
import { addToCart } from "../cart";
import { productsGiving } from "../catalog";
import { clock, labelFor, useLoad, useTitle } from "../hooks";
import { HlsPlayer } from "../player";

export interface Marker {
  marker_id: string;
  sku: string;
  start_s: number;
  end_s: number;
  product: { name: string; product_type: string; price: Money; retired: boolean } | null;
  stock: { on_hand: number | null; availability: string };
  purchasable: boolean;
}

interface Playback {
  master_url: string;
  expires_at: string;
  markers: Marker[];
}

export function VideoPage(props: { id: string }) {
  useTitle(t("store.video.title"));
  const user = useUser();
  if (!user)
    return (
      <section>
        <h1>{t("store.video.title")}</h1>
        <SignInRequired />
      </section>
    );
  return <Watch id={props.id} />;
}

function Watch(props: { id: string }) {
  const playback = useLoad(
    () => api<Playback>("vod", `/videos/${encodeURIComponent(props.id)}/playback`, { body: {} }),
    [props.id],
  );
  const [now, setNow] = useState(0);
  const [fatal, setFatal] = useState("");
  if (playback.error) return <Refused id={props.id} error={playback.error} />;
  if (!playback.data)
    return (
      <section>
        <h1>{t("store.video.title")}</h1>
        <Loading />
      </section>
    );
  const { master_url, markers } = playback.data;
  const showing = markers.filter((marker) => now >= marker.start_s && now <= marker.end_s);
  return (
    <section aria-labelledby="video-title" class="watch">
      <h1 id="video-title">{t("store.video.title")}</h1>
      <div class="stage">
        <HlsPlayer src={master_url} withCredentials label={t("store.video.player")} onTime={setNow} onFatal={setFatal} />
        <aside class="shoppable" aria-labelledby="shop-now-title">
          <h2 id="shop-now-title">{t("store.video.inThisScene")}</h2>
          <div aria-live="polite" data-testid="shoppable-now">
            {showing.length === 0 ? (
              <p class="muted">{markers.length ? t("store.video.nothingNow") : t("store.video.noProducts")}</p>
            ) : (
              <ul class="plain">
                {showing.map((marker) => (
                  <MarkerCard key={marker.marker_id} marker={marker} />
                ))}
              </ul>
            )}
          </div>
        </aside>
      </div>
      {fatal && (
        <p class="error" role="alert">
          {t("store.video.playFailed")} ({fatal})
        </p>
      )}
      {markers.length > 0 && (
        <>
          <h2>{t("store.video.allProducts")}</h2>
          <ul class="plain markers">
            {markers.map((marker) => (
              <li key={marker.marker_id}>
                {clock(marker.start_s)}–{clock(marker.end_s)} {marker.product?.name ?? marker.sku}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function MarkerCard(props: { marker: Marker }) {
  const { marker } = props;
  const [added, setAdded] = useState(false);
  const product = marker.product;
  const name = product?.name ?? marker.sku;
  return (
    <li class="card marker" data-testid="marker-product">
      <h3>{name}</h3>
      {product && <p class="price">{formatMoney(product.price)}</p>}
      <p class="tag">{labelFor("store.stock", marker.stock.availability)}</p>
      {marker.purchasable && product ? (
        <button
          type="button"
          aria-label={t("store.video.buyNamed", { name })}
          onClick={() => {
            addToCart({ sku: marker.sku, name, kind: product.product_type === "physical_good" ? "physical" : "digital", price: product.price }, 1);
            setAdded(true);
          }}
        >
          {t("store.video.buy")}
        </button>
      ) : (
        <p class="muted">{t("store.video.notForSale")}</p>
      )}
      {added && (
        <p class="ok">
          {t("store.video.added")} <a href="/cart">{t("store.product.goToCart")}</a>
        </p>
      )}
    </li>
  );
}

/** 403 not_entitled / rental_expired / access_revoked, 409 not_ready, 404: what happened, and where to buy. */
function Refused(props: { id: string; error: unknown }) {
  const code = props.error instanceof ApiError ? props.error.code : "";
  const known = ["not_entitled", "rental_expired", "access_revoked", "not_ready", "not_found"].includes(code);
  const offers = useLoad(() => productsGiving({ videoId: props.id }).catch(() => []), [props.id]);
  return (
    <section aria-labelledby="video-title">
      <h1 id="video-title">{t("store.video.title")}</h1>
      {known ? (
        <p class="error" role="alert" data-testid="refusal">
          {t(`store.video.refused.${code}`)}
        </p>
      ) : (
        <ErrorNotice error={props.error} />
      )}
      {code !== "not_ready" && code !== "not_found" && (
        <p>
          {offers.data && offers.data.length > 0 ? (
            offers.data.map((offer) => (
              <a key={offer.sku} class="button" href={`/products/${encodeURIComponent(offer.sku)}`}>
                {t("store.video.buyAccess", { name: offer.name, price: formatMoney(offer.price) })}
              </a>
            ))
          ) : (
            <a href="/">{t("store.video.browse")}</a>
          )}
        </p>
      )}
    </section>
  );
}
