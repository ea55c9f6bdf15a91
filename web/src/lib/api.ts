// The services' HTTP APIs, same origin under config().api[service]. Errors arrive as
// {"error": {"code", "message"}} (every service answers 4xx that way) and become ApiError.
import { currentUser } from "./auth";
import { config, type ServiceName } from "./config";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface ApiOptions {
  method?: string;
  body?: unknown;
  /** Sent as Idempotency-Key: the server answers a repeat with the first answer. */
  idempotencyKey?: string;
  /** Sent as If-Match (optimistic concurrency on versioned resources). */
  ifMatch?: string;
  headers?: Record<string, string>;
  /** Public routes can be called signed out; the token is sent whenever there is one. */
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

export async function apiResponse<T>(service: ServiceName, path: string, options: ApiOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  const user = currentUser();
  if (user) headers.Authorization = `Bearer ${user.accessToken}`;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  if (options.ifMatch) headers["If-Match"] = options.ifMatch;
  let body: BodyInit | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = headers["Content-Type"] ?? "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${config().api[service]}${path}`, {
    method: options.method ?? (body === undefined ? "GET" : "POST"),
    headers,
    body,
    signal: options.signal,
  });
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? response.statusText, parsed);
  }
  return { data: parsed as T, status: response.status, headers: response.headers };
}

export async function api<T>(service: ServiceName, path: string, options: ApiOptions = {}): Promise<T> {
  return (await apiResponse<T>(service, path, options)).data;
}
