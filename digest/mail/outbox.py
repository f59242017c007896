"""Write each message to a folder as a standard ``.eml`` file, with an ``.html`` copy to open in a browser."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from digest.errors import MailConfigError
from digest.mail import OutgoingEmail, SentEmail
from digest.mail.mime import build_mime

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxBackend:
    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, email: OutgoingEmail) -> SentEmail:
        message = build_mime(email)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        stem = f"{stamp}-{email.kind}-{_UNSAFE.sub('_', email.recipient)}"
        eml_path = self.directory / f"{stem}.eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            eml_path.write_bytes(message.as_bytes())
            eml_path.with_suffix(".html").write_text(email.html, encoding="utf-8")
        except OSError as exc:
            # Every message goes to the same folder, so no message can be written until the operator
            # fixes it. The file name contains the recipient's address, so the error names only the folder.
            raise MailConfigError(
                f"Writing a message to the outbox folder {str(self.directory)!r} failed ({exc.strerror}): "
                "check that DIGEST_OUTBOX_DIR names a writable folder."
            ) from exc
        log.info("Wrote %s message %s to the outbox", email.kind, message["Message-ID"])
        return SentEmail(message_id=message["Message-ID"], location=str(eml_path))
