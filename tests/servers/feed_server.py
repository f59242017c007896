"""An HTTP server on 127.0.0.1 that serves arXiv RSS files, or chosen failures, to fetch tests.

Each test sets up its paths: a file served with status 200, an HTTP error
status, or a body cut short of its Content-Length. Any other path returns 404.
The port is chosen by the operating system, and every request path is recorded.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

RSS_CONTENT_TYPE = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True)
class Route:
    """The response of one path: a status, a body, and how many body bytes to send before closing."""

    status: int
    body: bytes
    content_type: str = RSS_CONTENT_TYPE
    #: Send only this many bytes of ``body`` (with the full Content-Length), then close the connection.
    cut_at: int | None = None


class FeedServer:
    """A threaded HTTP server on 127.0.0.1 whose paths the test sets up."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.requested: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="feed-server", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def serve_file(self, path: str, file: Path) -> str:
        """Serve ``file``'s bytes at ``path`` with status 200, and return its URL."""
        return self._add(path, Route(200, Path(file).read_bytes()))

    def fail(self, path: str, status: int) -> str:
        """Respond to ``path`` with an HTTP error ``status`` and a short HTML page, and return its URL."""
        page = f"<html><body><h1>Error {status}</h1></body></html>".encode()
        return self._add(path, Route(status, page, content_type="text/html; charset=utf-8"))

    def truncate(self, path: str, file: Path, sent_bytes: int = 1024) -> str:
        """Announce ``file``'s full length at ``path`` but close after ``sent_bytes``, and return its URL."""
        return self._add(path, Route(200, Path(file).read_bytes(), cut_at=sent_bytes))

    def requests_for(self, path: str) -> int:
        """Count the requests received for ``path``."""
        wanted = "/" + path.lstrip("/")
        with self._lock:
            return sum(1 for requested in self.requested if requested == wanted)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _add(self, path: str, route: Route) -> str:
        with self._lock:
            self._routes["/" + path.lstrip("/")] = route
        return self.url(path)

    def _route(self, path: str) -> Route:
        with self._lock:
            self.requested.append(path)
            route = self._routes.get(path)
        if route is None:
            return Route(404, b"<html><body><h1>Not found</h1></body></html>", content_type="text/html; charset=utf-8")
        return route

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = server._route(self.path)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                if route.cut_at is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(route.body if route.cut_at is None else route.body[:route.cut_at])

            def log_message(self, format: str, *args) -> None:
                # The request list replaces the default log on stderr.
                pass

        return Handler


def unused_port() -> int:
    """Return a port on 127.0.0.1 that had no listener when checked, so connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # NOTE: another process could take the port between this check and its use;
    # on a test machine that is rare enough to accept.
    return port


def closed_port_url(path: str = "feed.xml") -> str:
    """Return a URL on 127.0.0.1 whose port has no listener."""
    return f"http://127.0.0.1:{unused_port()}/{path.lstrip('/')}"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer, stopped after the test."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()
