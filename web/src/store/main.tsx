// The storefront: what customers see at /.
import type { JSX } from "preact";
import { startApp } from "../lib/app";
import { t, useLocale } from "../lib/i18n";
import { match, usePath } from "../lib/router";
import { AppShell } from "../lib/ui";
import { useCart } from "./cart";
import { storeMessages } from "./messages";
import { CartPage } from "./pages/CartPage";
import { LivePage } from "./pages/LivePage";
import { OrderPage } from "./pages/OrderPage";
import { OrdersPage } from "./pages/OrdersPage";
import { ProductList } from "./pages/ProductList";
import { ProductPage } from "./pages/ProductPage";
import { VideoPage } from "./pages/VideoPage";
import { VideosPage } from "./pages/VideosPage";
import "./store.css";

const routes: Array<[string, (params: Record<string, string>) => JSX.Element]> = [
  ["/", () => <ProductList />],
  ["/products/:sku", (p) => <ProductPage key={p.sku} sku={p.sku} />],
  ["/cart", () => <CartPage />],
  ["/me/orders", () => <OrdersPage />],
  ["/me/orders/:id", (p) => <OrderPage key={p.id} id={p.id} />],
  ["/me/videos", () => <VideosPage />],
  ["/videos/:id", (p) => <VideoPage key={p.id} id={p.id} />],
  ["/live/:id", (p) => <LivePage key={p.id} id={p.id} />],
];

function NotFound() {
  return (
    <section>
      <h1>{t("common.notFound")}</h1>
      <p>
        <a href="/">{t("store.product.backToList")}</a>
      </p>
    </section>
  );
}

function Storefront() {
  useLocale();
  const path = usePath();
  const cart = useCart();
  const count = cart.reduce((sum, line) => sum + line.quantity, 0);
  let page = <NotFound />;
  for (const [pattern, view] of routes) {
    const params = match(pattern, path);
    if (params) {
      page = view(params);
      break;
    }
  }
  const nav = [
    { href: "/", label: t("store.nav.products") },
    { href: "/me/orders", label: t("store.nav.orders") },
    { href: "/me/videos", label: t("store.nav.videos") },
    { href: "/cart", label: count > 0 ? t("store.nav.cartCount", { count }) : t("store.nav.cart") },
  ];
  return (
    <AppShell basePath="/" brand={t("store.brand")} nav={nav} path={path}>
      {page}
    </AppShell>
  );
}

void startApp("/", storeMessages, Storefront);
