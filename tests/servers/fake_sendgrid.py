"""A fake SendGrid v3 Mail Send API that tests run on 127.0.0.1.

``POST /v3/mail/send`` is checked in the order SendGrid checks it: the
``Authorization: Bearer <key>`` header first (401 when it is missing or wrong),
then the JSON body (400 naming the invalid field). An accepted request gets 202
with an empty body and an ``X-Message-Id`` header, and is recorded for
assertions. Error bodies have SendGrid's shape::

    {"errors": [{"message": "...", "field": "from.email", "help": null}]}

Tests can make the server respond with a chosen status, or hold requests
without a response until it stops, for the next N requests.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAIL_SEND_PATH = "/v3/mail/send"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
# NOTE: SendGrid sets these headers itself and rejects them in ``headers``. The names
# follow the list that SendGrid client libraries skip; they were not checked against the live API.
RESERVED_HEADERS = frozenset({
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding",
    "to", "from", "subject", "reply-to", "cc", "bcc",
})
DEFAULT_ERROR_MESSAGES = {
    400: "The request is invalid.",
    401: "Authorization failed: the API key is missing, invalid or revoked.",
    403: "The API key lacks the permission this request needs.",
    413: "The request is larger than the Mail Send limit.",
    429: "Too many requests: the rate limit was exceeded.",
    500: "An internal server error occurred.",
    502: "The upstream server failed.",
    503: "The service is temporarily unavailable.",
}


@dataclass(frozen=True)
class ReceivedRequest:
    """One accepted Mail Send request: its headers (names in lower case), its JSON body and the X-Message-Id returned."""

    headers: dict[str, str]
    body: dict[str, Any]
    message_id: str


@dataclass(frozen=True)
class _ScriptedAnswer:
    #: ``None`` means: keep the request open with no response until the server stops.
    status: int | None
    message: str


class InvalidMailSend(Exception):
    """A Mail Send body that SendGrid would reject with 400, and the dotted path of the field at fault."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class FakeSendGrid:
    """A Mail Send server for one API key, used as a context manager or through start() and stop()."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.accepted: list[ReceivedRequest] = []
        #: The status code of every response sent, in order. Held requests get no response, so none is listed.
        self.statuses: list[int] = []
        self._scripted: deque[_ScriptedAnswer] = deque()
        self._lock = threading.Lock()
        self._release_held = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The fake SendGrid server is not running: call start() first.")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to pass as the backend's ``host``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _MailSendHandler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # A short poll interval keeps stop() from waiting the default half second.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-sendgrid", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        # Held requests end first, so that no handler thread outlives the test.
        self._release_held.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSendGrid:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def fail_next(self, status: int, count: int = 1, message: str | None = None) -> None:
        """Respond to the next ``count`` requests with ``status`` and an error body, before any check."""
        text = message or DEFAULT_ERROR_MESSAGES.get(status, f"HTTP {status}.")
        with self._lock:
            self._scripted.extend(_ScriptedAnswer(status, text) for _ in range(count))

    def stall_next(self, count: int = 1) -> None:
        """Read the next ``count`` requests and send no response until the server stops."""
        with self._lock:
            self._scripted.extend(_ScriptedAnswer(None, "") for _ in range(count))

    def recipients(self) -> list[str]:
        """Return the ``to`` addresses of every accepted request, in order."""
        return [
            address["email"]
            for request in self.accepted
            for personalization in request.body["personalizations"]
            for address in personalization["to"]
        ]

    def _next_scripted(self) -> _ScriptedAnswer | None:
        with self._lock:
            return self._scripted.popleft() if self._scripted else None

    def _record_status(self, status: int) -> None:
        with self._lock:
            self.statuses.append(status)

    def _record_accepted(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.accepted.append(request)


class _MailSendHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeSendGrid/1.0"

    def do_POST(self) -> None:
        fake: FakeSendGrid = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length)

        if self.path != MAIL_SEND_PATH:
            self._send_errors(fake, 404, f"No endpoint at {self.path}: this server serves {MAIL_SEND_PATH}.")
            return

        scripted = fake._next_scripted()
        if scripted is not None and scripted.status is None:
            fake._release_held.wait()
            self.close_connection = True
            return
        if scripted is not None:
            self._send_errors(fake, scripted.status, scripted.message)
            return

        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            self._send_errors(fake, 401, DEFAULT_ERROR_MESSAGES[401])
            return

        try:
            body = json.loads(raw_body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._send_errors(fake, 400, "The request body is not valid JSON.")
            return
        try:
            check_mail_send_body(body)
        except InvalidMailSend as exc:
            self._send_errors(fake, 400, exc.message, exc.field)
            return

        message_id = uuid.uuid4().hex[:22]
        fake._record_accepted(ReceivedRequest(
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            message_id=message_id,
        ))
        fake._record_status(202)
        self.send_response(202)
        self.send_header("X-Message-Id", message_id)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_errors(self, fake: FakeSendGrid, status: int, message: str, field: str | None = None) -> None:
        payload = json.dumps({"errors": [{"message": message, "field": field, "help": None}]}).encode("utf-8")
        fake._record_status(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # The default handler prints every request to stderr, which clutters pytest's output.
        pass


def check_mail_send_body(body: Any) -> None:
    """Raise InvalidMailSend for the first rule of the v3 Mail Send body that ``body`` breaks."""
    if not isinstance(body, dict):
        raise InvalidMailSend("The request body must be a JSON object.", None)

    template_id = body.get("template_id")
    if template_id is not None and not _is_text(template_id):
        raise InvalidMailSend("The template_id must be a non-empty string.", "template_id")

    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        raise InvalidMailSend("At least one personalization is required.", "personalizations")
    if len(personalizations) > MAX_PERSONALIZATIONS:
        raise InvalidMailSend(
            f"{len(personalizations)} personalizations were given: the maximum is {MAX_PERSONALIZATIONS}.",
            "personalizations",
        )
    recipient_count = 0
    for index, personalization in enumerate(personalizations):
        recipient_count += _check_personalization(personalization, f"personalizations.{index}")
    if recipient_count > MAX_RECIPIENTS:
        raise InvalidMailSend(
            f"{recipient_count} recipients were given: the maximum is {MAX_RECIPIENTS}.", "personalizations"
        )

    if "from" not in body:
        raise InvalidMailSend("The from object is required.", "from")
    _check_address(body["from"], "from")

    if template_id is None:
        _check_subject(body, personalizations)
        _check_content(body.get("content"))
    if "headers" in body:
        _check_headers(body["headers"], "headers")
    if "categories" in body:
        _check_categories(body["categories"])


def _check_personalization(personalization: Any, field: str) -> int:
    if not isinstance(personalization, dict):
        raise InvalidMailSend("Each personalization must be a JSON object.", field)
    to = personalization.get("to")
    if not isinstance(to, list) or not to:
        raise InvalidMailSend("Each personalization needs a non-empty to list.", f"{field}.to")

    seen: set[str] = set()
    count = 0
    for kind in ("to", "cc", "bcc"):
        addresses = personalization.get(kind, [])
        if not isinstance(addresses, list):
            raise InvalidMailSend(f"The {kind} value must be a list of address objects.", f"{field}.{kind}")
        for index, address in enumerate(addresses):
            _check_address(address, f"{field}.{kind}.{index}")
            email = address["email"].lower()
            if email in seen:
                raise InvalidMailSend(
                    f"{address['email']} appears more than once in one personalization.", f"{field}.{kind}.{index}"
                )
            seen.add(email)
            count += 1

    if "subject" in personalization and not _is_text(personalization["subject"]):
        raise InvalidMailSend("A personalization's subject must be a non-empty string.", f"{field}.subject")
    if "headers" in personalization:
        _check_headers(personalization["headers"], f"{field}.headers")
    return count


def _check_address(address: Any, field: str) -> None:
    if not isinstance(address, dict):
        raise InvalidMailSend("An address must be an object with an email and an optional name.", field)
    email = address.get("email")
    if not _is_text(email) or not _looks_like_address(email):
        raise InvalidMailSend(f"{email!r} is not a valid email address.", f"{field}.email")
    if "name" in address and not isinstance(address["name"], str):
        raise InvalidMailSend("An address's name must be a string.", f"{field}.name")


def _looks_like_address(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and "." in domain and not any(character.isspace() for character in email))


def _check_subject(body: dict, personalizations: list) -> None:
    if "subject" in body:
        if not _is_text(body["subject"]):
            raise InvalidMailSend("The subject must be a non-empty string.", "subject")
        return
    if not all("subject" in personalization for personalization in personalizations):
        raise InvalidMailSend(
            "The subject is required, at the top level or in every personalization, unless a template_id is given.",
            "subject",
        )


def _check_content(content: Any) -> None:
    if not isinstance(content, list) or not content:
        raise InvalidMailSend("At least one content item is required unless a template_id is given.", "content")
    for index, item in enumerate(content):
        if not isinstance(item, dict):
            raise InvalidMailSend("Each content item must be an object with a type and a value.", f"content.{index}")
        if not _is_text(item.get("type")):
            raise InvalidMailSend("The content type must be a non-empty string.", f"content.{index}.type")
        if not _is_text(item.get("value")):
            raise InvalidMailSend("The content value must be a non-empty string.", f"content.{index}.value")
    types = [item["type"] for item in content]
    if "text/plain" in types and types[0] != "text/plain":
        raise InvalidMailSend("When text/plain content is given, it must be the first content item.", "content.0.type")


def _check_headers(headers: Any, field: str) -> None:
    if not isinstance(headers, dict):
        raise InvalidMailSend("The headers value must be an object of header names and string values.", field)
    for name, value in headers.items():
        if name.lower() in RESERVED_HEADERS:
            raise InvalidMailSend(f"The header {name} is reserved and cannot be set in headers.", f"{field}.{name}")
        if not isinstance(value, str):
            raise InvalidMailSend(f"The value of header {name} must be a string.", f"{field}.{name}")


def _check_categories(categories: Any) -> None:
    if not isinstance(categories, list) or len(categories) > MAX_CATEGORIES:
        raise InvalidMailSend(f"The categories value must be a list of at most {MAX_CATEGORIES} strings.", "categories")
    for index, category in enumerate(categories):
        if not _is_text(category) or len(category) > MAX_CATEGORY_LENGTH:
            raise InvalidMailSend(
                f"Each category must be a non-empty string of at most {MAX_CATEGORY_LENGTH} characters.",
                f"categories.{index}",
            )


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""

