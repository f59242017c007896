"""Signed links for confirming, managing and ending a subscription.

A link carries the subscriber id signed with ``DIGEST_SECRET_KEY`` (itsdangerous),
so no token is stored. The web routes in :mod:`digest.web` serve these paths.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from digest.errors import DigestError

CONFIRM_MAX_AGE_SECONDS = 7 * 24 * 3600
PURPOSES = ("confirm", "manage", "unsubscribe")


class InvalidLinkError(DigestError):
    """A link's token is forged, damaged or expired."""


class Links:
    """Build and read the signed links of one site."""

    def __init__(self, base_url: str, secret_key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret_key, salt=f"digest-{purpose}") for purpose in PURPOSES
        }

    def token(self, purpose: str, subscriber_id: int) -> str:
        return self._serializers[purpose].dumps(subscriber_id)

    def url(self, purpose: str, subscriber_id: int) -> str:
        return f"{self.base_url}/{purpose}/{self.token(purpose, subscriber_id)}"

    def subscriber_id(self, purpose: str, token: str) -> int:
        """Return the subscriber id in ``token``, raising InvalidLinkError when it is not valid."""
        max_age = CONFIRM_MAX_AGE_SECONDS if purpose == "confirm" else None
        try:
            value = self._serializers[purpose].loads(token, max_age=max_age)
        except SignatureExpired as exc:
            raise InvalidLinkError("This link has expired: sign up again to get a new one.") from exc
        except BadSignature as exc:
            raise InvalidLinkError(
                "This link is not valid: copy the whole link from the email, or sign up again."
            ) from exc
        # A key holder could sign any value; ids outside a 64-bit column would crash the query.
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
            raise InvalidLinkError("This link is not valid: copy the whole link from the email.")
        return value
