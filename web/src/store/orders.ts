// The orders API as the customer's pages read it, and the order's status channel: the push channel's
// `orders:<sub>` topic ({"action": "watchOrders"} → "order-status" messages) when it is connected and
// acknowledged, polling GET /orders/{id} only as a fallback.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../lib/api";
import type { Money } from "../lib/i18n";
import { onConnectionChange, type PushMessage, subscribe } from "../lib/push";
import type { Access } from "./catalog";

export interface OrderLine {
  sku: string;
  name: string;
  kind: "physical" | "digital";
  quantity: number;
  unit_price: number;
  access?: Access | null;
  delivery?: { status: "pending" | "delivered" | "revoked"; expires_at?: string | null; delivered_at?: string | null } | null;
}

export interface TimelineEntry {
  event_id: string;
  event_type: string;
  occurred_at: string;
  summary: string;
}

export interface Order {
  order_id: string;
  status: string;
  status_version?: number;
  payment_status: string;
  fulfillment_status: string;
  customer_email: string;
  lines: OrderLine[];
  total: Money;
  refunded: Money;
  shipping_address: string | null;
  tracking: { carrier?: string | null; tracking_number?: string | null; tracking_url?: string | null } | null;
  cancellation: { cancelled_by: string; reason: string } | null;
  created_at: string;
  timeline: TimelineEntry[];
}

/** No status follows these (a digital order's customer may still cancel a DELIVERED one: the page refetches then). */
export const FINAL_STATUSES = new Set(["DELIVERED", "CANCELLED", "REJECTED", "PAYMENT_FAILED"]);
const CUSTOMER_CANCEL_CLOSED = new Set(["SHIPMENT_INSTRUCTED", "SHIPPED", "CANCELLED", "REJECTED", "PAYMENT_FAILED"]);
export const POLL_MS = 3000;

/** Whether the customer's cancel is worth offering (the API decides, and says why not). */
export function cancellable(order: Order): boolean {
  if (CUSTOMER_CANCEL_CLOSED.has(order.status)) return false;
  if (order.status === "DELIVERED") return order.lines.every((line) => line.kind === "digital");
  return true;
}

export function getOrder(orderId: string): Promise<Order> {
  return api<Order>("orders", `/orders/${encodeURIComponent(orderId)}`);
}

export interface OrderStatusMessage extends PushMessage {
  type: "order-status";
  order_id: string;
  status: string;
  status_version: number;
}

function isOrderStatus(message: PushMessage): message is OrderStatusMessage {
  return message.type === "order-status" && typeof message.order_id === "string";
}

/**
 * Follow orders' statuses: `onChange(orderId, statusVersion)` when the push channel says one changed.
 * Returns whether the channel covers orders right now (connected, and the topic acknowledged): while
 * it does not, the caller polls.
 */
export function useOrderPush(onChange: (orderId: string, statusVersion: number | null) => void): boolean {
  const [covered, setCovered] = useState(false);
  const callback = useRef(onChange);
  callback.current = onChange;
  useEffect(() => {
    const stopWatching = subscribe("orders", { action: "watchOrders" }, (message) => {
      if (message.type === "watching" && typeof message.topic === "string" && message.topic.startsWith("orders:")) setCovered(true);
      else if (message.type === "error" && (message.code === "unknown_action" || message.code === "invalid_message")) setCovered(false);
      else if (isOrderStatus(message)) {
        setCovered(true);
        callback.current(message.order_id, typeof message.status_version === "number" ? message.status_version : null);
      }
    });
    const stopState = onConnectionChange((open) => {
      if (!open) setCovered(false);
    });
    return () => {
      stopWatching();
      stopState();
    };
  }, []);
  return covered;
}
