"""The delivery job's state graph (`outbox.jobs.transition`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from outbox.jobs import (
    TRANSITIONS,
    Attempted,
    Deferred,
    InvalidTransitionError,
    JobState,
    Requeued,
    transition,
)
from outbox.models import DeliveryState
from outbox.retry import MAX_ATTEMPTS, Outcome

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PENDING = JobState(DeliveryState.PENDING, 0)


def rng() -> random.Random:
    return random.Random(7)


def test_success_is_done_and_stamped() -> None:
    step = transition(PENDING, Attempted(Outcome.SUCCESS, T0), rng=rng())
    assert (step.state, step.attempts, step.delivered_at) == (DeliveryState.DONE, 1, T0)


def test_permanent_answer_is_dead_at_once() -> None:
    step = transition(PENDING, Attempted(Outcome.PERMANENT, T0), rng=rng())
    assert (step.state, step.attempts, step.next_attempt_at) == (DeliveryState.DEAD, 1, T0)


def test_retryable_failure_waits_and_the_last_one_dies() -> None:
    step = transition(PENDING, Attempted(Outcome.RETRY, T0), rng=rng())
    assert step.state is DeliveryState.PENDING and step.next_attempt_at > T0
    last = JobState(DeliveryState.PENDING, MAX_ATTEMPTS - 1)
    assert transition(last, Attempted(Outcome.RETRY, T0), rng=rng()).state is DeliveryState.DEAD


def test_deferral_counts_an_attempt_and_waits_out_the_pause() -> None:
    until = T0 + timedelta(days=1)
    step = transition(PENDING, Deferred(T0, until), rng=rng())
    assert (step.state, step.attempts) == (DeliveryState.PENDING, 1)
    assert step.next_attempt_at >= until


def test_requeue_resets_a_dead_job_but_not_a_done_one() -> None:
    dead = JobState(DeliveryState.DEAD, 16)
    step = transition(dead, Requeued(T0), rng=rng())
    assert (step.state, step.attempts, step.next_attempt_at) == (DeliveryState.PENDING, 0, T0)
    with pytest.raises(InvalidTransitionError):
        transition(JobState(DeliveryState.DONE, 1), Requeued(T0), rng=rng())
    with pytest.raises(InvalidTransitionError):
        transition(dead, Attempted(Outcome.SUCCESS, T0), rng=rng())


def test_every_state_is_declared() -> None:
    assert set(TRANSITIONS) == set(DeliveryState)
