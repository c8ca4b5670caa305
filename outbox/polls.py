"""Polls: our `Question`s and their counts, votes from here and from peers, and the
activities they cause.

Mastodon's shapes (app/serializers/activitypub/note_serializer.rb, vote_serializer.rb;
app/services/vote_service.rb; app/lib/activitypub/activity/create.rb `poll_vote?`):

- A poll is a `Question` with `oneOf` (single choice) or `anyOf` (multiple choice), each
  option `{type: Note, name, replies: {type: Collection, totalItems}}`, plus `endTime`,
  `closed` once it ended, and `votersCount`.
- A vote is a `Create` of a `Note` with `name` = the option's title and `inReplyTo` = the
  Question, addressed to the poll's author only; one Note per chosen option. It is not a
  post: it is counted, never stored as a status.
- Counts of our polls go out in an `Update` of the Question (Mastodon sends one a few
  minutes after votes arrive); we send it as votes are counted, to the post's audience and
  to the remote voters.

One voter (a local or remote actor) picks each option at most once, and one option only
unless the poll is multiple choice; votes after the end are refused. Everything here
writes rows in the caller's transaction; the caller commits. Must not import `inbox`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actors.models import Actor, RemoteActor
from actors.uris import LocalUris
from federation.media import QuestionPoll
from federation.policy import FederationPolicy
from federation.rendering import render_vote
from outbox.context import PublishContext
from outbox.models import Activity, Delivery, Poll, PollVote, Status, Visibility
from outbox.publish import enqueue, follower_inboxes

MAX_OPTIONS = 4  # what we advertise and accept from our clients (Mastodon's default)
MAX_OPTION_CHARS = 50
MIN_EXPIRATION = timedelta(minutes=5)
MAX_EXPIRATION = timedelta(days=30)


UpdateRenderer = Callable[[Status, Poll, datetime], dict[str, object]]
"""Builds the Update of one of our Questions (`outbox.documents.render_poll_update`)."""


class PollError(Exception):
    """A vote or a poll that cannot be accepted; the message says why (shown to clients)."""


@dataclass(frozen=True, slots=True)
class PollDraft:
    """A poll our author attaches to a new post."""

    options: tuple[str, ...]
    expires_in: timedelta
    multiple: bool = False
    hide_totals: bool = False


def check_draft(draft: PollDraft) -> None:
    """Mastodon's PollValidator limits (the ones we advertise in /api/v2/instance)."""
    options = [o.strip() for o in draft.options]
    if len(options) < 2:
        raise PollError("a poll needs at least 2 options")
    if len(options) > MAX_OPTIONS:
        raise PollError(f"a poll has at most {MAX_OPTIONS} options")
    if any(not o for o in options):
        raise PollError("poll options cannot be empty")
    if any(len(o) > MAX_OPTION_CHARS for o in options):
        raise PollError(f"poll options have at most {MAX_OPTION_CHARS} characters")
    if len(set(options)) != len(options):
        raise PollError("poll options must differ")
    if not MIN_EXPIRATION <= draft.expires_in <= MAX_EXPIRATION:
        raise PollError("a poll runs from 5 minutes to 30 days")


def options_of(poll: Poll) -> list[tuple[str, int]]:
    """(title, votes) in order, from the stored JSON."""
    data = poll.options
    out: list[tuple[str, int]] = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("title"), str):
            votes = item.get("votes_count")
            out.append((item["title"], votes if isinstance(votes, int) else 0))
    return out


def _options_json(options: Iterable[tuple[str, int]]) -> list[object]:
    return [{"title": t, "votes_count": n} for t, n in options]


def is_expired(poll: Poll, now: datetime) -> bool:
    ends = [t for t in (poll.expires_at, poll.closed_at) if t is not None]
    return any(t <= now for t in ends)


async def polls_of(session: AsyncSession, status_ids: Iterable[int]) -> dict[int, Poll]:
    ids = list(set(status_ids))
    if not ids:
        return {}
    return {
        p.status_id: p for p in await session.scalars(select(Poll).where(Poll.status_id.in_(ids)))
    }


async def own_choices(
    session: AsyncSession, voter_uri: str, poll_ids: Iterable[int]
) -> dict[int, list[int]]:
    """poll id → the choices `voter_uri` made, in order."""
    ids = list(set(poll_ids))
    out: dict[int, list[int]] = {}
    if not ids:
        return out
    rows = await session.execute(
        select(PollVote.poll_id, PollVote.choice)
        .where(PollVote.voter_uri == voter_uri, PollVote.poll_id.in_(ids))
        .order_by(PollVote.choice)
    )
    for poll_id, choice in rows:
        out.setdefault(poll_id, []).append(choice)
    return out


