// Products and stock (catalog's staff API): the list, a new product (a draft until published), and a
// product's page with its edit form (If-Match on the revision), publish/retire and stock adjustments.
import { useState } from "preact/hooks";
import { api } from "../../lib/api";
import { formatMoney, type Money, t } from "../../lib/i18n";
import { navigate } from "../../lib/router";
import { Loading } from "../../lib/ui";
import { CURRENCIES, fromMinor, LiveStatus, newKey, Refusal, StateBadge, toMinor, useLoad } from "../shared";

export type ProductType = "physical_good" | "video_rental" | "video_purchase" | "live_ticket";
const PRODUCT_TYPES: ProductType[] = ["physical_good", "video_rental", "video_purchase", "live_ticket"];
const REASONS = ["received", "counted", "damaged", "returned", "capacity_changed", "correction"];

export interface StaffProduct {
  sku: string;
  name: string;
  kind: "physical" | "digital";
  product_type: ProductType;
  status: "draft" | "published" | "retired";
  price: Money;
  access: { video_id: string | null; live_show_id: string | null; rental_hours: number | null } | null;
  stock: number | null;
  availability: string | null;
  revision: number;
}

/** Every product in any status (pages of 100 followed to the end): the console's lists are short. */
export async function allStaffProducts(status?: string): Promise<StaffProduct[]> {
  const products: StaffProduct[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    if (status) query.set("status", status);
    const page: { products: StaffProduct[]; next_cursor: string | null } = await api("catalog", `/staff/products?${query}`);
    products.push(...page.products);
    cursor = page.next_cursor;
  } while (cursor);
  return products;
}

function typeLabel(type: string): string {
  return t(`console.productType.${type}`);
}

