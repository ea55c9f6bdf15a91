// `/cart`: the cart and the checkout form. Placing the order goes through checkout.ts (one key per
// checkout, kept until the order is confirmed); a checkout left pending by a reload finishes by itself.
import { useEffect, useRef, useState } from "preact/hooks";
import { formatMoney, getLocale, t } from "../../lib/i18n";
import { navigate } from "../../lib/router";
import { ErrorNotice, SignInRequired, useUser } from "../../lib/ui";
import { cartTotals, clearCart, type CartLine, maxQuantity, removeFromCart, setQuantity, useCart } from "../cart";
import { productTypeLabel } from "../catalog";
import { type Address, checkoutFor, pendingCheckout, placeOrder, type PlaceOrderRequest } from "../checkout";
import { useTitle } from "../hooks";

const TEST_CARDS = [
  { token: "tok_visa", label: "store.checkout.card.visa" },
  { token: "tok_chargeDeclined", label: "store.checkout.card.declined" },
];
const COUNTRIES = ["JP", "US", "GB", "DE", "FR"];

export function CartPage() {
  useTitle(t("store.cart.title"));
  const lines = useCart();
  const user = useUser();
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const resumed = useRef(false);

  const submit = async (body: PlaceOrderRequest) => {
    setSubmitting(true);
    setError(null);
    try {
      const orderId = await placeOrder(checkoutFor(body));
      clearCart();
      navigate(`/me/orders/${encodeURIComponent(orderId)}`);
    } catch (failure) {
      setError(failure);
      setSubmitting(false);
    }
  };

  // A reload during (or just after) a submit: send the very same request again, with the same key.
  useEffect(() => {
    const pending = pendingCheckout();
    if (!user || !pending || resumed.current) return;
    resumed.current = true;
    void submit(pending.body);
  }, [user]);

  const resuming = submitting && lines.length === 0;
  return (
    <section aria-labelledby="cart-title">
      <h1 id="cart-title">{t("store.cart.title")}</h1>
      <p role="status" aria-live="polite" class="ok">
        {submitting ? t("store.checkout.placing") : ""}
      </p>
      {error ? <ErrorNotice error={error} /> : null}
      {lines.length === 0 ? (
        !resuming && (
          <p>
            {t("store.cart.empty")} <a href="/">{t("store.cart.browse")}</a>
          </p>
        )
      ) : (
        <>
          <CartTable lines={lines} disabled={submitting} />
          {user ? (
            <CheckoutForm lines={lines} email={user.email ?? ""} submitting={submitting} onSubmit={(body) => void submit(body)} />
          ) : (
            <>
              <h2>{t("store.checkout.title")}</h2>
              <SignInRequired />
            </>
          )}
        </>
      )}
    </section>
  );
}

