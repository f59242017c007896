"""Deliver through SendGrid's v3 Mail Send API with the official ``sendgrid`` client."""

from __future__ import annotations

import json
import logging
import urllib.error
from email.utils import parseaddr

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from digest.errors import PermanentDeliveryError, TransientDeliveryError
from digest.mail import OutgoingEmail, SentEmail

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30
# 408, 429 and server errors pass; other 4xx answers mean the request itself is wrong.
_TRANSIENT_STATUSES = frozenset({408, 429})


class SendGridBackend:
    name = "sendgrid"

    def __init__(self, api_key: str, host: str = "https://api.sendgrid.com") -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        # The client sets no timeout of its own; without one a stalled connection blocks a worker.
        self.client.client.timeout = REQUEST_TIMEOUT_SECONDS

    def send(self, email: OutgoingEmail) -> SentEmail:
        try:
            response = self.client.send(build_request_body(email))
        except HTTPError as exc:
            detail = _error_detail(exc.body)
            if exc.status_code in _TRANSIENT_STATUSES or exc.status_code >= 500:
                raise TransientDeliveryError(f"SendGrid answered HTTP {exc.status_code}: {detail}") from exc
            raise PermanentDeliveryError(
                f"SendGrid rejected the message with HTTP {exc.status_code}: {detail}. "
                "Check DIGEST_SENDGRID_API_KEY and the sender address verified in SendGrid."
            ) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransientDeliveryError(f"SendGrid could not be reached ({exc}).") from exc

        message_id = response.headers.get("X-Message-Id") or ""
        log.info("SendGrid accepted %s message %s", email.kind, message_id)
        return SentEmail(message_id=message_id)


def build_request_body(email: OutgoingEmail) -> dict:
    """Return the v3 ``/mail/send`` JSON body for one message."""
    return {
        "personalizations": [{"to": [_address(email.recipient)]}],
        "from": _address(email.sender),
        "subject": email.subject,
        # SendGrid requires text/plain before text/html.
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
        "headers": dict(email.headers),
        "categories": [email.kind],
    }


def _address(value: str) -> dict[str, str]:
    name, address = parseaddr(value)
    return {"email": address, "name": name} if name else {"email": address}


def _error_detail(body: bytes | str | None) -> str:
    if not body:
        return "no details given"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors", [])
        return "; ".join(str(error.get("message")) for error in errors) or text[:300]
    except (ValueError, AttributeError):
        return text[:300]
