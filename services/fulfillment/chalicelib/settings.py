"""Configuration the adapters read once per process (cold start).

A secret (the 3PL's API token, the tracking webhook's shared secret) comes from its environment
variable where one is set (the embedded stack sets them), otherwise from the SSM SecureString parameter
the variable `<NAME>_PARAMETER` names (on AWS: /shop/<stage>/fulfillment/..., created by a person)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from chalicelib.domain import Shipper


def secret(name: str, read_parameter: Callable[[str], str], environ: Mapping[str, str] = os.environ) -> str:
    """`read_parameter` reads an SSM SecureString by name (app.py gives it its SSM client). "" when neither is set."""
    value = environ.get(name)
    if value:
        return value
    parameter = environ.get(f"{name}_PARAMETER")
    return read_parameter(parameter) if parameter else ""


def shipper(environ: Mapping[str, str] = os.environ) -> Shipper:
    """The shop as the sender on carrier labels (the B2 CSV's ご依頼主 columns)."""
    return Shipper(
        name=environ.get("SHOP_SHIPPER_NAME", "VODショップ"),
        phone=environ.get("SHOP_SHIPPER_PHONE", "03-0000-0000"),
        postal_code=environ.get("SHOP_SHIPPER_POSTAL_CODE", "100-0001"),
        address=environ.get("SHOP_SHIPPER_ADDRESS", "東京都千代田区千代田1-1"),
        billing_customer_code=environ.get("SHOP_YAMATO_CUSTOMER_CODE", "000000000000"),
    )
