"""The mail port's SES adapter.

SES takes no idempotency key and cannot be asked whether it accepted a message, so the adapter
tells its caller which failures leave the send unknown: a request that reached SES and whose answer
was lost. Its client must not retry by itself (botocore would resend on a read timeout): see app.py.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from chalicelib.emails import Email
from chalicelib.once import SendOutcomeUnknown


class SesMailer:
    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send(self, email: Email) -> str:
        try:
            response = self._client.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [email.to]},
                Message={
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {
                        "Text": {"Data": email.text, "Charset": "UTF-8"},
                        "Html": {"Data": email.html, "Charset": "UTF-8"},
                    },
                },
            )
        except (ReadTimeoutError, ConnectionClosedError) as lost:
            # The request went out; whether SES acted on it is unknowable from here.
            raise SendOutcomeUnknown(str(lost)) from lost
        return str(response["MessageId"])