# --- storing ----------------------------------------------------------------------------------


def new_local_poll(status_id: int, draft: PollDraft, now: datetime) -> Poll:
    return Poll(
        status_id=status_id,
        is_multiple=draft.multiple,
        hides_totals=draft.hide_totals,
        options=_options_json((o.strip(), 0) for o in draft.options),
        voters_count=0,
        expires_at=now + draft.expires_in,
        closed_at=None,
        updated_at=now,
    )


def new_remote_poll(status_id: int, question: QuestionPoll, now: datetime) -> Poll:
    return Poll(
        status_id=status_id,
        is_multiple=question.multiple,
        hides_totals=False,
        options=_options_json(question.options),
        voters_count=question.voters_count,
        expires_at=question.expires_at,
        closed_at=question.closed_at,
        updated_at=now,
    )


def refresh_remote_poll(poll: Poll, question: QuestionPoll, now: datetime) -> None:
    """An Update of a remote Question: its author's counts replace ours."""
    poll.options = _options_json(question.options)
    poll.is_multiple = question.multiple
    poll.voters_count = question.voters_count
    poll.expires_at = question.expires_at
    poll.closed_at = question.closed_at
    poll.updated_at = now


async def _recount(session: AsyncSession, poll: Poll, now: datetime) -> None:
    """Our own poll's counts from its votes."""
    counts = dict(
        (
            await session.execute(
                select(PollVote.choice, func.count())
                .where(PollVote.poll_id == poll.status_id)
                .group_by(PollVote.choice)
            )
        ).all()
    )
    voters = await session.scalar(
        select(func.count(func.distinct(PollVote.voter_uri))).where(
            PollVote.poll_id == poll.status_id
        )
    )
    poll.options = _options_json(
        (title, int(counts.get(i, 0))) for i, (title, _) in enumerate(options_of(poll))
    )
    poll.voters_count = int(voters or 0)
    poll.updated_at = now


async def _record(
    session: AsyncSession,
    poll: Poll,
    voter_uri: str,
    choices: Sequence[int],
    now: datetime,
    uris: Sequence[str | None],
) -> None:
    """Store `choices` for `voter_uri`, or raise PollError (expired, already voted, invalid)."""
    if is_expired(poll, now):
        raise PollError("The poll has already ended")
    n_options = len(options_of(poll))
    if not choices or any(not 0 <= c < n_options for c in choices):
        raise PollError("Choice is not one of the poll's options")
    if len(set(choices)) != len(choices):
        raise PollError("The same choice was given twice")
    if not poll.is_multiple and len(choices) > 1:
        raise PollError("This poll allows one choice only")
    earlier = set(
        await session.scalars(
            select(PollVote.choice).where(
                PollVote.poll_id == poll.status_id, PollVote.voter_uri == voter_uri
            )
        )
    )
    if earlier and (not poll.is_multiple or earlier & set(choices)):
        raise PollError("You have already voted on this poll")
    for choice, uri in zip(choices, uris, strict=True):
        session.add(
            PollVote(
                poll_id=poll.status_id, voter_uri=voter_uri, choice=choice, uri=uri, created_at=now
            )
        )
    await session.flush()


# --- voting -----------------------------------------------------------------------------------


