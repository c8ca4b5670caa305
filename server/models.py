"""One import point for every table, so Alembic and tests see the whole schema."""

from __future__ import annotations


def load_all_models() -> None:
    """Import each package's models module (their import registers the tables)."""
    import actors.invitations
    import actors.models
    import actors.relays
    import actors.web_sessions  # noqa: F401
    import inbox.models  # noqa: F401
    import outbox.models  # noqa: F401
    import server.media  # noqa: F401
