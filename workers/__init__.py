"""Celery integration: every task runs inside the Flask app context of the app it was set up with.

Without ``DIGEST_BROKER_URL`` the tasks run eagerly in the calling process, so
the command line works with no Redis server.
"""

from __future__ import annotations

from celery import Celery, Task
from celery.schedules import crontab
from flask import Flask

from digest import services


def init_celery(app: Flask) -> Celery:
    """Create the Celery app for ``app`` and store it in ``app.extensions['celery']``."""
    settings = services(app).settings

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    hour, minute = settings.nightly_at
    celery.conf.update(
        broker_url=settings.broker_url or "memory://localhost/",
        task_always_eager=settings.eager_tasks,
        task_eager_propagates=True,
        task_ignore_result=True,
        # Tasks are idempotent, so a task whose worker died is safe to run again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "nightly-digest": {
                "task": "workers.tasks.run_nightly",
                "schedule": crontab(hour=hour, minute=minute),
            },
        },
        include=["workers.tasks"],
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
