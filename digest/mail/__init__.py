"""Mail delivery: an :class:`EmailMessage` value and the backends that deliver it.

Backends: ``outbox`` (``.eml`` files in a folder), ``smtp`` and ``sendgrid``.
Each raises :class:`~digest.errors.TransientDeliveryError` for failures worth
retrying, its subclass :class:`~digest.errors.MailConfigError` when a mail
setting is wrong so that every message would fail, and
:class:`~digest.errors.PermanentDeliveryError` when retrying this message will
fail again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from digest.config import Settings


@dataclass(frozen=True)
class OutgoingEmail:
    """One rendered email, ready for any backend."""

    sender: str
    recipient: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    #: A short tag such as ``digest`` or ``confirm``, used in file names and provider categories.
    kind: str = "digest"


@dataclass(frozen=True)
class SentEmail:
    """A backend's receipt for an accepted message."""

    message_id: str
    location: str | None = None


class MailBackend(Protocol):
    """Delivers one message; raises a DeliveryError subclass when it cannot."""

    name: str

    def send(self, email: OutgoingEmail) -> SentEmail: ...


def make_backend(settings: Settings) -> MailBackend:
    """Build the backend ``settings.mail_backend`` names."""
    if settings.mail_backend == "sendgrid":
        from digest.mail.sendgrid import SendGridBackend

        return SendGridBackend(api_key=settings.sendgrid_api_key or "", host=settings.sendgrid_host)
    if settings.mail_backend == "smtp":
        from digest.mail.smtp import SMTPBackend

        return SMTPBackend(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    from digest.mail.outbox import OutboxBackend

    return OutboxBackend(settings.outbox_dir)
