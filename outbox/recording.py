"""The recording side of the delivery queue: the statements that write outcomes, host
streaks and pauses, learnt signature schemes and the attempt history.

Must not import `inbox` or `server`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import bindparam, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, Update

from outbox.models import Delivery, DeliveryAttempt, DeliveryHost

__all__ = ["RecordStatements", "record_statements"]


@dataclass(frozen=True, slots=True)
class RecordStatements:
    jobs: Update
    healthy_hosts: Insert
    failing_hosts: Insert
    pause_hosts: Update
    schemes: Insert
    attempts: Insert


@functools.cache
def record_statements(is_postgres: bool) -> RecordStatements:
    """The statements that record outcomes, built once (executed with parameter lists)."""
    insert = postgresql.insert if is_postgres else sqlite.insert
    table = DeliveryHost.__table__
    healthy = insert(DeliveryHost)
    failing = insert(DeliveryHost)
    schemes = insert(DeliveryHost)
    return RecordStatements(
        jobs=update(Delivery)
        .where(Delivery.id == bindparam("b_id"), Delivery.locked_by == bindparam("b_worker"))
        .values(
            state=bindparam("b_state"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next"),
            last_status=bindparam("b_status"),
            last_error=bindparam("b_error"),
            updated_at=bindparam("b_at"),
            delivered_at=bindparam("b_delivered"),
            locked_until=None,
            locked_by=None,
        )
        .execution_options(synchronize_session=False),
        healthy_hosts=healthy.on_conflict_do_update(
            index_elements=[table.c.host],
            set_={
                "consecutive_failures": healthy.excluded.consecutive_failures,
                "paused_until": None,
                "last_success_at": healthy.excluded.last_success_at,
                "last_failure_at": func.coalesce(
                    healthy.excluded.last_failure_at, table.c.last_failure_at
                ),
            },
        ),
        failing_hosts=failing.on_conflict_do_update(
            index_elements=[table.c.host],
            set_={
                "consecutive_failures": table.c.consecutive_failures
                + failing.excluded.consecutive_failures,
                "last_failure_at": failing.excluded.last_failure_at,
            },
        ).returning(table.c.host, table.c.consecutive_failures, table.c.paused_until),
        pause_hosts=update(DeliveryHost)
        .where(DeliveryHost.host == bindparam("b_host"))
        .values(paused_until=bindparam("b_until"))
        .execution_options(synchronize_session=False),
        schemes=schemes.on_conflict_do_update(
            index_elements=[table.c.host],
            set_={"signature_scheme": schemes.excluded.signature_scheme},
        ),
        attempts=insert(DeliveryAttempt),
    )
