"""Build standard MIME messages (multipart/alternative, UTF-8) from an OutgoingEmail."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from digest.mail import OutgoingEmail

# Non-ASCII bodies get quoted-printable or base64, never 8bit: smtplib does not send
# BODY=8BITMIME, and RFC 6152 forbids 8-bit data over SMTP without it.
SEVEN_BIT_POLICY = email.policy.default.clone(cte_type="7bit")


def build_mime(email: OutgoingEmail) -> EmailMessage:
    """Return the message with a plain-text part, an HTML part and a fresh Message-ID."""
    message = EmailMessage(policy=SEVEN_BIT_POLICY)
    message["From"] = email.sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text, subtype="plain", charset="utf-8")
    message.add_alternative(email.html, subtype="html", charset="utf-8")
    return message
