"""Deliver through SendGrid's v3 Mail Send API with the official ``sendgrid`` client."""

from __future__ import annotations

import http.client
import json
import logging
from email.utils import parseaddr

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from digest.errors import MailConfigError, PermanentDeliveryError, TransientDeliveryError
from digest.mail import OutgoingEmail, SentEmail

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30
# 408, 429 and server errors are worth retrying, but other 4xx statuses mean the request itself is wrong.
_TRANSIENT_STATUSES = frozenset({408, 429})


class SendGridBackend:
    name = "sendgrid"

    def __init__(self, api_key: str, host: str = "https://api.sendgrid.com",
                 timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.host = host
        self.timeout = timeout
        self.client = SendGridAPIClient(api_key=api_key, host=host)
        # The client sets no timeout of its own; without one a stalled connection blocks a worker.
        # python_http_client passes this attribute to urllib for every request.
        self.client.client.timeout = timeout

    def send(self, email: OutgoingEmail) -> SentEmail:
        try:
            response = self.client.send(build_request_body(email))
        except HTTPError as exc:
            raise _status_error(exc.status_code, exc.body) from exc
        except TimeoutError as exc:
            raise TransientDeliveryError(
                f"SendGrid at {self.host} timed out: no response within {self.timeout} s."
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            # urllib wraps a refused or timed-out connection in URLError, an OSError.
            if isinstance(getattr(exc, "reason", None), TimeoutError):
                raise TransientDeliveryError(
                    f"SendGrid at {self.host} timed out: no connection within {self.timeout} s."
                ) from exc
            raise TransientDeliveryError(
                f"SendGrid at {self.host} could not be reached ({exc}): check DIGEST_SENDGRID_HOST."
            ) from exc

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


def _status_error(status: int, body: bytes | str | None) -> TransientDeliveryError | PermanentDeliveryError:
    """Turn an HTTP error response into a TransientDeliveryError, MailConfigError or PermanentDeliveryError."""
    detail, fields = _error_detail(body)
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientDeliveryError(f"SendGrid returned HTTP {status} ({detail}), a temporary failure: retry later.")
    if status == 401:
        return MailConfigError(
            f"SendGrid rejected the API key with HTTP 401 ({detail}): "
            "check that DIGEST_SENDGRID_API_KEY is a current SendGrid API key."
        )
    if status == 403:
        return MailConfigError(
            f"SendGrid rejected the request with HTTP 403 ({detail}): "
            "check that the key in DIGEST_SENDGRID_API_KEY has the Mail Send permission "
            "and that DIGEST_MAIL_FROM is a sender verified in SendGrid."
        )
    if any(field == "from" or field.startswith("from.") for field in fields):
        # Every message has the sender DIGEST_MAIL_FROM, so SendGrid rejects them all the same way.
        return MailConfigError(
            f"SendGrid rejected the sender with HTTP {status} ({detail}): "
            "set DIGEST_MAIL_FROM to a valid address of a sender verified in SendGrid."
        )
    return PermanentDeliveryError(
        f"SendGrid rejected the message with HTTP {status} ({detail}): fix the field SendGrid names, "
        "and for from.email set DIGEST_MAIL_FROM to a sender verified in SendGrid."
    )


def _error_detail(body: bytes | str | None) -> tuple[str, list[str]]:
    """Return SendGrid's error messages with the fields they name, and those fields.

    An unexpected body gives its first 300 characters and no fields.
    """
    if not body:
        return "no details given", []
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        errors = json.loads(text).get("errors", [])
        messages = [
            f"{error.get('message')} (field {error['field']})" if error.get("field") else str(error.get("message"))
            for error in errors
        ]
        fields = [str(error["field"]) for error in errors if error.get("field")]
    except (ValueError, AttributeError, TypeError):
        return text[:300], []
    return "; ".join(messages) or text[:300], fields
