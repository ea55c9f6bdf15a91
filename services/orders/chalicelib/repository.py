"""The orders table: orders (with their timeline), the catalog view, and Idempotency-Key records."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.domain import Cancellation, Line, Order, ProductView, Refund, TimelineEntry
from shop_eventing.outbox import ITEM_TYPE, UnitOfWork, WriteConflict, from_dynamodb, to_dynamodb


class OrderChangedSinceRead(WriteConflict):
    """Someone saved the order after we read it (for a new order: an order with its id exists)."""


class IdempotencyKeyTaken(WriteConflict):
    """Another request with the same Idempotency-Key was saved first."""


class ProductViewNotNewer(WriteConflict):
    """The view already holds this product revision or a newer one (deliveries come out of order)."""


ORDER_ITEM_TYPE = "order"
STATUS_VERSION = "status_version"


def order_key(order_id: str) -> dict[str, str]:
    return {"pk": f"ORDER#{order_id}", "sk": "ORDER"}


def product_view_key(sku: str) -> dict[str, str]:
    return {"pk": f"PRODUCT#{sku}", "sk": "VIEW"}


def request_key(idempotency_key: str) -> dict[str, str]:
    return {"pk": f"REQUEST#{idempotency_key}", "sk": "REQUEST"}


def order_item(order: Order) -> dict[str, Any]:
    return {
        **order_key(order.order_id),
        ITEM_TYPE: ORDER_ITEM_TYPE,
        "order_id": order.order_id,
        "customer_email": order.customer_email,
        "lines": [asdict(line) for line in order.lines],
        "currency": order.currency,
        "total": order.total,
        "payment_token": order.payment_token,
        "shipping_address": order.shipping_address,
        "delivery_address": order.delivery_address,
        "created_at": order.created_at,
        "timeline": [asdict(entry) for entry in order.timeline],
        "payment_id": order.payment_id,
        # Stored for queries; always recomputed from the timeline.
        "status": order.status,
        # Written in the same conditional put as the status it counts (the whole item, at the version
        # read): the change feed (chalicelib/status_changes.py) announces each value once.
        STATUS_VERSION: order.current_status_version,
        "payment_status": order.payment_status,
        "fulfillment_status": order.fulfillment_status,
        "locale": order.locale,
        "delivery": order.delivery,
        "charge_started": order.charge_started,
        "cancellation": asdict(order.cancellation) if order.cancellation else None,
        "refunds": [asdict(refund) for refund in order.refunds],
        "shipment": order.shipment,
        "deliveries": order.deliveries,
        "version": order.version + 1,
        "customer_id": order.customer_id,
        # A customer's orders, newest first (GET /orders): keyed by the sub, which never changes,
        # unlike an e-mail address. Orders from before sign-in have no owner and are in no list.
        **(customer_index_key(order.customer_id, order.created_at, order.order_id) if order.customer_id else {}),
    }


def customer_index_key(customer_id: str, created_at: str, order_id: str) -> dict[str, str]:
    return {"gsi1pk": f"CUSTOMER#{customer_id}", "gsi1sk": f"ORDER#{created_at}#{order_id}"}


def order_from_item(item: dict[str, Any]) -> Order:
    return Order(
        order_id=item["order_id"],
        customer_email=item["customer_email"],
        lines=[Line(**line) for line in item["lines"]],
        currency=item["currency"],
        payment_token=item["payment_token"],
        shipping_address=item.get("shipping_address"),
        delivery_address=item.get("delivery_address"),
        created_at=item["created_at"],
        timeline=[TimelineEntry(**entry) for entry in item.get("timeline", [])],
        payment_id=item.get("payment_id"),
        version=int(item["version"]),
        customer_id=item.get("customer_id"),
        locale=item.get("locale"),
        delivery=item.get("delivery"),
        charge_started=bool(item.get("charge_started", False)),
        cancellation=Cancellation(**item["cancellation"]) if item.get("cancellation") else None,
        refunds=[Refund(**refund) for refund in item.get("refunds", [])],
        shipment=dict(item.get("shipment") or {}),
        deliveries={sku: dict(facts) for sku, facts in (item.get("deliveries") or {}).items()},
        saved_status=item.get("status"),
        # Orders saved before status_version existed count from 0: their next status change is 1.
        status_version=int(item.get(STATUS_VERSION, 0)),
    )


class OrdersUnitOfWork(UnitOfWork):
    """One transaction on the orders table: the use cases' writes, events and processed-marker."""

    def save_order(self, order: Order) -> None:
        """Optimistic concurrency: the write fails if anyone saved the order since we read it."""
        if order.version == 0:
            self.put(order_item(order), condition="attribute_not_exists(pk)", conflict=OrderChangedSinceRead)
        else:
            self.put(
                order_item(order), condition="version = :read", conflict=OrderChangedSinceRead, values={":read": order.version}
            )

    def save_request(self, idempotency_key: str, fingerprint: str, order_id: str) -> None:
        self.put(
            {**request_key(idempotency_key), ITEM_TYPE: "request", "fingerprint": fingerprint, "order_id": order_id},
            condition="attribute_not_exists(pk)",
            conflict=IdempotencyKeyTaken,
        )

    def save_product_view(self, view: ProductView) -> None:
        # The storefront's list is the sparse index gsi1: a retired product leaves it.
        listed = {} if view.retired else {"gsi1pk": "PRODUCT_VIEW", "gsi1sk": view.sku}
        self.put(
            {**product_view_key(view.sku), ITEM_TYPE: "product_view", **asdict(view), **listed},
            # Deliveries may come out of order: never let an older revision overwrite a newer one.
            condition="attribute_not_exists(pk) OR revision < :revision",
            conflict=ProductViewNotNewer,
            values={":revision": view.revision},
        )

    def retire_product_view(self, sku: str, revision: int) -> None:
        """Mark the view retired at `revision`, keeping what it knew; a retirement arriving before the
        product's first publication leaves a tombstone that the older publication cannot overwrite."""
        self.update(
            product_view_key(sku),
            "SET #type = :type, sku = :sku, revision = :revision, retired = :retired REMOVE gsi1pk, gsi1sk",
            condition="attribute_not_exists(pk) OR revision < :revision",
            conflict=ProductViewNotNewer,
            names={"#type": ITEM_TYPE},
            values={":type": "product_view", ":sku": sku, ":revision": revision, ":retired": True},
        )


