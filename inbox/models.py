"""Received activities, stored before the 202 and processed from the stored record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Identity, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base


class InboxActivity(Base):
    """A verified incoming activity. `uri` de-duplicates; `processed_at` is set once handled.

    A record whose processing failed keeps `processed_at` empty, counts the failure in
    `attempts` and waits until `retry_at`; after the last attempt it is marked processed
    with `error` saying why (inbox.process.retry_delay). A processor handling it holds it
    until `claimed_until` (a lease: one that crashed lets go when it lapses).
    """

    __tablename__ = "inbox_activities"
    __table_args__ = (Index("ix_inbox_activities_unprocessed", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    uri: Mapped[str] = mapped_column(unique=True)
    actor_uri: Mapped[str]  # no index: no query asks by sender (each one costs every 202)
    type: Mapped[str] = mapped_column(String(32))
    recipient_uri: Mapped[str | None]
    body: Mapped[str]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(default="")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    retry_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
