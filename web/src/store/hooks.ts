// Small helpers the pages share.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { t } from "../lib/i18n";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Run `load` now and whenever `deps` change; a late answer for old deps is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((old) => ({ ...old, loading: true }));
    load().then(
      (data) => mine === latest.current && setState({ data, error: null, loading: false }),
      (error: unknown) => mine === latest.current && setState({ data: null, error, loading: false }),
    );
  }, [...deps, round]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return { ...state, reload };
}

/** A translated label for a value the API sends (a status, an event type), or the value itself. */
export function labelFor(prefix: string, value: string): string {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? value : text;
}

/** The page's title in the browser tab follows its h1. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · ${t("store.brand")}`;
  }, [title]);
}

/** Seconds as m:ss. */
export function clock(seconds: number): string {
  const whole = Math.max(0, Math.floor(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}
