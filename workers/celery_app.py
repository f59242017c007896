"""The Celery application, for the ``celery`` command: ``celery -A workers.celery_app worker``.

Importing this module builds the Flask app from the ``DIGEST_*`` environment;
tests and the command line build their own app instead.
"""

from __future__ import annotations

from digest import create_app
from workers import init_celery

flask_app = create_app()
celery_app = init_celery(flask_app)
