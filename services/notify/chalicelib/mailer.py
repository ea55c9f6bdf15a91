"""The mail port and its SES adapter."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.emails import Email


class Mailer(Protocol):
    def send(self, email: Email) -> str:
        """Send; return the provider's message id."""


class SesMailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, email: Email) -> str:
        response = self._client.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [email.to]},
            Message={
                "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": email.body, "Charset": "UTF-8"}},
            },
        )
        return str(response["MessageId"])
