"""The delivery job's states, declared: which state follows which, on what event.

Beside `outbox.retry` (what an answer means, when to try again), this is the other half
of the delivery policy: one pure function, `transition(job, event, rng=…)`, decides every
state change of a `deliveries` row; the worker and the operator's `deliveries retry`
only write what it returns. The graph (as Takahē's stator declares its states, each
with the states it may go to):

    pending ──attempt succeeded──────────────▶ done      (terminal)
    pending ──permanent answer, or attempts used up──▶ dead   (terminal until requeued)
    pending ──retryable failure, or host paused──▶ pending (later, one attempt more)
    pending / dead ──requeued by the operator──▶ pending (now, attempts reset)

No clock reads and no I/O: the caller passes the time and the random source.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from outbox.models import DeliveryState
from outbox.retry import Outcome, next_delay

__all__ = [
    "TRANSITIONS",
    "Attempted",
    "Deferred",
    "InvalidTransitionError",
    "JobState",
    "Next",
    "Requeued",
    "transition",
]

_PENDING, _DONE, _DEAD = DeliveryState.PENDING, DeliveryState.DONE, DeliveryState.DEAD

TRANSITIONS: Mapping[DeliveryState, frozenset[DeliveryState]] = {
    _PENDING: frozenset({_PENDING, _DONE, _DEAD}),
    _DEAD: frozenset({_PENDING}),
    _DONE: frozenset(),
}
"""Each state and the states it may go to."""


class InvalidTransitionError(ValueError):
    """An event that the graph does not allow in the job's state (a bug in the caller)."""


@dataclass(frozen=True, slots=True)
class JobState:
    state: DeliveryState
    attempts: int  # attempts made so far


@dataclass(frozen=True, slots=True)
class Attempted:
    """One attempt ended with `outcome` at `at`; `retry_after` is the peer's wish."""

    outcome: Outcome
    at: datetime
    retry_after: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Deferred:
    """The job was due while its host is paused until `paused_until`; counts as an attempt
    (as Mastodon's circuit breaker does), so a dead host's jobs still die in time."""

    at: datetime
    paused_until: datetime


@dataclass(frozen=True, slots=True)
class Requeued:
    """The operator asked for a fresh set of attempts, now."""

    at: datetime


Event = Attempted | Deferred | Requeued


@dataclass(frozen=True, slots=True)
class Next:
    """What to write on the row."""

    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None = None


def _after_failure(attempts: int, at: datetime, delay: timedelta | None) -> Next:
    if delay is None:
        return Next(_DEAD, attempts, at)
    return Next(_PENDING, attempts, at + delay)


def transition(job: JobState, event: Event, *, rng: random.Random) -> Next:
    """The job's next state after `event`; `rng` draws the retry jitter.

    Raises InvalidTransitionError for an event its state does not take (an attempt or a
    deferral of a job that is not pending, a requeue of a done job).
    """
    if isinstance(event, Requeued):
        result = Next(_PENDING, 0, event.at)
    elif job.state is not _PENDING:
        raise InvalidTransitionError(f"a {job.state} job is not attempted")
    elif isinstance(event, Deferred):
        attempts = job.attempts + 1
        delay = next_delay(attempts, rng)
        result = (
            Next(_PENDING, attempts, max(event.at + delay, event.paused_until))
            if delay is not None
            else Next(_DEAD, attempts, event.at)
        )
    elif event.outcome is Outcome.SUCCESS:
        result = Next(_DONE, job.attempts + 1, event.at, delivered_at=event.at)
    elif event.outcome is Outcome.PERMANENT:
        result = Next(_DEAD, job.attempts + 1, event.at)
    else:
        attempts = job.attempts + 1
        result = _after_failure(attempts, event.at, next_delay(attempts, rng, event.retry_after))
    if result.state not in TRANSITIONS[job.state]:
        raise InvalidTransitionError(f"{job.state} cannot go to {result.state}")
    return result