async def vote(
    session: AsyncSession,
    ctx: PublishContext,
    *,
    status: Status,
    poll: Poll,
    actor: Actor,
    choices: Sequence[int],
    render_update: UpdateRenderer | None = None,
) -> None:
    """A local actor votes. On a remote poll, one vote Note per choice goes to its author
    (and the counts shown here move at once); on our own poll, the new counts go out in an
    Update (`render_update`). Raises PollError. The caller commits, then `ctx.wake()`."""
    actor_uri = ctx.actor_uri(actor)
    now = ctx.clock()
    voted_before = await session.scalar(
        select(func.count()).where(
            PollVote.poll_id == poll.status_id, PollVote.voter_uri == actor_uri
        )
    )
    await _record(session, poll, actor_uri, choices, now, [None] * len(choices))
    if status.local_actor_id is not None:
        await _recount(session, poll, now)
        if render_update is not None:
            await send_update(
                session, status=status, poll=poll, now=now, render_update=render_update,
                policy=ctx.policy,
            )  # fmt: skip
        return
    options = options_of(poll)
    bumped = [(t, n + 1 if i in choices else n) for i, (t, n) in enumerate(options)]
    poll.options = _options_json(bumped)
    if poll.voters_count is not None and not voted_before:
        poll.voters_count += 1
    author = await session.scalar(select(RemoteActor).where(RemoteActor.uri == status.actor_uri))
    if author is None:
        raise PollError("The poll's author is unknown here")
    rows = list(
        await session.scalars(
            select(PollVote).where(
                PollVote.poll_id == poll.status_id,
                PollVote.voter_uri == actor_uri,
                PollVote.choice.in_(list(choices)),
            )
        )
    )
    for row in rows:
        row.uri = ctx.uris.vote(actor_uri, row.id)
        await enqueue(
            session,
            actor=actor,
            activity=render_vote(
                voter_uri=actor_uri,
                vote_uri=row.uri,
                activity_uri=ctx.uris.activity_of(row.uri),
                title=options[row.choice][0],
                question_uri=status.uri,
                author_uri=status.actor_uri,
            ),
            inboxes=[author.inbox_uri],
            now=now,
            policy=ctx.policy,
        )


async def count_remote_vote(
    session: AsyncSession,
    *,
    status: Status,
    voter_uri: str,
    title: str,
    vote_id: str,
    now: datetime,
) -> bool:
    """A peer's vote Note on our poll: counted once per voter and option; True if counted.

    Votes for unknown options, after the end, or a second option in a single-choice poll
    are ignored (Mastodon's PollVote validations)."""
    poll = await session.get(Poll, status.id)
    if poll is None:
        return False
    titles = [t for t, _ in options_of(poll)]
    if title not in titles:
        return False
    try:
        await _record(session, poll, voter_uri, [titles.index(title)], now, [vote_id])
    except PollError:
        return False
    await _recount(session, poll, now)
    return True


async def send_update(
    session: AsyncSession,
    *,
    status: Status,
    poll: Poll,
    now: datetime,
    render_update: UpdateRenderer,
    policy: FederationPolicy,
) -> None:
    """Enqueue an Update of our Question to its audience: followers (unless direct),
    whoever got it before, and every remote voter."""
    actor = await session.get(Actor, status.local_actor_id)
    if actor is None:
        return
    inboxes: set[str] = set()
    if status.visibility != Visibility.DIRECT:
        inboxes |= await follower_inboxes(session, status.actor_uri)
    inboxes |= set(
        await session.scalars(
            select(Delivery.inbox_uri)
            .join(Activity, Activity.id == Delivery.activity_id)
            .where(Activity.object_uri == status.uri, Activity.actor_id == actor.id)
        )
    )
    voters = select(PollVote.voter_uri).where(PollVote.poll_id == poll.status_id)
    for remote in await session.scalars(select(RemoteActor).where(RemoteActor.uri.in_(voters))):
        inboxes.add(remote.shared_inbox_uri or remote.inbox_uri)
    local = LocalUris.of_actor(status.actor_uri)
    inboxes = {i for i in inboxes if not local.is_local(i)}
    await enqueue(
        session,
        actor=actor,
        activity=render_update(status, poll, now),
        inboxes=inboxes,
        now=now,
        policy=policy,
    )


async def close_due_polls(
    session: AsyncSession,
    *,
    now: datetime,
    render_update: UpdateRenderer,
    limit: int = 100,
    policy: FederationPolicy,
) -> int:
    """Close our polls whose time is up and send their final counts (an Update with
    `closed`, as Mastodon's PollExpirationNotifyWorker does). Returns how many were
    closed; the caller commits and calls again while that is `limit`."""
    rows = (
        await session.execute(
            select(Poll, Status)
            .join(Status, Status.id == Poll.status_id)
            .where(
                Status.local_actor_id.is_not(None),
                Status.deleted_at.is_(None),
                Poll.closed_at.is_(None),
                Poll.expires_at <= now,
            )
            .order_by(Poll.expires_at)
            .limit(limit)
        )
    ).all()
    for poll, status in rows:
        poll.closed_at = poll.expires_at
        poll.updated_at = now
        await send_update(
            session,
            status=status,
            poll=poll,
            now=now,
            render_update=render_update,
            policy=policy,
        )
    return len(rows)
