// The staff console at /console/. Staff (group `staff`) see every page; the warehouse (group
// `warehouse`) sees the picking list alone, as fulfillment's API admits it (SHIPMENT_READERS) and the
// other APIs do not. The APIs check the same groups: this only spares other visitors a page of refusals.
import type { JSX } from "preact";
import { inGroup, isStaff, type SignedInUser } from "../lib/auth";
import { startApp } from "../lib/app";
import { t, useLocale } from "../lib/i18n";
import { match, usePath } from "../lib/router";
import { AppShell, type NavItem, SignInRequired, useUser } from "../lib/ui";
import "./console.css";
import { consoleMessages } from "./messages";
import { LiveShowPage, LiveShowsPage } from "./pages/LiveShows";
import { OperationsPage } from "./pages/Operations";
import { OrderLookupPage, OrderPage } from "./pages/Orders";
import { PickingListPage } from "./pages/Picking";
import { ProductPage, ProductsPage } from "./pages/Products";
import { VideoPage, VideosPage } from "./pages/Videos";

type Role = "staff" | "warehouse";
type Route = { pattern: string; roles: Role[]; view: (params: Record<string, string>) => JSX.Element };

const BOTH: Role[] = ["staff", "warehouse"];
const STAFF: Role[] = ["staff"];

function Overview(props: { role: Role }) {
  const pages = navFor(props.role).filter((item) => item.href !== "/console/");
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">{t("console.home.title")}</h1>
      <p>{props.role === "staff" ? t("console.home.hello") : t("console.home.warehouse")}</p>
      <ul class="task-list">
        {pages.map((item) => (
          <li key={item.href}>
            <a href={item.href}>{item.label}</a>
          </li>
        ))}
      </ul>
    </section>
  );
}

const routes: Route[] = [
  { pattern: "/console/", roles: BOTH, view: () => <></> }, // replaced by the overview below
  { pattern: "/console/products", roles: STAFF, view: () => <ProductsPage /> },
  { pattern: "/console/products/:sku", roles: STAFF, view: (p) => <ProductPage sku={p.sku} /> },
  { pattern: "/console/videos", roles: STAFF, view: () => <VideosPage /> },
  { pattern: "/console/videos/:id", roles: STAFF, view: (p) => <VideoPage videoId={p.id} /> },
  { pattern: "/console/live", roles: STAFF, view: () => <LiveShowsPage /> },
  { pattern: "/console/live/:id", roles: STAFF, view: (p) => <LiveShowPage showId={p.id} /> },
  { pattern: "/console/picking", roles: BOTH, view: () => <PickingListPage /> },
  { pattern: "/console/orders", roles: STAFF, view: () => <OrderLookupPage /> },
  { pattern: "/console/orders/:id", roles: STAFF, view: (p) => <OrderPage orderId={p.id} /> },
  { pattern: "/console/operations", roles: STAFF, view: () => <OperationsPage /> },
];

function roleOf(user: SignedInUser | null): Role | null {
  if (isStaff(user)) return "staff";
  if (inGroup(user, "warehouse")) return "warehouse";
  return null;
}

function navFor(role: Role | null): NavItem[] {
  const all: Array<NavItem & { roles: Role[] }> = [
    { href: "/console/", label: t("console.nav.home"), roles: BOTH },
    { href: "/console/products", label: t("console.nav.products"), roles: STAFF },
    { href: "/console/videos", label: t("console.nav.videos"), roles: STAFF },
    { href: "/console/live", label: t("console.nav.live"), roles: STAFF },
    { href: "/console/picking", label: t("console.nav.picking"), roles: BOTH },
    { href: "/console/orders", label: t("console.nav.orders"), roles: STAFF },
    { href: "/console/operations", label: t("console.nav.operations"), roles: STAFF },
  ];
  return all.filter((item) => role && item.roles.includes(role)).map(({ href, label }) => ({ href, label }));
}

/** Signed in, but in neither group: say so, and where such a person belongs. */
function NotForYou() {
  return (
    <section aria-labelledby="denied-title" class="notice">
      <h1 id="denied-title">{t("console.denied.title")}</h1>
      <SignInRequired staff />
      <p>{t("console.denied.groups")}</p>
      <p>
        <a href="/" target="_self">
          {t("console.denied.storefront")}
        </a>
      </p>
    </section>
  );
}

/** The warehouse on a staff page. */
function StaffOnly() {
  return (
    <section aria-labelledby="staff-only-title" class="notice">
      <h1 id="staff-only-title">{t("console.staffOnly.title")}</h1>
      <p>{t("console.staffOnly.text")}</p>
      <p>
        <a href="/console/picking">{t("console.nav.picking")}</a>
      </p>
    </section>
  );
}

function SignedOut() {
  return (
    <section aria-labelledby="signed-out-title">
      <h1 id="signed-out-title">{t("console.brand")}</h1>
      <SignInRequired staff />
    </section>
  );
}

function Console() {
  useLocale();
  const path = usePath();
  const user = useUser();
  const role = roleOf(user);
  const here = path === "/console" ? "/console/" : path.replace(/(.)\/$/, "$1");
  let page = (
    <section>
      <h1>{t("common.notFound")}</h1>
    </section>
  );
  if (!user) page = <SignedOut />;
  else if (!role) page = <NotForYou />;
  else
    for (const route of routes) {
      const params = match(route.pattern, here);
      if (!params) continue;
      if (!route.roles.includes(role)) page = <StaffOnly />;
      else page = route.pattern === "/console/" ? <Overview role={role} /> : route.view(params);
      break;
    }
  const nav = navFor(role);
  const current = nav.filter((item) => item.href !== "/console/").find((item) => here.startsWith(item.href));
  return (
    <AppShell basePath="/console/" brand={t("console.brand")} nav={nav} path={current?.href ?? (match("/console/", here) ? "/console/" : here)}>
      {page}
    </AppShell>
  );
}

void startApp("/console/", consoleMessages, Console);
