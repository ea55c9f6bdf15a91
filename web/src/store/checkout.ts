// Placing the order once. The Idempotency-Key is made once per checkout and kept in sessionStorage
// (with the body it was made for) until the order is confirmed: a double click, a retry after a lost
// answer and a reload during or after the submit all send the same key, and the orders API answers a
// repeat with the first order (Idempotent-Replayed) instead of making a second one.
import { api, ApiError } from "../lib/api";

const PENDING_KEY = "shop.checkout.pending";

export interface Address {
  recipient?: string | null;
  line1: string;
  line2?: string | null;
  city?: string | null;
  region?: string | null;
  postal_code?: string | null;
  country?: string | null;
  phone?: string | null;
}

export interface PlaceOrderRequest {
  customer_email: string;
  payment_token: string;
  lines: Array<{ sku: string; quantity: number }>;
  shipping_address?: Address | null;
  locale?: "en" | "ja";
}

export interface PendingCheckout {
  key: string;
  body: PlaceOrderRequest;
}

export function pendingCheckout(): PendingCheckout | null {
  try {
    const saved = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? "null") as PendingCheckout | null;
    return saved && typeof saved.key === "string" && saved.body ? saved : null;
  } catch {
    return null;
  }
}

function forget(): void {
  sessionStorage.removeItem(PENDING_KEY);
}

function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The checkout's key: the pending one if it was made for this very body, else a new one (kept at once). */
export function checkoutFor(body: PlaceOrderRequest): PendingCheckout {
  const pending = pendingCheckout();
  if (pending && JSON.stringify(pending.body) === JSON.stringify(body)) return pending;
  const fresh = { key: newKey(), body };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(fresh));
  return fresh;
}

let inFlight: Promise<string> | null = null;

/**
 * POST /orders with the checkout's key; resolves to the order id. One request at a time per tab (a
 * second call while one is under way gets the same promise). The key is forgotten when the order is
 * confirmed, or when the API refused the request for good (a 4xx: nothing was made with it).
 */
export function placeOrder(checkout: PendingCheckout): Promise<string> {
  if (inFlight) return inFlight;
  inFlight = (async () => {
    try {
      const order = await api<{ order_id: string }>("orders", "/orders", { body: checkout.body, idempotencyKey: checkout.key });
      forget();
      return order.order_id;
    } catch (error) {
      if (error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 409) forget();
      throw error;
    } finally {
      inFlight = null;
    }
  })();
  return inFlight;
}
