"""The shop's wiring, as data: who owns what, who publishes what, who listens to what.

Read this to follow the order flow (docs/design-rules.md#flow):
  POST /orders ─ OrderPlaced ─▶ catalog.reserve-stock ─ StockReserved ─▶ orders.charge-payment
  ─ PaymentCaptured ─▶ fulfillment.request-shipment ─ ShipmentRequested ─▶ orders.order-history
                   └▶ notify.order-emails (one e-mail per order outcome)
  OrderPlaced v1+v2 ─▶ fulfillment.delivery-addresses (structured address for the shipment)
  staff pack ─ ShipmentPacked ─▶ fulfillment.instruct-logistics (3PL API) ─ ShipmentInstructed
                              └▶ fulfillment.carrier-list (the day's Yamato B2 CSV in S3)
  3PL tracking webhook ─ ShipmentDispatched, ShipmentDelivered;  OrderCancelled ─▶ fulfillment.cancel-shipment
  StockRejected ─▶ orders.order-history;   PaymentFailed ─▶ catalog.release-stock, notify.order-emails
  vod: upload ─ VideoUploaded ─▶ vod.transcode ─▶ VideoReady / VideoFailed
       PaymentCaptured ─▶ vod.grant-access ─ EntitlementGranted
       OrderCancelled / PaymentRefunded ─▶ vod.revoke-access ─ EntitlementRevoked
       EntitlementGranted / EntitlementRevoked ─▶ orders.digital-delivery (the line delivered / revoked)
       VideoReady / VideoFailed ─▶ notify.video-emails (the uploader)
       LiveShowStartingSoon + EntitlementGranted/Revoked (live tickets) + PaymentCaptured ─▶ notify.show-reminders
       ProductPublished / ProductUpdated / ProductRetired / StockLevelChanged ─▶ vod.product-view (timelines)
       ProductPinned / ProductUnpinned ─▶ vod.push-pins ─▶ the show's viewers (WebSocket)
  orders' table stream ─ OrderStatusChanged ─▶ vod.push-orders ─▶ the customer's storefront (WebSocket)
"""

from shop_eventing.topology import EventRef, ServiceSpec, Subscription, Topology

