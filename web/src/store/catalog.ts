// What the storefront knows about products: orders' public catalog view (what can be ordered, at what
// price) joined with catalog's public products (what each product is: a physical good, a rental, a
// purchase or a live ticket, and what it gives access to).
import { api, ApiError } from "../lib/api";
import { type Money, t } from "../lib/i18n";

export type ProductType = "physical_good" | "video_rental" | "video_purchase" | "live_ticket";

export interface Access {
  video_id: string | null;
  live_show_id: string | null;
  rental_hours: number | null;
}

export interface Product {
  sku: string;
  name: string;
  kind: "physical" | "digital";
  price: Money;
  product_type?: ProductType;
  access?: Access | null;
  availability?: "in_stock" | "sold_out" | null;
}

interface CatalogProduct {
  sku: string;
  product_type: ProductType;
  access: Access | null;
  availability: "in_stock" | "sold_out" | null;
}

const MAX_CATALOG_PAGES = 20;

async function catalogDetails(): Promise<Map<string, CatalogProduct>> {
  const found = new Map<string, CatalogProduct>();
  let cursor: string | null = null;
  for (let page = 0; page < MAX_CATALOG_PAGES; page++) {
    const query: string = `/products?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const body: { products: CatalogProduct[]; next_cursor: string | null } = await api("catalog", query);
    body.products.forEach((product) => found.set(product.sku, product));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return found;
}

/** Every product on sale, with its type when catalog tells it (the list still shows without it). */
export async function loadProducts(): Promise<Product[]> {
  const [view, details] = await Promise.all([
    api<{ products: Product[] }>("orders", "/products"),
    catalogDetails().catch(() => new Map<string, CatalogProduct>()),
  ]);
  return view.products.map((product) => ({ ...product, ...pick(details.get(product.sku)) }));
}

function pick(details: CatalogProduct | undefined): Partial<Product> {
  if (!details) return {};
  return { product_type: details.product_type, access: details.access, availability: details.availability };
}

/** One product on sale, or null when there is no such product. */
export async function loadProduct(sku: string): Promise<Product | null> {
  const view = await api<{ products: Product[] }>("orders", "/products");
  const product = view.products.find((p) => p.sku === sku);
  if (!product) return null;
  try {
    const details = await api<CatalogProduct>("catalog", `/products/${encodeURIComponent(sku)}`);
    return { ...product, ...pick(details) };
  } catch (error) {
    if (error instanceof ApiError) return product;
    throw error;
  }
}

/** The products that sell access to a video or a live show (for "buy or rent it" links). */
export async function productsGiving(target: { videoId?: string; liveShowId?: string }): Promise<Product[]> {
  const products = await loadProducts();
  return products.filter(
    (p) =>
      (target.videoId && p.access?.video_id === target.videoId) || (target.liveShowId && p.access?.live_show_id === target.liveShowId),
  );
}

/** "Physical item", "Rental (48 h)", "Purchase", "Live ticket", or "Digital" when the type is not known. */
export function productTypeLabel(product: { kind: string; product_type?: ProductType; access?: Access | null }): string {
  switch (product.product_type) {
    case "physical_good":
      return t("store.type.physical");
    case "video_rental":
      return t("store.type.rental", { hours: product.access?.rental_hours ?? 48 });
    case "video_purchase":
      return t("store.type.purchase");
    case "live_ticket":
      return t("store.type.ticket");
    default:
      return product.kind === "physical" ? t("store.type.physical") : t("store.type.digital");
  }
}
