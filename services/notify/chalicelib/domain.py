"""notify's rules, plain Python (no AWS SDK, no HTTP client; `make lint` checks this module and
everything it imports): what each e-mail says, sending each at most once, the CRM's view of an
order, the sales ledger's lines and days, the uploader's e-mails and the live shows'
reminders. Each lives in its own module; this one gathers them."""

from chalicelib.crm import Crm, OrderView, OrderViews, merge, sync_order
from chalicelib.emails import DEFAULT_LOCALE, LOCALES, TEMPLATE_FOR, Email, email_for, format_money
from chalicelib.ledger import LedgerEntries, LedgerObjects, book, business_day, ledger_lines, object_key, render_day
from chalicelib.once import Mailer, Outcome, SendKey, SendOutcomeUnknown, SendRecord, SendRecords, send_once
from chalicelib.reminders import (
    Announcement,
    Contact,
    ShowRoster,
    TicketHolder,
    on_announced,
    on_entitlement,
    on_payment_captured,
)

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "TEMPLATE_FOR",
    "Announcement",
    "Contact",
    "Crm",
    "Email",
    "LedgerEntries",
    "LedgerObjects",
    "Mailer",
    "OrderView",
    "OrderViews",
    "Outcome",
    "SendKey",
    "SendOutcomeUnknown",
    "SendRecord",
    "SendRecords",
    "ShowRoster",
    "TicketHolder",
    "book",
    "business_day",
    "email_for",
    "format_money",
    "ledger_lines",
    "merge",
    "object_key",
    "on_announced",
    "on_entitlement",
    "on_payment_captured",
    "render_day",
    "send_once",
    "sync_order",
]