TOPOLOGY = Topology(
    services=(
        ServiceSpec(
            name="catalog",
            publishes=(
                EventRef("ProductPublished"),
                EventRef("ProductUpdated"),
                EventRef("ProductRetired"),
                EventRef("StockAdjusted"),
                EventRef("StockReserved"),
                EventRef("StockRejected"),
                EventRef("StockReleased"),
                EventRef("StockLevelChanged"),
            ),
            subscriptions=(
                Subscription("reserve-stock", events=(EventRef("OrderPlaced"),)),
                # Compensation: whatever an order reserved goes back when its payment fails or it is cancelled.
                Subscription("release-stock", events=(EventRef("PaymentFailed"), EventRef("OrderCancelled"))),
            ),
        ),
        ServiceSpec(
            name="vod",
            publishes=(
                EventRef("VideoUploaded"),
                EventRef("VideoReady"),
                EventRef("VideoFailed"),
                EventRef("EntitlementGranted"),
                EventRef("EntitlementRevoked"),
                EventRef("LiveShowStartingSoon"),
                EventRef("LiveShowStarted"),
                EventRef("LiveShowEnded"),
                EventRef("ProductPinned"),
                EventRef("ProductUnpinned"),
            ),
            subscriptions=(
                # vod hears its own VideoUploaded: the upload's HTTP request never waits for a transcoder.
                Subscription("transcode", events=(EventRef("VideoUploaded"),)),
                Subscription("grant-access", events=(EventRef("PaymentCaptured"),)),
                # Takes back what grant-access gave; its tombstones make a late grant grant nothing.
                Subscription("revoke-access", events=(EventRef("OrderCancelled"), EventRef("PaymentRefunded"))),
                # The products shown on a video's timeline: name, price, retirement (highest revision) and
                # stock level (highest stock_version), kept by vod so a player's timeline calls nobody.
                Subscription(
                    "product-view",
                    events=(
                        EventRef("ProductPublished"),
                        EventRef("ProductUpdated"),
                        EventRef("ProductRetired"),
                        EventRef("StockLevelChanged"),
                    ),
                ),
                # Pushes each pin and unpin to the show's viewers over the WebSocket API (chalicelib/push.py).
                Subscription("push-pins", events=(EventRef("ProductPinned"), EventRef("ProductUnpinned"))),
                # Pushes each order's status change to its customer's connections (chalicelib/push.py).
                Subscription("push-orders", events=(EventRef("OrderStatusChanged"),)),
            ),
        ),
        ServiceSpec(
            name="orders",
            # OrderPlaced v1 stays published until catalog.reserve-stock moves to v2.
            publishes=(
                EventRef("OrderPlaced", (1, 2)),
                EventRef("PaymentCaptured"),
                EventRef("PaymentFailed"),
                EventRef("OrderCancelled"),
                EventRef("PaymentRefunded"),
                EventRef("OrderStatusChanged"),
            ),
            subscriptions=(
                Subscription(
                    "product-view", events=(EventRef("ProductPublished"), EventRef("ProductUpdated"), EventRef("ProductRetired"))
                ),
                # One queue for the payment step alone: a slow gateway must not hold up order history.
                Subscription("charge-payment", events=(EventRef("StockReserved"),), batch_size=5),
                Subscription(
                    "order-history",
                    events=(
                        EventRef("StockRejected"),
                        EventRef("StockReleased"),
                        EventRef("ShipmentRequested"),
                        EventRef("ShipmentPacked"),
                        EventRef("ShipmentInstructed"),
                        EventRef("ShipmentDispatched"),
                        EventRef("ShipmentDelivered"),
                        EventRef("ShipmentCancelled"),
                    ),
                ),
                # Orders compensates its own part of a cancellation (the money) as every other service
                # does: from the event, on its own queue, so a slow gateway holds up nothing else.
                Subscription("refund-on-cancel", events=(EventRef("OrderCancelled"),), batch_size=5),
                # vod's word on each digital line: the order shows it delivered (or revoked).
                Subscription("digital-delivery", events=(EventRef("EntitlementGranted"), EventRef("EntitlementRevoked"))),
            ),
        ),
        ServiceSpec(
            name="fulfillment",
            publishes=(
                EventRef("ShipmentRequested"),
                EventRef("ShipmentPacked"),
                EventRef("ShipmentInstructed"),
                EventRef("ShipmentDispatched"),
                EventRef("ShipmentDelivered"),
                EventRef("ShipmentCancelled"),
            ),
            subscriptions=(
                Subscription("request-shipment", events=(EventRef("PaymentCaptured"),)),
                # Both majors during the migration, read as v2 through the registry's upcaster.
                Subscription("delivery-addresses", events=(EventRef("OrderPlaced", (1, 2)),)),
                # Fulfillment consumes its own ShipmentPacked: each hand-off is its own restartable step.
                # The 3PL may be down or rate-limiting for a while: more receives before the DLQ.
                Subscription("instruct-logistics", events=(EventRef("ShipmentPacked"),), batch_size=5, max_receive_count=10),
                Subscription("carrier-list", events=(EventRef("ShipmentPacked"),), batch_size=5),
                Subscription("cancel-shipment", events=(EventRef("OrderCancelled"),), batch_size=5, max_receive_count=10),
            ),
        ),
        ServiceSpec(
            name="notify",
            subscriptions=(
                # Everything the customer is told by e-mail, in one queue: it is all the same mailbox.
                Subscription(
                    "order-emails",
                    events=(
                        EventRef("PaymentCaptured"),
                        EventRef("PaymentFailed"),
                        EventRef("ShipmentDispatched"),
                        EventRef("ShipmentDelivered"),
                        EventRef("OrderCancelled"),
                        EventRef("PaymentRefunded"),
                    ),
                ),
                # The back office, each system behind its own queue and DLQ: a CRM that is down or
                # throttles holds up neither the customer's mail nor the accounts.
                Subscription(
                    "crm-sync",
                    events=(
                        EventRef("PaymentCaptured"),
                        EventRef("OrderCancelled"),
                        EventRef("PaymentRefunded"),
                        EventRef("ShipmentDispatched"),
                        EventRef("ShipmentDelivered"),
                    ),
                    batch_size=5,
                ),
                Subscription("sales-ledger", events=(EventRef("PaymentCaptured"), EventRef("PaymentRefunded"))),
                # The staff member who uploaded a video learns its outcome: not the customers' mailbox.
                Subscription("video-emails", events=(EventRef("VideoReady"), EventRef("VideoFailed"))),
                # 'The show starts soon' to each ticket holder: who holds a ticket (vod's grants and
                # revocations), how to reach them (the order's PaymentCaptured) and the announcement meet
                # in one subscription, whatever order they arrive in (chalicelib/reminders.py).
                Subscription(
                    "show-reminders",
                    events=(
                        EventRef("PaymentCaptured"),
                        EventRef("EntitlementGranted"),
                        EventRef("EntitlementRevoked"),
                        EventRef("LiveShowStartingSoon"),
                    ),
                ),
            ),
        ),
    )
)
