// The cart: kept in sessionStorage (what is in it, never a token), so a reload keeps it in this tab.
import { useEffect, useState } from "preact/hooks";
import type { Money } from "../lib/i18n";
import type { Product, ProductType } from "./catalog";

const CART_KEY = "shop.cart";

export interface CartLine {
  sku: string;
  name: string;
  kind: "physical" | "digital";
  product_type?: ProductType;
  price: Money;
  quantity: number;
}

const listeners = new Set<(lines: CartLine[]) => void>();

export function cartLines(): CartLine[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(CART_KEY) ?? "[]") as unknown;
    return Array.isArray(saved) ? (saved as CartLine[]) : [];
  } catch {
    return [];
  }
}

function save(lines: CartLine[]): void {
  if (lines.length === 0) sessionStorage.removeItem(CART_KEY);
  else sessionStorage.setItem(CART_KEY, JSON.stringify(lines));
  listeners.forEach((listener) => listener(lines));
}

/** Digital goods are one per order line: a second rental of the same video gives nothing more. */
export function maxQuantity(line: { kind: string }): number {
  return line.kind === "digital" ? 1 : 100;
}

export function addToCart(product: Pick<Product, "sku" | "name" | "kind" | "price" | "product_type">, quantity = 1): void {
  const lines = cartLines();
  const existing = lines.find((line) => line.sku === product.sku);
  if (existing) existing.quantity = Math.min(existing.quantity + quantity, maxQuantity(existing));
  else
    lines.push({
      sku: product.sku,
      name: product.name,
      kind: product.kind,
      product_type: product.product_type,
      price: product.price,
      quantity: Math.min(quantity, maxQuantity(product)),
    });
  save(lines);
}

export function setQuantity(sku: string, quantity: number): void {
  save(
    cartLines()
      .map((line) => (line.sku === sku ? { ...line, quantity: Math.max(1, Math.min(quantity, maxQuantity(line))) } : line))
      .filter((line) => line.quantity > 0),
  );
}

export function removeFromCart(sku: string): void {
  save(cartLines().filter((line) => line.sku !== sku));
}

export function clearCart(): void {
  save([]);
}

export function useCart(): CartLine[] {
  const [lines, setLines] = useState(cartLines());
  useEffect(() => {
    listeners.add(setLines);
    return () => void listeners.delete(setLines);
  }, []);
  return lines;
}

/** Totals per currency (an order is in one currency; the orders API refuses a mix). */
export function cartTotals(lines: CartLine[]): Money[] {
  const totals = new Map<string, number>();
  lines.forEach((line) => totals.set(line.price.currency, (totals.get(line.price.currency) ?? 0) + line.price.amount * line.quantity));
  return [...totals].map(([currency, amount]) => ({ amount, currency }));
}
