// The frame both apps share: a skip link, a header with the app's navigation, the language switch and
// sign-in/out, and the main landmark every page renders into.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { currentUser, onAuthChange, signIn, signOut, type SignedInUser } from "./auth";
import { type Locale, setLocale, t, useLocale } from "./i18n";
import { ApiError } from "./api";

export function useUser(): SignedInUser | null {
  const [user, setUser] = useState(currentUser());
  useEffect(() => onAuthChange(setUser), []);
  return user;
}

export interface NavItem {
  href: string;
  label: string;
}

export function AppShell(props: {
  basePath: string;
  brand: string;
  nav: NavItem[];
  path: string;
  children: ComponentChildren;
}) {
  const locale = useLocale();
  const user = useUser();
  useEffect(() => {
    document.getElementById("main")?.focus({ preventScroll: true });
  }, [props.path]);
  return (
    <>
      <a class="skip-link" href="#main">
        {t("common.skip")}
      </a>
      <header class="site-header">
        <a class="brand" href={props.basePath}>
          {props.brand}
        </a>
        <nav aria-label={t("common.nav")}>
          <ul>
            {props.nav.map((item) => (
              <li key={item.href}>
                <a href={item.href} aria-current={props.path === item.href ? "page" : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="header-tools">
          <label class="locale">
            <span>{t("common.language")}</span>
            <select value={locale} onChange={(e) => setLocale((e.target as HTMLSelectElement).value as Locale)}>
              <option value="en">English</option>
              <option value="ja">日本語</option>
            </select>
          </label>
          {user ? (
            <>
              <span class="who" data-testid="signed-in-as">
                {t("common.signedInAs", { name: user.username })}
              </span>
              <button type="button" onClick={() => void signOut(props.basePath)}>
                {t("common.signOut")}
              </button>
            </>
          ) : (
            <button type="button" onClick={() => void signIn()}>
              {t("common.signIn")}
            </button>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}

export function Loading() {
  return (
    <p role="status" aria-live="polite">
      {t("common.loading")}
    </p>
  );
}

/** An API error as the person can read it: the service's own message, and its code for support. */
export function ErrorNotice(props: { error: unknown }) {
  const error = props.error;
  const text =
    error instanceof ApiError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

/** Shown where a page needs a signed-in person (or staff) and there is none. */
export function SignInRequired(props: { staff?: boolean }) {
  const user = useUser();
  return (
    <section class="notice">
      <p>{props.staff && user ? t("common.staffOnly") : t("common.signInRequired")}</p>
      {!user && (
        <button type="button" onClick={() => void signIn()}>
          {t("common.signIn")}
        </button>
      )}
    </section>
  );
}

export const commonMessages = {
  en: {
    "common.skip": "Skip to content",
    "common.nav": "Main",
    "common.language": "Language",
    "common.signIn": "Sign in",
    "common.signOut": "Sign out",
    "common.signedInAs": "Signed in as {name}",
    "common.loading": "Loading…",
    "common.signInRequired": "Please sign in to see this page.",
    "common.staffOnly": "This page is for staff.",
    "common.notFound": "There is nothing here.",
  },
  ja: {
    "common.skip": "本文へ移動",
    "common.nav": "メイン",
    "common.language": "言語",
    "common.signIn": "サインイン",
    "common.signOut": "サインアウト",
    "common.signedInAs": "{name} でサインイン中",
    "common.loading": "読み込み中…",
    "common.signInRequired": "このページを見るにはサインインしてください。",
    "common.staffOnly": "このページはスタッフ専用です。",
    "common.notFound": "ページが見つかりません。",
  },
};
