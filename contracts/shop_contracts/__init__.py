"""The shop's event contracts and wiring. Import `REGISTRY` and `TOPOLOGY` from here."""

from shop_contracts.events import REGISTRY
from shop_contracts.topology import TOPOLOGY

__all__ = ["REGISTRY", "TOPOLOGY"]
