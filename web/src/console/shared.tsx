// What the console's pages share: loading data, showing an API's refusal with the fields it blames,
// a polite live region for changes that arrive by themselves, and money typed in major units.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "../lib/api";
import { t } from "../lib/i18n";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
  setData: (data: T) => void;
}

/** Load once (and again when `deps` change or reload() is called); the newest answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const answer = await load();
      if (mine === generation.current) {
        setData(answer);
        setError(null);
      }
    } catch (failure) {
      if (mine === generation.current) setError(failure);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, deps);
  useEffect(() => {
    void reload();
    return () => void generation.current++;
  }, [reload]);
  return { data, error, loading, reload, setData };
}

/** Call `tick` every `ms` while `active`; stops when the page goes. Polling, where no push exists. */
export function usePolling(tick: () => void, ms: number, active: boolean): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    if (!active) return;
    const timer = window.setInterval(() => latest.current(), ms);
    return () => window.clearInterval(timer);
  }, [ms, active]);
}

interface FieldProblem {
  field: string;
  problem: string;
}

export function fieldProblems(error: unknown): FieldProblem[] {
  if (!(error instanceof ApiError)) return [];
  const fields = (error.body as { error?: { fields?: FieldProblem[] } } | null)?.error?.fields;
  return Array.isArray(fields) ? fields : [];
}

/** An API's refusal as staff read it: its message and code, and each field it blames. */
export function Refusal(props: { error: unknown; id?: string }) {
  const error = props.error;
  if (!error) return null;
  const problems = fieldProblems(error);
  let text: string;
  if (error instanceof ApiError) text = t("console.error.api", { status: error.status, code: error.code, message: error.message });
  else if (error instanceof Error) text = error.message;
  else text = String(error);
  return (
    <div class="error" role="alert" id={props.id} data-testid="refusal">
      <p>{text}</p>
      {problems.length > 0 && (
        <ul>
          {problems.map((p) => (
            <li key={p.field}>
              <code>{p.field}</code>: {p.problem}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A polite live region: what changed by itself (a state, a saved form) is read out. */
export function LiveStatus(props: { children: ComponentChildren; testId?: string }) {
  return (
    <p role="status" aria-live="polite" class="live-status" data-testid={props.testId}>
      {props.children}
    </p>
  );
}

const MINOR_DIGITS: Record<string, number> = { JPY: 0, USD: 2, EUR: 2 };
export const CURRENCIES = ["USD", "JPY", "EUR"];

export function minorDigits(currency: string): number {
  return MINOR_DIGITS[currency] ?? 2;
}

/** "12.50" USD → 1250; "1500" JPY → 1500; null when it is not an amount of that currency. */
export function toMinor(text: string, currency: string): number | null {
  const digits = minorDigits(currency);
  const pattern = digits === 0 ? /^\d+$/ : new RegExp(`^\\d+(\\.\\d{1,${digits}})?$`);
  const trimmed = text.trim();
  if (!pattern.test(trimmed)) return null;
  const [whole, fraction = ""] = trimmed.split(".");
  return Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, "0") || "0");
}

export function fromMinor(amount: number, currency: string): string {
  const digits = minorDigits(currency);
  return (amount / 10 ** digits).toFixed(digits);
}

/** A new Idempotency-Key (one per intended change: a retry of the same change sends the same key). */
export function newKey(): string {
  return crypto.randomUUID();
}

export function StateBadge(props: { state: string; label?: string }) {
  return <span class={`badge badge-${props.state.toLowerCase()}`}>{props.label ?? props.state}</span>;
}