class OrdersRepository:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=to_dynamodb(key), ConsistentRead=True).get("Item")
        return from_dynamodb(item) if item else None

    def order(self, order_id: str) -> Order | None:
        item = self._get(order_key(order_id))
        return order_from_item(item) if item else None

    def request(self, idempotency_key: str) -> dict[str, Any] | None:
        return self._get(request_key(idempotency_key))

    def product_views(self, skus: list[str]) -> dict[str, ProductView]:
        views = {}
        for sku in set(skus):
            item = self._get(product_view_key(sku))
            if item:
                views[sku] = _view(item)
        return views

    def customer_orders(
        self, customer_id: str, *, limit: int, after: dict[str, str] | None
    ) -> tuple[list[Order], dict[str, str] | None]:
        """One page of a customer's orders, newest first, and where the next page starts (None: no more)."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :customer AND begins_with(gsi1sk, :orders)",
            "ExpressionAttributeValues": {":customer": {"S": f"CUSTOMER#{customer_id}"}, ":orders": {"S": "ORDER#"}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            query["ExclusiveStartKey"] = to_dynamodb(after)
        page = self._client.query(**query)
        # The index holds the whole order item (projection ALL), so no second read per order.
        orders = [order_from_item(from_dynamodb(item)) for item in page["Items"]]
        last = page.get("LastEvaluatedKey")
        return orders, ({k: str(v) for k, v in from_dynamodb(last).items()} if last else None)

    def all_product_views(self) -> list[ProductView]:
        paginator = self._client.get_paginator("query")
        views = []
        for page in paginator.paginate(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :views",
            ExpressionAttributeValues={":views": {"S": "PRODUCT_VIEW"}},
        ):
            views += [_view(from_dynamodb(item)) for item in page["Items"]]
        return views


def _view(item: dict[str, Any]) -> ProductView:
    # A tombstone (retired before orders saw it published) has no name, kind or price: it is never sold.
    return ProductView(
        sku=item["sku"],
        name=item.get("name", ""),
        kind=item.get("kind", "physical"),
        price_amount=int(item.get("price_amount", 0)),
        currency=item.get("currency", ""),
        revision=int(item["revision"]),
        product_type=item.get("product_type"),
        access=item.get("access"),
        retired=bool(item.get("retired", False)),
    )
