"""The shop's event backbone, shared by every service and packaged into each deployment.

- `envelope`: the domain-event envelope (metadata + data) and the registry of event contracts.
- `topology`: the declarative description of tables, publications and subscriptions, and AWS names
  (the control plane, shop_infra, turns it into resources; it is not packaged into a Lambda).
- `outbox`: a unit of work that commits state and outgoing events in one TransactWriteItems.
- `relay`: the stream-fed outbox relay that puts events on EventBridge.
- `consumer`: the idempotent SQS subscriber with partial batch failures.
"""
