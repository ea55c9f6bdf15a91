// `/`: every product on sale, with its kind and price.
import { formatMoney, t } from "../../lib/i18n";
import { ErrorNotice, Loading } from "../../lib/ui";
import { loadProducts, productTypeLabel } from "../catalog";
import { useLoad, useTitle } from "../hooks";

export function ProductList() {
  useTitle(t("store.products.title"));
  const products = useLoad(loadProducts, []);
  return (
    <section aria-labelledby="products-title">
      <h1 id="products-title">{t("store.products.title")}</h1>
      {products.error ? (
        <ErrorNotice error={products.error} />
      ) : !products.data ? (
        <Loading />
      ) : products.data.length === 0 ? (
        <p>{t("store.products.empty")}</p>
      ) : (
        <ul class="grid">
          {products.data.map((product) => (
            <li class="card product-card" key={product.sku}>
              <h2>
                <a href={`/products/${encodeURIComponent(product.sku)}`}>{product.name}</a>
              </h2>
              <p class="tag" data-testid="product-type">
                {productTypeLabel(product)}
              </p>
              <p class="price">{formatMoney(product.price)}</p>
              {product.availability === "sold_out" && <p class="error">{t("store.product.soldOut")}</p>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
