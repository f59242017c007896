# The image of every Paper Digest process: the web app (the default command),
# `digest init-db`, the Celery worker and Celery beat. docker-compose.yml runs them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIGEST_DATA_DIR=/var/lib/digest/data \
    DIGEST_OUTBOX_DIR=/var/lib/digest/outbox

# The processes run as this user. The folders are created here, owned by it, so
# that named volumes mounted on them start with the same owner.
RUN groupadd --system digest \
    && useradd --system --gid digest --home-dir /var/lib/digest --shell /usr/sbin/nologin digest \
    && mkdir -p /var/lib/digest/data /var/lib/digest/outbox /var/lib/digest/beat \
    && chown -R digest:digest /var/lib/digest

COPY pyproject.toml README.md /tmp/src/
COPY digest /tmp/src/digest
COPY workers /tmp/src/workers
COPY templates /tmp/src/templates
RUN pip install --no-cache-dir /tmp/src && rm -rf /tmp/src

USER digest
WORKDIR /var/lib/digest
EXPOSE 8000

CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "digest:create_app()"]
