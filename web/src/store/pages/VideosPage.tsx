// `/me/videos`: what the customer bought access to (vod's entitlements), with a rental's end and a Watch link.
import { api } from "../../lib/api";
import { formatDateTime, t } from "../../lib/i18n";
import { ErrorNotice, Loading, SignInRequired, useUser } from "../../lib/ui";
import { loadProducts, type Product, productTypeLabel } from "../catalog";
import { labelFor, useLoad, useTitle } from "../hooks";

interface Entitlement {
  entitlement_id: string;
  order_id: string;
  sku: string;
  product_type: "video_rental" | "video_purchase" | "live_ticket";
  video_id: string | null;
  live_show_id: string | null;
  granted_at: string;
  expires_at: string | null;
  status: string;
  active: boolean;
}

export function VideosPage() {
  useTitle(t("store.videos.title"));
  const user = useUser();
  return (
    <section aria-labelledby="videos-title">
      <h1 id="videos-title">{t("store.videos.title")}</h1>
      {user ? <EntitlementList /> : <SignInRequired />}
    </section>
  );
}

async function loadEntitlements(): Promise<{ entitlements: Entitlement[]; names: Map<string, Product> }> {
  const [mine, products] = await Promise.all([
    api<{ entitlements: Entitlement[] }>("vod", "/me/videos"),
    loadProducts().catch(() => [] as Product[]),
  ]);
  return { entitlements: mine.entitlements, names: new Map(products.map((p) => [p.sku, p])) };
}

function EntitlementList() {
  const loaded = useLoad(loadEntitlements, []);
  if (loaded.error) return <ErrorNotice error={loaded.error} />;
  if (!loaded.data) return <Loading />;
  const { entitlements, names } = loaded.data;
  if (entitlements.length === 0)
    return (
      <p>
        {t("store.videos.empty")} <a href="/">{t("store.cart.browse")}</a>
      </p>
    );
  return (
    <ul class="grid">
      {entitlements.map((entitlement) => {
        const product = names.get(entitlement.sku);
        const name = product?.name ?? entitlement.sku;
        const href = entitlement.video_id
          ? `/videos/${encodeURIComponent(entitlement.video_id)}`
          : entitlement.live_show_id
            ? `/live/${encodeURIComponent(entitlement.live_show_id)}`
            : null;
        return (
          <li class="card" key={entitlement.entitlement_id} data-testid="entitlement">
            <h2>{name}</h2>
            <p class="tag">{productTypeLabel({ kind: "digital", product_type: entitlement.product_type, access: product?.access })}</p>
            <p>
              {entitlement.expires_at
                ? entitlement.active
                  ? t("store.videos.until", { when: formatDateTime(entitlement.expires_at) })
                  : t("store.videos.ended", { when: formatDateTime(entitlement.expires_at) })
                : entitlement.product_type === "video_purchase"
                  ? t("store.videos.forever")
                  : ""}
            </p>
            {!entitlement.active && <p class="error">{labelFor("store.entitlement", entitlement.status === "ACTIVE" ? "EXPIRED" : entitlement.status)}</p>}
            {entitlement.active && href && (
              <a class="button" href={href} aria-label={t("store.videos.watchNamed", { name })}>
                {entitlement.live_show_id ? t("store.videos.watchLive") : t("store.videos.watch")}
              </a>
            )}
          </li>
        );
      })}
    </ul>
  );
}
