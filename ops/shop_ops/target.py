"""Which shop a command works on: an AWS stage (boto3's usual credentials) or the embedded stack
(an endpoint such as `make run`'s moto on http://127.0.0.1:5100, with the local credentials the
devstack gives its processes)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3

from shop_contracts import TOPOLOGY
from shop_eventing.topology import Naming, ServiceSpec, Subscription, Topology, subscriber_id

DEFAULT_ENDPOINT = "http://127.0.0.1:5100"
LOCAL_STAGE = "local"
# What shop_devstack.stack gives every local process; moto accepts any credentials, but they must exist.
LOCAL_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
    "region_name": "us-east-1",
}


@dataclass
class Target:
    """One shop: its resource names (`naming`), a boto3 session and, for the embedded stack, its endpoint."""

    naming: Naming
    session: boto3.Session
    endpoint_url: str | None = None
    topology: Topology = TOPOLOGY
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def local(self) -> bool:
        """The embedded stack: moto lacks StartMessageMoveTask and SQS metrics in CloudWatch."""
        return self.endpoint_url is not None

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self.session.client(name, endpoint_url=self.endpoint_url)
        return self._clients[name]

    def describe(self) -> str:
        where = f"the embedded stack at {self.endpoint_url}" if self.local else f"AWS ({self.session.region_name})"
        return f"stage {self.naming.stage} on {where}"

    def subscription(self, name: str) -> tuple[ServiceSpec, Subscription]:
        """A subscription by its topology name, `service.subscription` (e.g. notify.order-emails)."""
        service, _, subscription = name.partition(".")
        try:
            spec = self.topology.service(service)
            return spec, spec.subscription(subscription)
        except KeyError:
            known = ", ".join(subscriber_id(s, sub) for s, sub in self.topology.subscriptions())
            raise UnknownSubscriber(f"no subscriber {name!r}; the topology has: {known}") from None


__all__ = ["Target", "UnknownSubscriber", "aws", "embedded", "resolve", "subscriber_id"]


class UnknownSubscriber(ValueError):
    pass


def embedded(endpoint_url: str = DEFAULT_ENDPOINT, stage: str = LOCAL_STAGE) -> Target:
    return Target(Naming(stage=stage), boto3.Session(**LOCAL_CREDENTIALS), endpoint_url)


def aws(stage: str, *, profile: str | None = None, region: str | None = None) -> Target:
    return Target(Naming(stage=stage), boto3.Session(profile_name=profile, region_name=region))


def resolve(stage: str | None, endpoint_url: str | None, *, profile: str | None = None, region: str | None = None) -> Target:
    """`--endpoint` (or AWS_ENDPOINT_URL) means the embedded stack, stage `local` unless named; `--stage`
    alone means that stage on AWS; neither means `make run`'s embedded stack."""
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint_url:
        return embedded(endpoint_url, stage or LOCAL_STAGE)
    if stage and stage != LOCAL_STAGE:
        return aws(stage, profile=profile, region=region)
    return embedded(DEFAULT_ENDPOINT, LOCAL_STAGE)
