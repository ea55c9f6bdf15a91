// What the page needs to know about where it runs, read once from /config.json (written by the
// embedded stack's web edge locally, by `make deploy-web` on AWS): the same build runs everywhere.

export type ServiceName = "catalog" | "vod" | "orders" | "fulfillment" | "notify";

export interface ShopConfig {
  /** The OpenID Connect issuer (the local issuer, or Cognito's user pool URL). */
  issuer: string;
  client_id: string;
  scopes: string;
  /** Where the issuer sends the browser back with the code, relative to the page's origin. */
  redirect_path: string;
  /** The issuer's sign-out page (Cognito's /logout): it forgets its session and returns to logout_uri. */
  logout_url: string;
  /** Each service's HTTP API, same origin (the edge forwards /api/<service>/… to the service). */
  api: Record<ServiceName, string>;
  /** The push channel (WebSocket API); the access token goes in the query string. */
  push_url: string;
  /** Where the HLS streams are served from (signed cookies). */
  media_origin: string;
  /** Where the console PUTs video sources (presigned URLs of the media bucket; the CSP allows it). */
  upload_origin?: string;
}

let loaded: ShopConfig | null = null;

export async function loadConfig(): Promise<ShopConfig> {
  if (loaded) return loaded;
  const response = await fetch("/config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`/config.json answered ${response.status}`);
  loaded = (await response.json()) as ShopConfig;
  return loaded;
}

export function config(): ShopConfig {
  if (!loaded) throw new Error("loadConfig() has not finished");
  return loaded;
}
