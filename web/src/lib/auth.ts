// Sign-in: the OIDC authorization code flow with PKCE (oidc-client-ts), against the local issuer or
// Cognito alike. Tokens live in memory only: a reload signs in again through the issuer's own session
// cookie (its sign-in form is skipped while that session lasts), so no token ever sits in
// localStorage or sessionStorage. What survives a reload is a flag saying "was signed in" and the
// PKCE state of a sign-in under way (which oidc-client-ts keeps in sessionStorage for the redirect).
import { InMemoryWebStorage, User, UserManager, WebStorageStateStore } from "oidc-client-ts";
import { config } from "./config";

const SIGNED_IN_FLAG = "shop.signed-in";
const GROUPS_CLAIM = "cognito:groups";

export interface SignedInUser {
  sub: string;
  username: string;
  email: string | null;
  groups: string[];
  accessToken: string;
}

let manager: UserManager | null = null;
let current: SignedInUser | null = null;
const listeners = new Set<(user: SignedInUser | null) => void>();

function decodeClaims(token: string): Record<string, unknown> {
  const payload = token.split(".")[1] ?? "";
  const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(decodeURIComponent(escape(json))) as Record<string, unknown>;
}

function fromOidcUser(user: User): SignedInUser {
  const claims = decodeClaims(user.access_token);
  const groups = Array.isArray(claims[GROUPS_CLAIM]) ? (claims[GROUPS_CLAIM] as string[]) : [];
  const email = (user.profile?.email as string | undefined) ?? (claims.email as string | undefined) ?? null;
  return {
    sub: String(claims.sub ?? user.profile.sub),
    username: String(claims.username ?? user.profile.preferred_username ?? claims.sub),
    email,
    groups,
    accessToken: user.access_token,
  };
}

function setCurrent(user: SignedInUser | null): void {
  current = user;
  if (user) sessionStorage.setItem(SIGNED_IN_FLAG, "1");
  listeners.forEach((listener) => listener(user));
}

/** `basePath` is the app's root ("/" for the storefront, "/console/" for the console). */
function userManager(basePath: string): UserManager {
  if (manager) return manager;
  const cfg = config();
  const origin = window.location.origin;
  const callback = basePath === "/" ? cfg.redirect_path : `${basePath.replace(/\/$/, "")}${cfg.redirect_path}`;
  manager = new UserManager({
    authority: cfg.issuer,
    client_id: cfg.client_id,
    redirect_uri: `${origin}${callback}`,
    post_logout_redirect_uri: `${origin}${basePath}`,
    response_type: "code",
    scope: cfg.scopes,
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    loadUserInfo: false,
    // The refresh token renews the access token in the background (a fetch to the token endpoint).
    automaticSilentRenew: true,
  });
  manager.events.addUserLoaded((user) => setCurrent(fromOidcUser(user)));
  manager.events.addUserUnloaded(() => setCurrent(null));
  manager.events.addSilentRenewError(() => setCurrent(null));
  return manager;
}

export function callbackPath(basePath: string): string {
  const redirect = config().redirect_path;
  return basePath === "/" ? redirect : `${basePath.replace(/\/$/, "")}${redirect}`;
}

/**
 * Call once at start. On the callback path it finishes a sign-in and returns where to go next;
 * otherwise, if this tab was signed in before a reload, it signs in again through the issuer's session
 * (a redirect: the page unloads, and the promise never resolves).
 */
export async function initAuth(basePath: string): Promise<string | null> {
  const users = userManager(basePath);
  const here = window.location.pathname;
  if (here === callbackPath(basePath)) {
    const params = new URLSearchParams(window.location.search);
    if (params.has("error")) {
      sessionStorage.removeItem(SIGNED_IN_FLAG);
      return basePath;
    }
    const user = await users.signinRedirectCallback();
    setCurrent(fromOidcUser(user));
    const state = user.state as { returnTo?: string } | undefined;
    return state?.returnTo ?? basePath;
  }
  if (sessionStorage.getItem(SIGNED_IN_FLAG) && !current) {
    await signIn(here + window.location.search);
    return new Promise<never>(() => undefined);
  }
  return null;
}

export async function signIn(returnTo?: string): Promise<void> {
  if (!manager) throw new Error("initAuth() first");
  await manager.signinRedirect({ state: { returnTo: returnTo ?? window.location.pathname + window.location.search } });
}

/** Forget the tokens here and the issuer's session there (Cognito's /logout takes client_id and logout_uri). */
export async function signOut(basePath: string): Promise<void> {
  sessionStorage.removeItem(SIGNED_IN_FLAG);
  await manager?.removeUser();
  setCurrent(null);
  const cfg = config();
  const url = new URL(cfg.logout_url);
  url.searchParams.set("client_id", cfg.client_id);
  url.searchParams.set("logout_uri", `${window.location.origin}${basePath}`);
  window.location.assign(url.toString());
}

export function currentUser(): SignedInUser | null {
  return current;
}

export function isStaff(user: SignedInUser | null): boolean {
  return inGroup(user, "staff");
}

/** Whether the person is in a group (the `cognito:groups` claim the APIs check too). */
export function inGroup(user: SignedInUser | null, group: string): boolean {
  return !!user && user.groups.includes(group);
}

export function onAuthChange(listener: (user: SignedInUser | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
