"""A recording SMTP server on 127.0.0.1 for tests, built on aiosmtpd.

The server keeps every message it accepts as raw bytes with its envelope.
Tests can make it reject RCPT TO or DATA with a chosen reply, and can require
a login checked against one user name and password.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: the envelope addresses and the bytes sent after DATA."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parse(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class RecordingHandler:
    """An aiosmtpd handler that stores accepted messages, or rejects a command whose reply a test has set."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMessage] = []
        #: A full SMTP reply line such as ``"451 4.3.0 Try again later"``, or None to accept.
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.messages.append(ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=envelope.original_content,
        ))
        return "250 2.0.0 Message accepted"


class _AnyPortController(Controller):
    """A Controller that may bind port 0: it reads the port the OS chose before its start-up check connects."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class LocalSMTPServer:
    """An SMTP server on 127.0.0.1 with an OS-chosen port, used as a context manager.

    With ``login`` set to ``(username, password)`` the server offers AUTH PLAIN
    and LOGIN without TLS and accepts only that pair. Without it, the server
    offers no AUTH at all. ``smtputf8=False`` stops it offering SMTPUTF8, which
    non-ASCII addresses need.
    """

    def __init__(self, login: tuple[str, str] | None = None, *, smtputf8: bool = True) -> None:
        self.handler = RecordingHandler()
        self.login = login
        #: A reply line that every login attempt gets, such as ``"454 4.7.0 Try later"``, or None to check the pair.
        self.login_reply: str | None = None
        options: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if login is not None:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        # server_hostname keeps aiosmtpd from looking up this machine's fully qualified name.
        self._controller = _AnyPortController(
            self.handler, hostname="127.0.0.1", port=0, server_hostname="localhost", **options
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LocalSMTPServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if self.login_reply is not None:
            return AuthResult(success=False, handled=False, message=self.login_reply)
        if not isinstance(auth_data, LoginPassword) or self.login is None:
            return AuthResult(success=False, handled=False)
        username, password = self.login
        accepted = auth_data.login.decode() == username and auth_data.password.decode() == password
        return AuthResult(success=accepted, handled=False)