function CartTable(props: { lines: CartLine[]; disabled: boolean }) {
  return (
    <table class="cart">
      <caption class="visually-hidden">{t("store.cart.caption")}</caption>
      <thead>
        <tr>
          <th scope="col">{t("store.cart.product")}</th>
          <th scope="col">{t("store.cart.unitPrice")}</th>
          <th scope="col">{t("store.cart.quantity")}</th>
          <th scope="col">{t("store.cart.subtotal")}</th>
          <th scope="col">
            <span class="visually-hidden">{t("store.cart.actions")}</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {props.lines.map((line) => (
          <tr key={line.sku}>
            <th scope="row">
              <a href={`/products/${encodeURIComponent(line.sku)}`}>{line.name}</a>
              <div class="tag">{productTypeLabel(line)}</div>
            </th>
            <td>{formatMoney(line.price)}</td>
            <td>
              {maxQuantity(line) > 1 ? (
                <input
                  type="number"
                  min={1}
                  max={maxQuantity(line)}
                  value={line.quantity}
                  disabled={props.disabled}
                  aria-label={t("store.cart.quantityOf", { name: line.name })}
                  onChange={(event) => setQuantity(line.sku, Number((event.target as HTMLInputElement).value) || 1)}
                />
              ) : (
                line.quantity
              )}
            </td>
            <td>{formatMoney({ amount: line.price.amount * line.quantity, currency: line.price.currency })}</td>
            <td>
              <button
                type="button"
                class="secondary"
                disabled={props.disabled}
                aria-label={t("store.cart.removeNamed", { name: line.name })}
                onClick={() => removeFromCart(line.sku)}
              >
                {t("store.cart.remove")}
              </button>
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row" colSpan={3}>
            {t("store.cart.total")}
          </th>
          <td data-testid="cart-total" colSpan={2}>
            {cartTotals(props.lines).map(formatMoney).join(" + ")}
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

function CheckoutForm(props: { lines: CartLine[]; email: string; submitting: boolean; onSubmit: (body: PlaceOrderRequest) => void }) {
  const [email, setEmail] = useState(props.email);
  const [card, setCard] = useState("tok_visa");
  const [address, setAddress] = useState<Address>({ recipient: "", line1: "", line2: "", city: "", region: "", postal_code: "", country: "JP", phone: "" });
  const physical = props.lines.some((line) => line.kind === "physical");
  const field = (name: keyof Address, label: string, options: { required?: boolean; autocomplete?: string; type?: string } = {}) => (
    <label>
      <span>
        {label}
        {options.required ? ` ${t("store.checkout.required")}` : ""}
      </span>
      <input
        name={name}
        type={options.type ?? "text"}
        value={address[name] ?? ""}
        required={options.required}
        autocomplete={options.autocomplete}
        onInput={(event) => setAddress({ ...address, [name]: (event.target as HTMLInputElement).value })}
      />
    </label>
  );
  return (
    <form
      class="checkout"
      aria-labelledby="checkout-title"
      onSubmit={(event) => {
        event.preventDefault();
        if (props.submitting) return;
        const body: PlaceOrderRequest = {
          customer_email: email.trim(),
          payment_token: card,
          lines: props.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
          locale: getLocale(),
        };
        if (physical) {
          const cleaned = Object.fromEntries(
            Object.entries(address).map(([key, value]) => [key, typeof value === "string" && value.trim() ? value.trim() : null]),
          ) as unknown as Address;
          body.shipping_address = cleaned;
        }
        props.onSubmit(body);
      }}
    >
      <h2 id="checkout-title">{t("store.checkout.title")}</h2>
      <label>
        <span>
          {t("store.checkout.email")} {t("store.checkout.required")}
        </span>
        <input type="email" name="email" autocomplete="email" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
      </label>
      {physical && (
        <fieldset>
          <legend>{t("store.checkout.address")}</legend>
          {field("recipient", t("store.checkout.recipient"), { required: true, autocomplete: "name" })}
          {field("line1", t("store.checkout.line1"), { required: true, autocomplete: "address-line1" })}
          {field("line2", t("store.checkout.line2"), { autocomplete: "address-line2" })}
          {field("city", t("store.checkout.city"), { autocomplete: "address-level2" })}
          {field("region", t("store.checkout.region"), { required: true, autocomplete: "address-level1" })}
          {field("postal_code", t("store.checkout.postalCode"), { required: true, autocomplete: "postal-code" })}
          <label>
            <span>{t("store.checkout.country")}</span>
            <select name="country" value={address.country ?? "JP"} onChange={(e) => setAddress({ ...address, country: (e.target as HTMLSelectElement).value })}>
              {COUNTRIES.map((code) => (
                <option key={code} value={code}>
                  {t(`store.country.${code}`)}
                </option>
              ))}
            </select>
          </label>
          {field("phone", t("store.checkout.phone"), { required: true, autocomplete: "tel", type: "tel" })}
          <p class="muted">{t("store.checkout.addressHelp")}</p>
        </fieldset>
      )}
      <label>
        <span>{t("store.checkout.card")}</span>
        <select name="card" value={card} onChange={(e) => setCard((e.target as HTMLSelectElement).value)}>
          {TEST_CARDS.map((option) => (
            <option key={option.token} value={option.token}>
              {t(option.label)}
            </option>
          ))}
        </select>
      </label>
      <p class="actions">
        <button type="submit" disabled={props.submitting} aria-disabled={props.submitting}>
          {props.submitting ? t("store.checkout.placing") : t("store.checkout.place")}
        </button>
      </p>
    </form>
  );
}