export function ProductsPage() {
  const products = useLoad(() => allStaffProducts(), []);
  return (
    <section aria-labelledby="products-title">
      <h1 id="products-title">{t("console.products.title")}</h1>
      <CreateProduct />
      <section class="panel" aria-labelledby="product-list-title">
        <h2 id="product-list-title">{t("console.products.list")}</h2>
        <button type="button" class="secondary" onClick={() => void products.reload()}>
          {t("console.action.refresh")}
        </button>
        {products.error ? <Refusal error={products.error} /> : null}
        {!products.data ? (
          <Loading />
        ) : products.data.length === 0 ? (
          <p>{t("console.products.empty")}</p>
        ) : (
          <table>
            <caption class="visually-hidden">{t("console.products.list")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("console.product.sku")}</th>
                <th scope="col">{t("console.product.name")}</th>
                <th scope="col">{t("console.product.type")}</th>
                <th scope="col">{t("console.product.status")}</th>
                <th scope="col" class="number">
                  {t("console.product.price")}
                </th>
                <th scope="col" class="number">
                  {t("console.product.stock")}
                </th>
              </tr>
            </thead>
            <tbody>
              {products.data.map((product) => (
                <tr key={product.sku}>
                  <td>
                    <a href={`/console/products/${encodeURIComponent(product.sku)}`}>{product.sku}</a>
                  </td>
                  <td>{product.name}</td>
                  <td>{typeLabel(product.product_type)}</td>
                  <td>
                    <StateBadge state={product.status} label={t(`console.productStatus.${product.status}`)} />
                  </td>
                  <td class="number">{formatMoney(product.price)}</td>
                  <td class="number">{product.stock ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </section>
  );
}

function CreateProduct() {
  const [type, setType] = useState<ProductType>("physical_good");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const hasStock = type === "physical_good" || type === "live_ticket";
  const isVideo = type === "video_rental" || type === "video_purchase";

  async function submit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const value = (name: string) => String(form.get(name) ?? "").trim();
    const currency = value("currency");
    const amount = toMinor(value("price"), currency);
    if (amount === null) {
      setError(new Error(t("console.product.badPrice", { currency })));
      return;
    }
    const body: Record<string, unknown> = {
      sku: value("sku"),
      name: value("name"),
      product_type: type,
      price: { amount, currency },
    };
    if (hasStock && value("stock") !== "") body.stock = Number(value("stock"));
    if (isVideo) body.access = { video_id: value("video_id") || null, rental_hours: type === "video_rental" ? Number(value("rental_hours")) || null : null };
    if (type === "live_ticket") body.access = { live_show_id: value("live_show_id") || null };
    setBusy(true);
    setError(null);
    try {
      const created = await api<StaffProduct>("catalog", "/staff/products", { method: "POST", body });
      navigate(`/console/products/${encodeURIComponent(created.sku)}`);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="new-product-title">
      <h2 id="new-product-title">{t("console.products.new")}</h2>
      <p class="hint">{t("console.products.newHint")}</p>
      <form onSubmit={(e) => void submit(e)} aria-describedby="new-product-error">
        <div class="form-row">
          <label>
            {t("console.product.sku")}
            <input name="sku" required maxLength={64} autoComplete="off" />
          </label>
          <label>
            {t("console.product.name")}
            <input name="name" required maxLength={200} autoComplete="off" />
          </label>
          <label>
            {t("console.product.type")}
            <select name="product_type" value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value as ProductType)}>
              {PRODUCT_TYPES.map((option) => (
                <option key={option} value={option}>
                  {typeLabel(option)}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="form-row">
          <label>
            {t("console.product.price")}
            <input name="price" required inputMode="decimal" autoComplete="off" />
          </label>
          <label>
            {t("console.product.currency")}
            <select name="currency">
              {CURRENCIES.map((code) => (
                <option key={code} value={code}>
                  {code}
                </option>
              ))}
            </select>
          </label>
          {hasStock && (
            <label>
              {type === "live_ticket" ? t("console.product.seats") : t("console.product.initialStock")}
              <input name="stock" type="number" min={0} step={1} />
            </label>
          )}
          {isVideo && (
            <label>
              {t("console.product.videoId")}
              <input name="video_id" required autoComplete="off" />
            </label>
          )}
          {type === "video_rental" && (
            <label>
              {t("console.product.rentalHours")}
              <input name="rental_hours" type="number" min={1} max={8784} step={1} required />
            </label>
          )}
          {type === "live_ticket" && (
            <label>
              {t("console.product.liveShowId")}
              <input name="live_show_id" required autoComplete="off" />
            </label>
          )}
        </div>
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {t("console.products.create")}
          </button>
        </div>
        <Refusal error={error} id="new-product-error" />
      </form>
    </section>
  );
}

export function ProductPage(props: { sku: string }) {
  const product = useLoad(() => api<StaffProduct>("catalog", `/staff/products/${encodeURIComponent(props.sku)}`), [props.sku]);
  const [status, setStatus] = useState("");
  const [error, setError] = useState<unknown>(null);

  async function lifecycle(step: "publish" | "retire") {
    if (!product.data) return;
    setError(null);
    try {
      const changed = await api<StaffProduct>("catalog", `/staff/products/${encodeURIComponent(props.sku)}/${step}`, {
        method: "POST",
        ifMatch: `"${product.data.revision}"`,
      });
      product.setData(changed);
      setStatus(t(step === "publish" ? "console.product.published" : "console.product.retired"));
    } catch (failure) {
      setError(failure);
    }
  }

  return (
    <section aria-labelledby="product-title">
      <p>
        <a href="/console/products">{t("console.products.back")}</a>
      </p>
      <h1 id="product-title">{product.data ? t("console.product.title", { name: product.data.name }) : props.sku}</h1>
      {product.error ? <Refusal error={product.error} /> : null}
      {!product.data ? (
        product.error ? null : <Loading />
      ) : (
        <>
          <dl class="facts">
            <dt>{t("console.product.sku")}</dt>
            <dd>{product.data.sku}</dd>
            <dt>{t("console.product.type")}</dt>
            <dd>{typeLabel(product.data.product_type)}</dd>
            <dt>{t("console.product.status")}</dt>
            <dd data-testid="product-status">
              <StateBadge state={product.data.status} label={t(`console.productStatus.${product.data.status}`)} />
            </dd>
            <dt>{t("console.product.price")}</dt>
            <dd>{formatMoney(product.data.price)}</dd>
            {product.data.stock !== null && (
              <>
                <dt>{t("console.product.stock")}</dt>
                <dd data-testid="product-stock">{product.data.stock}</dd>
              </>
            )}
            {product.data.access?.video_id && (
              <>
                <dt>{t("console.product.videoId")}</dt>
                <dd>
                  <a href={`/console/videos/${encodeURIComponent(product.data.access.video_id)}`}>{product.data.access.video_id}</a>
                </dd>
              </>
            )}
            {product.data.access?.live_show_id && (
              <>
                <dt>{t("console.product.liveShowId")}</dt>
                <dd>
                  <a href={`/console/live/${encodeURIComponent(product.data.access.live_show_id)}`}>{product.data.access.live_show_id}</a>
                </dd>
              </>
            )}
            <dt>{t("console.product.revision")}</dt>
            <dd>{product.data.revision}</dd>
          </dl>
          <div class="form-actions">
            {product.data.status !== "published" && (
              <button type="button" onClick={() => void lifecycle("publish")}>
                {t("console.product.publish")}
              </button>
            )}
            {product.data.status === "published" && (
              <button type="button" class="danger" onClick={() => void lifecycle("retire")}>
                {t("console.product.retire")}
              </button>
            )}
          </div>
          <LiveStatus testId="product-live-status">{status}</LiveStatus>
          <Refusal error={error} />
          <EditProduct
            product={product.data}
            onSaved={(saved) => {
              product.setData(saved);
              setStatus(t("console.product.saved"));
            }}
            onStale={() => void product.reload()}
          />
          {product.data.stock !== null && (
            <AdjustStock
              product={product.data}
              onAdjusted={(onHand) => {
                product.setData({ ...product.data!, stock: onHand });
                setStatus(t("console.stock.adjusted", { onHand }));
              }}
            />
          )}
        </>
      )}
    </section>
  );
}

function EditProduct(props: { product: StaffProduct; onSaved: (product: StaffProduct) => void; onStale: () => void }) {
  const product = props.product;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const isVideo = product.product_type === "video_rental" || product.product_type === "video_purchase";

  async function submit(event: Event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const value = (name: string) => String(form.get(name) ?? "").trim();
    const currency = value("currency");
    const amount = toMinor(value("price"), currency);
    if (amount === null) {
      setError(new Error(t("console.product.badPrice", { currency })));
      return;
    }
    const body: Record<string, unknown> = { name: value("name"), price: { amount, currency } };
    if (product.product_type === "video_rental") {
      body.access = { video_id: product.access?.video_id ?? null, rental_hours: Number(value("rental_hours")) || null };
    } else if (isVideo) {
      body.access = { video_id: value("video_id") || null };
    }
    setBusy(true);
    setError(null);
    try {
      props.onSaved(
        await api<StaffProduct>("catalog", `/staff/products/${encodeURIComponent(product.sku)}`, {
          method: "PATCH",
          body,
          ifMatch: `"${product.revision}"`,
        }),
      );
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="edit-title">
      <h2 id="edit-title">{t("console.product.edit")}</h2>
      <form key={product.revision} onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <label>
            {t("console.product.name")}
            <input name="name" required maxLength={200} defaultValue={product.name} />
          </label>
          <label>
            {t("console.product.price")}
            <input name="price" required inputMode="decimal" defaultValue={fromMinor(product.price.amount, product.price.currency)} />
          </label>
          <label>
            {t("console.product.currency")}
            <select name="currency" defaultValue={product.price.currency}>
              {[...new Set([...CURRENCIES, product.price.currency])].map((code) => (
                <option key={code} value={code}>
                  {code}
                </option>
              ))}
            </select>
          </label>
          {product.product_type === "video_purchase" && (
            <label>
              {t("console.product.videoId")}
              <input name="video_id" required defaultValue={product.access?.video_id ?? ""} />
            </label>
          )}
          {product.product_type === "video_rental" && (
            <label>
              {t("console.product.rentalHours")}
              <input name="rental_hours" type="number" min={1} max={8784} required defaultValue={String(product.access?.rental_hours ?? "")} />
            </label>
          )}
        </div>
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {t("console.action.save")}
          </button>
        </div>
        <Refusal error={error} />
        {error && (error as { code?: string }).code === "stale_revision" && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setError(null);
              props.onStale();
            }}
          >
            {t("console.action.reload")}
          </button>
        )}
      </form>
    </section>
  );
}

function AdjustStock(props: { product: StaffProduct; onAdjusted: (onHand: number) => void }) {
  const live = props.product.product_type === "live_ticket";
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // One key per intended adjustment: a repeat after a lost answer is answered, not applied twice.
  const [key, setKey] = useState(newKey());
  const [sentBody, setSentBody] = useState("");

  async function submit(event: Event) {
    event.preventDefault();
    const formElement = event.currentTarget as HTMLFormElement;
    const form = new FormData(formElement);
    const note = String(form.get("note") ?? "").trim();
    const body = { delta: Number(form.get("delta")), reason: String(form.get("reason")), note: note || null };
    const serialized = JSON.stringify(body);
    const idempotencyKey = serialized === sentBody ? key : newKey();
    setKey(idempotencyKey);
    setSentBody(serialized);
    setBusy(true);
    setError(null);
    try {
      const answer = await api<{ on_hand: number }>("catalog", `/staff/products/${encodeURIComponent(props.product.sku)}/stock-adjustments`, {
        method: "POST",
        body,
        idempotencyKey,
      });
      props.onAdjusted(answer.on_hand);
      formElement.reset();
      setSentBody("");
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section class="panel" aria-labelledby="stock-title">
      <h2 id="stock-title">{t("console.stock.title")}</h2>
      <p class="hint">{live ? t("console.stock.hintLive") : t("console.stock.hint")}</p>
      <form onSubmit={(e) => void submit(e)}>
        <div class="form-row">
          <label>
            {t("console.stock.delta")}
            <input name="delta" type="number" step={1} required />
          </label>
          <label>
            {t("console.stock.reason")}
            <select name="reason" defaultValue={live ? "capacity_changed" : "received"}>
              {REASONS.map((reason) => (
                <option key={reason} value={reason}>
                  {t(`console.stock.reason.${reason}`)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t("console.stock.note")}
            <input name="note" maxLength={500} />
          </label>
        </div>
        <div class="form-actions">
          <button type="submit" disabled={busy}>
            {t("console.stock.apply")}
          </button>
        </div>
        <Refusal error={error} />
      </form>
    </section>
  );
}
