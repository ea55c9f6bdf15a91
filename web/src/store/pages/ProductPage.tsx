// `/products/:sku`: one product, a quantity, "Add to cart" and "Buy now".
import { useState } from "preact/hooks";
import { formatMoney, t } from "../../lib/i18n";
import { navigate } from "../../lib/router";
import { ErrorNotice, Loading } from "../../lib/ui";
import { addToCart, maxQuantity } from "../cart";
import { loadProduct, productTypeLabel } from "../catalog";
import { useLoad, useTitle } from "../hooks";

export function ProductPage(props: { sku: string }) {
  const product = useLoad(() => loadProduct(props.sku), [props.sku]);
  const [quantity, setQuantity] = useState(1);
  const [added, setAdded] = useState("");
  useTitle(product.data?.name ?? t("store.product.title"));
  if (product.error) return <Failed error={product.error} />;
  if (product.loading && !product.data) return <Loading />;
  const p = product.data;
  if (!p)
    return (
      <section>
        <h1>{t("store.product.notFound")}</h1>
        <p>
          <a href="/">{t("store.product.backToList")}</a>
        </p>
      </section>
    );
  const soldOut = p.availability === "sold_out";
  const max = maxQuantity(p);
  const add = () => {
    addToCart(p, quantity);
    setAdded(t("store.product.added", { name: p.name, quantity }));
  };
  return (
    <article aria-labelledby="product-title" class="product">
      <p>
        <a href="/">{t("store.product.backToList")}</a>
      </p>
      <h1 id="product-title">{p.name}</h1>
      <p class="tag" data-testid="product-type">
        {productTypeLabel(p)}
      </p>
      <p class="price" data-testid="product-price">
        {formatMoney(p.price)}
      </p>
      {p.product_type === "video_rental" && <p>{t("store.product.rentalHelp", { hours: p.access?.rental_hours ?? 48 })}</p>}
      {p.product_type === "video_purchase" && <p>{t("store.product.purchaseHelp")}</p>}
      {p.product_type === "live_ticket" && <p>{t("store.product.ticketHelp")}</p>}
      {soldOut ? (
        <p class="error">{t("store.product.soldOut")}</p>
      ) : (
        <form
          class="buy"
          onSubmit={(event) => {
            event.preventDefault();
            add();
          }}
        >
          {max > 1 && (
            <label>
              <span>{t("store.product.quantity")}</span>
              <input
                type="number"
                min={1}
                max={max}
                value={quantity}
                required
                onInput={(event) => setQuantity(Math.max(1, Math.min(max, Number((event.target as HTMLInputElement).value) || 1)))}
              />
            </label>
          )}
          <div class="actions">
            <button type="submit">{t("store.product.addToCart")}</button>
            <button
              type="button"
              class="secondary"
              onClick={() => {
                addToCart(p, quantity);
                navigate("/cart");
              }}
            >
              {t("store.product.buyNow")}
            </button>
          </div>
        </form>
      )}
      <p role="status" aria-live="polite" class="ok">
        {added && (
          <>
            {added} <a href="/cart">{t("store.product.goToCart")}</a>
          </>
        )}
      </p>
    </article>
  );
}

function Failed(props: { error: unknown }) {
  return (
    <section>
      <h1>{t("store.product.title")}</h1>
      <ErrorNotice error={props.error} />
    </section>
  );
}
