"""Tables for local actors (and, later, cached remote actors and their keys)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, Identity, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from actors.base import Base


class ActorType(enum.StrEnum):
    ORGANIZATION = "Organization"
    GROUP = "Group"
    PERSON = "Person"
    APPLICATION = "Application"


class Actor(Base):
    """A local actor. `username_key` is the lower-cased username: lookups ignore case."""

    __tablename__ = "actors"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    username_key: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(default="")
    summary: Mapped[str] = mapped_column(default="")
    icon_url: Mapped[str | None] = mapped_column(default=None)
    manually_approves: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    is_instance: Mapped[bool] = mapped_column(Boolean, default=False)
    private_key_pem: Mapped[str]
    public_key_pem: Mapped[str]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
