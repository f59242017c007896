"""Database tables: subscribers and their topics, papers, and deliveries."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from digest.topics import TopicKind, TopicSpec

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SubscriberStatus(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class DeliveryStatus(str, enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    EMPTY = "empty"
    SKIPPED = "skipped"
    FAILED = "failed"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Store the lowercase values, not the member names, so the database reads naturally.
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members],
                native_enum=False, length=16, validate_strings=True)


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    status: Mapped[SubscriberStatus] = mapped_column(
        _enum(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    max_papers: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    topics: Mapped[list[Topic]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", order_by="Topic.id"
    )
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="subscriber")

    def __repr__(self) -> str:
        return f"<Subscriber id={self.id} status={self.status.value}>"


class Topic(Base):
    __tablename__ = "topics"
    __table_args__ = (UniqueConstraint("subscriber_id", "kind", "value", name="uq_topics_subscriber_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[TopicKind] = mapped_column(_enum(TopicKind, "topic_kind"))
    value: Mapped[str] = mapped_column(String(200))

    subscriber: Mapped[Subscriber] = relationship(back_populates="topics")

    @property
    def spec(self) -> TopicSpec:
        return TopicSpec(self.kind, self.value)

    def __repr__(self) -> str:
        return f"<Topic {self.kind.value}:{self.value!r}>"


class Paper(Base):
    """One arXiv paper, stored once whatever the number of feeds and days it appears in.

    ``announced_on`` and ``announce_type`` keep the first announcement seen, so a
    later replacement does not make an old paper look new again. The other columns
    follow the latest version seen.
    """

    __tablename__ = "papers"
    __table_args__ = (Index("ix_papers_announced_on_type", "announced_on", "announce_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    abs_url: Mapped[str] = mapped_column(String(300))
    pdf_url: Mapped[str] = mapped_column(String(300))
    announced_on: Mapped[dt.date] = mapped_column(Date)
    announce_type: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(300))
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)

    def __repr__(self) -> str:
        return f"<Paper {self.arxiv_id}v{self.version}>"


class Delivery(Base):
    """One subscriber's digest for one announcement date: at most one per pair."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("subscriber_id", "digest_date", name="uq_deliveries_subscriber_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    digest_date: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    paper_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    subscriber: Mapped[Subscriber] = relationship(back_populates="deliveries")

    def __repr__(self) -> str:
        return f"<Delivery id={self.id} subscriber={self.subscriber_id} {self.digest_date} {self.status.value}>"
