// The storefront: what customers see at /.
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api";
import { startApp } from "../lib/app";
import { formatMoney, type Money, t, useLocale } from "../lib/i18n";
import { match, usePath } from "../lib/router";
import { AppShell, ErrorNotice, Loading } from "../lib/ui";
import { storeMessages } from "./messages";

interface ProductSummary {
  sku: string;
  name: string;
  kind: string;
  price: Money;
}

function ProductList() {
  const [products, setProducts] = useState<ProductSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<{ products: ProductSummary[] }>("orders", "/products")
      .then((body) => setProducts(body.products))
      .catch(setError);
  }, []);
  if (error) return <ErrorNotice error={error} />;
  if (!products) return <Loading />;
  return (
    <section aria-labelledby="products-title">
      <h1 id="products-title">{t("store.products.title")}</h1>
      {products.length === 0 ? (
        <p>{t("store.products.empty")}</p>
      ) : (
        <ul class="grid">
          {products.map((product) => (
            <li class="card" key={product.sku}>
              <h2>
                <a href={`/products/${encodeURIComponent(product.sku)}`}>{product.name}</a>
              </h2>
              <p>{formatMoney(product.price)}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

const routes: Array<[string, (params: Record<string, string>) => preact.JSX.Element]> = [["/", () => <ProductList />]];

function Storefront() {
  useLocale();
  const path = usePath();
  let page = <p>{t("common.notFound")}</p>;
  for (const [pattern, view] of routes) {
    const params = match(pattern, path);
    if (params) {
      page = view(params);
      break;
    }
  }
  return (
    <AppShell basePath="/" brand={t("store.brand")} nav={[{ href: "/", label: t("store.nav.products") }]} path={path}>
      {page}
    </AppShell>
  );
}

void startApp("/", storeMessages, Storefront);
