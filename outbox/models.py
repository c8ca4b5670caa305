"""Tables of the transactional outbox: activities we published and their delivery jobs."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Identity, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base


class Activity(Base):
    """An activity one of our actors published; `body` is the exact JSON we send."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("actors.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    object_uri: Mapped[str | None] = mapped_column(index=True)
    body: Mapped[str]
    created_at: Mapped[datetime]


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class Delivery(Base):
    """One POST of one activity to one inbox. Stored unsigned; signed at each attempt.

    A worker claims a job by setting `locked_until`/`locked_by`; a job whose lock
    has lapsed (its worker died) is claimed again, so only attempts in flight at
    a crash are ever repeated.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    activity_id: Mapped[int] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    inbox_uri: Mapped[str]
    host: Mapped[str] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class DeliveryHost(Base):
    """Per remote host: failure streak, pause, and the signature scheme that worked."""

    __tablename__ = "delivery_hosts"

    host: Mapped[str] = mapped_column(primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None]
    signature_scheme: Mapped[str | None] = mapped_column(String(20))
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
