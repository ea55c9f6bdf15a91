// The push channel (vod's WebSocket API): one connection per tab, opened with the access token,
// re-opened with a backoff when it drops; what the page watches is sent again on every (re)connect.
// Delivery is at least once and may be out of order: callers keep the newest by sequence/version.
import { currentUser } from "./auth";
import { config } from "./config";

export type PushMessage = { type: string; [field: string]: unknown };
type Listener = (message: PushMessage) => void;

let socket: WebSocket | null = null;
let retryMs = 500;
let retryTimer: number | undefined;
const listeners = new Set<Listener>();
const subscriptions = new Map<string, object>(); // what to (re)send on open, by a key of the caller's
const stateListeners = new Set<(open: boolean) => void>();

function send(message: object): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect(): void {
  const user = currentUser();
  if (!user || socket) return;
  const url = new URL(config().push_url);
  url.searchParams.set("token", user.accessToken);
  const opened = new WebSocket(url.toString());
  socket = opened;
  opened.onopen = () => {
    retryMs = 500;
    subscriptions.forEach((message) => send(message));
    stateListeners.forEach((listener) => listener(true));
  };
  opened.onmessage = (event) => {
    let message: PushMessage;
    try {
      message = JSON.parse(String(event.data)) as PushMessage;
    } catch {
      return;
    }
    listeners.forEach((listener) => listener(message));
  };
  opened.onclose = () => {
    socket = null;
    stateListeners.forEach((listener) => listener(false));
    if (subscriptions.size === 0 || !currentUser()) return;
    retryTimer = window.setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15_000);
  };
}

/** Watch something (a live show, one's orders): `message` is sent now and after every reconnect. */
export function subscribe(key: string, message: object, listener: Listener): () => void {
  subscriptions.set(key, message);
  listeners.add(listener);
  if (socket?.readyState === WebSocket.OPEN) send(message);
  else connect();
  return () => {
    subscriptions.delete(key);
    listeners.delete(listener);
    if (subscriptions.size === 0) {
      window.clearTimeout(retryTimer);
      socket?.close();
    }
  };
}

export function onConnectionChange(listener: (open: boolean) => void): () => void {
  stateListeners.add(listener);
  return () => void stateListeners.delete(listener);
}

export function isConnected(): boolean {
  return socket?.readyState === WebSocket.OPEN;
}
