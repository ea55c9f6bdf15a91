"""StockLevelChanged from the catalog table's change stream (change data capture).

Every write that changes a product's stock bumps its `stock_version` in the same update (repository),
so this feed needs to know no use case: a product item whose stock_version moved announces its units
on hand at that version. The relay calls it for every stream record it reads (shop_eventing.relay,
ChangeFeed) and publishes what it returns beside the outbox's events.

The event_id derives from (sku, stock_version) and the time from the stream record: a redelivered
record, or the same level read again, is the very same event, which consumers de-duplicate.
"""

from __future__ import annotations

import uuid

from chalicelib.repository import PRODUCT_ITEM_TYPE, STOCK_VERSION
from shop_contracts.events import StockLevelChangedV1
from shop_eventing.envelope import DomainEvent, new_event
from shop_eventing.outbox import ITEM_TYPE
from shop_eventing.relay import StreamChange

SOURCE = "shop.catalog"
# Fixed forever: the event ids of levels already published derive from it.
STOCK_LEVEL_NAMESPACE = uuid.UUID("a32496bf-44e0-4a1a-9e96-4eb668a07730")


def stock_level_event_id(sku: str, stock_version: int) -> str:
    return str(uuid.uuid5(STOCK_LEVEL_NAMESPACE, f"{sku}#{stock_version}"))


def stock_level_changes(change: StreamChange) -> list[DomainEvent]:
    """StockLevelChanged for a product item whose stock_version changed; nothing for any other write
    (a rename, a price, a publication, the outbox, reservations) or a removal."""
    new = change.new
    if new.get(ITEM_TYPE) != PRODUCT_ITEM_TYPE or new.get(STOCK_VERSION) is None or new.get("stock") is None:
        return []
    version = int(new[STOCK_VERSION])
    if change.old.get(STOCK_VERSION) == version:
        return []
    sku = str(new["sku"])
    level = StockLevelChangedV1(sku=sku, on_hand=int(new["stock"]), stock_version=version)
    return [
        new_event(
            level,
            producer=SOURCE,
            correlation_id=f"product:{sku}",
            event_id=stock_level_event_id(sku, version),
            now=change.written_at,
        )
    ]
