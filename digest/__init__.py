"""A self-hostable service that emails researchers a nightly digest of new papers on their topics."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from digest.config import INSECURE_SECRET_KEY, Settings, load_settings
from digest.db import Database
from digest.links import Links
from digest.mail import MailBackend, make_backend
from digest.render import Renderer, templates_dir

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Shared objects of one configuration, used by the web app, the workers and the command line."""

    settings: Settings
    db: Database
    links: Links
    mail: MailBackend
    renderer: Renderer


def create_app(overrides: Mapping[str, str] | None = None, *, config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Flask application.

    ``overrides`` are ``DIGEST_*`` variables used instead of the process
    environment (tests pass them); ``config`` updates Flask's own config last.
    """
    settings = load_settings(overrides)
    if settings.secret_key == INSECURE_SECRET_KEY:
        log.warning(
            "DIGEST_SECRET_KEY is not set, so anyone can forge the links in emails: "
            "set it to a long random value before others use this service"
        )
    app = Flask(__name__, template_folder=str(templates_dir()), instance_path=str(settings.data_dir))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        DIGEST_SETTINGS=settings,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    if config:
        app.config.update(config)

    app.extensions["digest"] = Services(
        settings=settings,
        db=Database(settings.database_url),
        links=Links(settings.base_url, settings.secret_key),
        mail=make_backend(settings),
        renderer=Renderer(settings.site_name),
    )

    from digest.web import init_app as init_web

    init_web(app)
    return app


def services(app: Flask | None = None) -> Services:
    """Return the services of ``app``, or of the current application."""
    return (app or current_app).extensions["digest"]
