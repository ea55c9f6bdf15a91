// `/me/orders`: the customer's orders, newest first.
import { api } from "../../lib/api";
import { formatDateTime, formatMoney, t } from "../../lib/i18n";
import { ErrorNotice, Loading, SignInRequired, useUser } from "../../lib/ui";
import { labelFor, useLoad, useTitle } from "../hooks";
import type { Order } from "../orders";

export function OrdersPage() {
  useTitle(t("store.orders.title"));
  const user = useUser();
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">{t("store.orders.title")}</h1>
      {user ? <OrderList /> : <SignInRequired />}
    </section>
  );
}

function OrderList() {
  const orders = useLoad(() => api<{ orders: Order[] }>("orders", "/orders?limit=50"), []);
  if (orders.error) return <ErrorNotice error={orders.error} />;
  if (!orders.data) return <Loading />;
  if (orders.data.orders.length === 0)
    return (
      <p>
        {t("store.orders.empty")} <a href="/">{t("store.cart.browse")}</a>
      </p>
    );
  return (
    <table>
      <caption class="visually-hidden">{t("store.orders.title")}</caption>
      <thead>
        <tr>
          <th scope="col">{t("store.orders.order")}</th>
          <th scope="col">{t("store.orders.placed")}</th>
          <th scope="col">{t("store.orders.items")}</th>
          <th scope="col">{t("store.orders.total")}</th>
          <th scope="col">{t("store.orders.status")}</th>
        </tr>
      </thead>
      <tbody>
        {orders.data.orders.map((order) => (
          <tr key={order.order_id}>
            <th scope="row">
              <a href={`/me/orders/${encodeURIComponent(order.order_id)}`}>{order.order_id}</a>
            </th>
            <td>{formatDateTime(order.created_at)}</td>
            <td>{order.lines.map((line) => (line.quantity > 1 ? `${line.name} × ${line.quantity}` : line.name)).join(", ")}</td>
            <td>{formatMoney(order.total)}</td>
            <td>{labelFor("store.status", order.status)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
