"""Exceptions raised by the digest service.

The tree::

    DigestError
    ├── ConfigError            an environment setting is invalid
    ├── FeedError              a feed could not be read or parsed
    ├── TopicError             a subscriber's topic is invalid
    ├── SubscriberError        a subscriber cannot be added or found
    └── DeliveryError          a backend failed to deliver a message
        ├── TransientDeliveryError   worth retrying later
        │   └── MailConfigError      the mail settings are wrong, so every message
        │                            fails until an operator fixes them
        └── PermanentDeliveryError   retrying this message will fail again
"""

from __future__ import annotations


class DigestError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(DigestError):
    """An environment setting is invalid."""


class FeedError(DigestError):
    """A feed could not be fetched or parsed."""


class TopicError(DigestError, ValueError):
    """A topic typed by a subscriber or operator is invalid."""


class SubscriberError(DigestError):
    """A subscriber cannot be added, found or changed."""


class DeliveryError(DigestError):
    """A mail backend failed to deliver a message."""


class TransientDeliveryError(DeliveryError):
    """A delivery failed for a reason that may pass, such as a timeout or HTTP 429."""


class MailConfigError(TransientDeliveryError):
    """The mail backend's settings are wrong, such as a rejected API key or login, so every message fails.

    Retrying succeeds once an operator fixes the setting that the message names,
    so the delivery stays pending rather than failed.
    """


class PermanentDeliveryError(DeliveryError):
    """A delivery failed for a reason that retrying will not fix, such as a rejected recipient."""
