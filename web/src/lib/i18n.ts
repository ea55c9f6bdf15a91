// English and Japanese. Each app keeps its own dictionary (src/store/messages.ts,
// src/console/messages.ts) and registers it; a missing Japanese text falls back to English, a
// missing key shows the key (so a test sees it). The choice is kept in localStorage: a preference,
// not a secret.
import { useEffect, useState } from "preact/hooks";

export type Locale = "en" | "ja";
export type Dictionary = Record<string, string>;

const LOCALE_KEY = "shop.locale";
const dictionaries: Record<Locale, Dictionary> = { en: {}, ja: {} };
const listeners = new Set<(locale: Locale) => void>();

function initialLocale(): Locale {
  const saved = localStorage.getItem(LOCALE_KEY);
  if (saved === "en" || saved === "ja") return saved;
  return navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
}

let locale: Locale = initialLocale();

export function registerMessages(messages: Record<Locale, Dictionary>): void {
  Object.assign(dictionaries.en, messages.en);
  Object.assign(dictionaries.ja, messages.ja);
}

export function getLocale(): Locale {
  return locale;
}

export function setLocale(next: Locale): void {
  locale = next;
  localStorage.setItem(LOCALE_KEY, next);
  document.documentElement.lang = next;
  listeners.forEach((listener) => listener(next));
}

/** `t("orders.placed", { id })`: {name} placeholders are replaced. */
export function t(key: string, params: Record<string, string | number> = {}): string {
  const text = dictionaries[locale][key] ?? dictionaries.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

/** Re-render a component when the language changes. */
export function useLocale(): Locale {
  const [current, setCurrent] = useState(locale);
  useEffect(() => {
    listeners.add(setCurrent);
    return () => void listeners.delete(setCurrent);
  }, []);
  return current;
}

export interface Money {
  amount: number; // minor units
  currency: string;
}

const MINOR_UNITS: Record<string, number> = { JPY: 0, USD: 2, EUR: 2 };

export function formatMoney(money: Money): string {
  const digits = MINOR_UNITS[money.currency] ?? 2;
  return new Intl.NumberFormat(locale === "ja" ? "ja-JP" : "en-US", { style: "currency", currency: money.currency }).format(
    money.amount / 10 ** digits,
  );
}

export function formatDateTime(iso: string): string {
  return new Intl.DateTimeFormat(locale === "ja" ? "ja-JP" : "en-US", { dateStyle: "medium", timeStyle: "short" }).format(
    new Date(iso),
  );
}

document.documentElement.lang = locale;
