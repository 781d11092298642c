"""The lean append on PostgreSQL: everything but the write itself happens before the global append lock.

An append reads its duplicates and stream versions and applies the inline projections outside the lock;
`hub_append` then takes the lock, numbers and inserts the rows, and the COMMIT follows (hub.store). These
tests show what that must keep: one writer's slow inline projection does not hold up another writer,
positions still commit in order, and a collision with a concurrent append (the same stream version, the same
(source, id), an expected version) is decided again under the lock, never written twice or lost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import connection, transaction

from hub import log, projections, store
from hub.errors import WrongExpectedVersion
from hub.events import NewEvent, RecordedEvent
from hub.models import ProjectionCheckpoint, StoredEvent
from tests.conftest import requires_postgresql

pytestmark = [requires_postgresql, pytest.mark.django_db(transaction=True)]

WAIT = 60  # seconds a thread may take before the test calls it stuck (never a measure of speed)


def _event(source: str, id_: str, stream: str, type_: str = "lean.plain") -> NewEvent:
    return NewEvent(source=source, id=id_, type=type_, stream=stream, data={"id": id_})


def _append_lock_held_by_me() -> bool:
    """Does this session hold the global append lock (an advisory lock with the append's key)?"""
    from hub.backends.postgresql import APPEND_LOCK_KEY

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            " AND granted AND classid::bigint = 0 AND objid::bigint = %s AND objsubid = 1",
            [APPEND_LOCK_KEY],
        )
        return cur.fetchone()[0] > 0


class Gatekeeper:
    """An inline projector for these tests: it notes what it applied and whether the append lock was held
    then (once committed); on `lean.slow` it waits for `release`; on `lean.bad` it raises until `fixed`."""

    name = "lean-test"
    types = frozenset({"lean.plain", "lean.slow", "lean.bad"})

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fixed = False
        self.applied: list[tuple[str, bool]] = []  # (event id, append lock held while applying)

    def apply_all(self, events: list[RecordedEvent]) -> None:
        for event in events:
            if event.type == "lean.bad" and not self.fixed:
                raise ValueError(f"cannot apply {event.id}")
            if event.type == "lean.slow":
                self.entered.set()
                assert self.release.wait(WAIT), "the test never released the slow projection"
            # Noted when the transaction commits: an application undone with its savepoint (a collision,
            # decided again) is not counted.
            note = (event.id, _append_lock_held_by_me())
            transaction.on_commit(lambda note=note: self.applied.append(note))

    def reset(self) -> None:
        self.applied.clear()


@pytest.fixture
def gatekeeper() -> Iterator[Gatekeeper]:
    projector = Gatekeeper()
    projections.register_projector(projector)
    try:
        # A new projector catches up the locked way once; from then on appends are lean.
        store.append([_event("/lean", "warm-up", "warm")])
        assert projections.healthy()
        projector.applied.clear()
        yield projector
    finally:
        projections._projectors.pop(projector.name, None)


def _in_thread(target, *args) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = target(*args)
        except BaseException as exc:  # handed to the test through `outcome`
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_inline_projections_run_before_the_append_lock_is_taken(gatekeeper):
    store.append([_event("/lean", "a", "s-a")])
    assert gatekeeper.applied == [("a", False)]


def test_a_writer_whose_inline_projection_is_slow_does_not_hold_up_another_writer(gatekeeper):
    slow, slow_outcome = _in_thread(store.append, [_event("/lean", "slow", "s-slow", "lean.slow")])
    assert gatekeeper.entered.wait(WAIT)
    # The slow writer is inside its projection, in its transaction: another append goes through meanwhile.
    fast, fast_outcome = _in_thread(store.append, [_event("/lean", "fast", "s-fast")])
    fast.join(WAIT)
    assert not fast.is_alive() and "error" not in fast_outcome
    fast_position = fast_outcome["result"][0].position
    assert StoredEvent.objects.filter(event_id="fast").exists()
    assert not StoredEvent.objects.filter(event_id="slow").exists()  # still deciding
    gatekeeper.release.set()
    slow.join(WAIT)
    assert not slow.is_alive() and "error" not in slow_outcome
    # Positions are handed out under the lock, so the later commit has the higher position.
    assert slow_outcome["result"][0].position > fast_position
    assert [e.id for e in log.read_after(0)][-2:] == ["fast", "slow"]


def test_concurrent_appends_to_one_stream_collide_and_are_decided_again_under_the_lock(gatekeeper):
    writers, per_writer = 4, 15
    barrier = threading.Barrier(writers)

    def write(w: int) -> None:
        barrier.wait(WAIT)
        for i in range(per_writer):
            store.append([_event(f"/lean/{w}", str(i), "shared")])

    threads = [_in_thread(write, w) for w in range(writers)]
    for thread, outcome in threads:
        thread.join(WAIT * 2)
        assert not thread.is_alive() and "error" not in outcome, outcome
    versions = list(
        StoredEvent.objects.filter(stream="shared")
        .order_by("position")
        .values_list("stream_version", flat=True)
    )
    assert versions == list(range(1, writers * per_writer + 1))  # dense, in position order, none twice
    assert len(gatekeeper.applied) == writers * per_writer  # each applied once: collisions were undone


def test_the_same_event_posted_at_once_by_many_writers_is_written_once(gatekeeper):
    writers = 6
    barrier = threading.Barrier(writers)

    def write() -> tuple[int, bool]:
        barrier.wait(WAIT)
        (result,) = store.append([_event("/lean", "once", "s-once")])
        return result.position, result.duplicate

    threads = [_in_thread(write) for _ in range(writers)]
    for thread, outcome in threads:
        thread.join(WAIT)
        assert not thread.is_alive() and "error" not in outcome, outcome
    answers = [outcome["result"] for _, outcome in threads]
    assert StoredEvent.objects.filter(event_id="once").count() == 1
    position = StoredEvent.objects.get(event_id="once").position
    assert {p for p, _ in answers} == {position}
    assert sorted(duplicate for _, duplicate in answers) == [False] + [True] * (writers - 1)
    assert [id_ for id_, _ in gatekeeper.applied] == ["once"]


def test_two_appends_expecting_one_stream_version_at_once_one_wins(gatekeeper):
    writers = 4
    barrier = threading.Barrier(writers)

    def write(w: int) -> int:
        barrier.wait(WAIT)
        return store.append([_event("/lean", f"claim-{w}", "claimed")], expected_versions={"claimed": 0})[
            0
        ].position

    threads = [_in_thread(write, w) for w in range(writers)]
    for thread, _ in threads:
        thread.join(WAIT)
    outcomes = [outcome for _, outcome in threads]
    assert sum("result" in o for o in outcomes) == 1
    assert all(isinstance(o["error"], WrongExpectedVersion) for o in outcomes if "error" in o)
    assert StoredEvent.objects.filter(stream="claimed").count() == 1


def test_an_inline_projection_that_fails_on_a_lean_append_is_caught_up_once_fixed(gatekeeper):
    (bad,) = store.append([_event("/lean", "bad", "s-bad", "lean.bad")])
    # The event is in the log; the projector stopped just before it, with the error.
    assert StoredEvent.objects.filter(position=bad.position).exists()
    checkpoint = ProjectionCheckpoint.objects.get(name=gatekeeper.name)
    assert (checkpoint.position, checkpoint.failed_position) == (bad.position - 1, bad.position)
    assert "cannot apply bad" in checkpoint.last_error
    assert not projections.healthy()
    assert projections.positions([gatekeeper.name]) == {gatekeeper.name: bad.position - 1}

    # While it is failed, appends take the locked way and retry it from its checkpoint, still failing.
    store.append([_event("/lean", "after-1", "s-after")])
    assert ProjectionCheckpoint.objects.get(name=gatekeeper.name).failed_position == bad.position

    gatekeeper.fixed = True
    (last,) = store.append([_event("/lean", "after-2", "s-after")])
    assert projections.healthy()
    assert [id_ for id_, _ in gatekeeper.applied] == ["bad", "after-1", "after-2"]
    assert projections.positions([gatekeeper.name]) == {gatekeeper.name: last.position}


def test_a_caller_holding_the_append_lock_may_still_append(gatekeeper):
    with transaction.atomic():
        log.append_lock()
        (result,) = store.append([_event("/lean", "locked", "s-locked")])
    assert StoredEvent.objects.get(event_id="locked").position == result.position


def test_a_fresh_stream_is_written_at_version_one_without_a_look_up(gatekeeper):
    (result,) = store.append([_event("/lean", "first", "s-new")], fresh_streams={"s-new"})

    assert result.event.stream_version == 1
    assert gatekeeper.applied == [("first", False)]  # lean: applied before the lock


def test_a_stream_called_fresh_that_holds_events_is_decided_again_under_the_lock(gatekeeper):
    store.append([_event("/lean", "one", "s-old"), _event("/lean", "two", "s-old")])
    gatekeeper.reset()

    (result,) = store.append([_event("/lean", "three", "s-old")], fresh_streams={"s-old"})

    # Version 1 collided in the log's unique index; the locked path looked the stream up.
    assert result.event.stream_version == 3
    assert list(
        StoredEvent.objects.filter(stream="s-old")
        .order_by("position")
        .values_list("stream_version", flat=True)
    ) == [
        1,
        2,
        3,
    ]
    assert gatekeeper.applied == [("three", True)]  # applied once, under the lock


def test_a_lean_only_caller_calling_a_held_stream_fresh_is_refused_and_nothing_written(gatekeeper):
    store.append([_event("/lean", "one", "s-held")])

    with pytest.raises(store.LeanAppendRefused), transaction.atomic():
        store.append([_event("/lean", "again", "s-held")], fresh_streams={"s-held"}, lean_only=True)

    assert not StoredEvent.objects.filter(event_id="again").exists()


def test_an_expected_version_of_a_stream_the_append_does_not_write_holds_against_a_concurrent_append(
    gatekeeper,
):
    """Checked before the lock, where nothing protects a stream that is not written: a concurrent append
    moved `guard` on and committed, and this append expecting its old version was written after it."""
    store.append([_event("/lean", "guard-1", "guard")])
    guarded, outcome = _in_thread(
        lambda: store.append(
            [_event("/lean", "guarded", "s-guarded", "lean.slow")], expected_versions={"guard": 1}
        )
    )
    assert gatekeeper.entered.wait(WAIT)  # applying its inline projection (lean: before the lock)
    mover, moved = _in_thread(store.append, [_event("/lean", "guard-2", "guard")])
    mover.join(1)  # it commits at once if the guarded append does not hold the lock yet
    gatekeeper.release.set()
    guarded.join(WAIT)
    mover.join(WAIT)

    assert "error" not in moved, moved
    moved_at = moved["result"][0].position
    if "error" in outcome:
        assert isinstance(outcome["error"], WrongExpectedVersion)
        assert not StoredEvent.objects.filter(event_id="guarded").exists()
    else:  # written before guard moved on: then the expectation held
        assert outcome["result"][0].position < moved_at


class Tally:
    """An inline projector whose one row counts the events it applied, read then written back (as the
    read models' projectors load rows, change them in Python and write them). On `lean.slow` it waits
    for `release` between its read and its write; on `lean.bad` it raises until `fixed`."""

    name = "lean-tally"
    types = frozenset({"lean.plain", "lean.slow", "lean.bad"})

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fixed = False
        self.locked: list[bool] = []  # whether the append lock was held, each time it applied (undone or not)

    def apply_all(self, events: list[RecordedEvent]) -> None:
        self.locked.append(_append_lock_held_by_me())
        with connection.cursor() as cur:
            cur.execute("SELECT n FROM lean_tally")
            (count,) = cur.fetchone()
            for event in events:
                if event.type == "lean.bad" and not self.fixed:
                    raise ValueError(f"cannot apply {event.id}")
                if event.type == "lean.slow":
                    self.entered.set()
                    assert self.release.wait(WAIT), "the test never released the slow projection"
            cur.execute("UPDATE lean_tally SET n = %s", [count + len(events)])

    def reset(self) -> None:
        with connection.cursor() as cur:
            cur.execute("UPDATE lean_tally SET n = 0")

    @staticmethod
    def count() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT n FROM lean_tally")
            return cur.fetchone()[0]


@pytest.fixture
def tally() -> Iterator[Tally]:
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE lean_tally (n integer NOT NULL)")
        cur.execute("INSERT INTO lean_tally VALUES (0)")
    projector = Tally()
    projections.register_projector(projector)
    try:
        store.append([_event("/lean", "warm-up", "warm")])  # new: caught up the locked way
        assert projections.healthy() and projector.count() == 1
        yield projector
    finally:
        projections._projectors.pop(projector.name, None)
        with connection.cursor() as cur:
            cur.execute("DROP TABLE lean_tally")


@pytest.mark.parametrize("placed", [False, True], ids=["append", "reading-first"])
def test_a_lean_append_whose_projection_was_caught_up_meanwhile_is_decided_again(tally, placed):
    """An inline projection failed; writer A applies it lean (before the lock), reading its row; writer B
    catches it up and commits; then A takes the lock. The projection is healthy by then, but A's write was
    computed on the row as it was before the catch-up: committed lean, it undid what B applied. The
    `reading-first` case is a caller that reads the projection's tables itself before appending lean
    (placement), passing what it saw."""
    store.append([_event("/lean", "bad", "s-bad", "lean.bad")])  # fails: the projection stops before it
    assert not projections.healthy() and tally.count() == 1
    tally.fixed = True

    def writer_a():
        if not placed:
            return store.append([_event("/lean", "slow", "s-slow", "lean.slow")])
        with transaction.atomic():
            seen = store.inline_seen()
            return store.append(
                [_event("/lean", "slow", "s-slow", "lean.slow")], lean_only=True, inline_seen=seen
            )

    a, outcome = _in_thread(writer_a)
    assert tally.entered.wait(WAIT)  # A has read the tally (1) and waits before writing it
    with transaction.atomic():
        projections.catch_up_if_behind()  # B applies `bad`: 2, committed
    assert projections.healthy() and tally.count() == 2
    tally.release.set()
    a.join(WAIT)
    assert not a.is_alive()

    if placed:  # refused whole, for the caller to decide again; nothing of it written
        assert isinstance(outcome.get("error"), store.LeanAppendRefused), outcome
        assert not StoredEvent.objects.filter(event_id="slow").exists()
        assert tally.count() == 2
        store.append([_event("/lean", "slow", "s-slow", "lean.slow")])
    else:
        assert "error" not in outcome, outcome
    # warm-up, bad and slow, each counted once: A's lean write was refused and done again under the lock.
    assert tally.count() == 3
    assert [e.id for e in log.read_after(0)][-2:] == ["bad", "slow"]


def test_a_lean_append_after_a_refusal_keeps_the_new_reading_and_goes_lean_again(tally):
    """The state the lock saw comes back with a refusal: the next append is lean again."""
    from hub.backends.postgresql import _inline_seen

    names = frozenset(projections.names())
    _inline_seen[names] = "not what the checkpoints say"
    tally.locked.clear()
    store.append([_event("/lean", "one", "s-one")])
    assert tally.locked == [False, True]  # refused lean (a stale reading), applied again under the lock
    assert _inline_seen[names] != "not what the checkpoints say"

    tally.locked.clear()
    store.append([_event("/lean", "two", "s-two")])
    assert tally.locked == [False]  # lean, and not refused
    assert tally.count() == 3


class _Undone(Exception):
    pass


@pytest.mark.parametrize("placed", [False, True], ids=["append", "reading-first"])
def test_a_reading_taken_in_a_transaction_that_caught_up_and_rolled_back_is_not_kept(tally, placed):
    """A transaction that caught the projection up reads the checkpoints as its own, uncommitted: kept for
    the whole process, that reading outlived its rollback, and matched the one a real catch-up later
    committed, so a lean write computed before that catch-up went through."""
    store.append([_event("/lean", "bad", "s-bad", "lean.bad")])
    tally.fixed = True
    with pytest.raises(_Undone), transaction.atomic():
        projections.catch_up_if_behind()
        store.append([_event("/lean", "later", "s-later")])
        raise _Undone
    assert not projections.healthy() and tally.count() == 1  # nothing of it committed

    def writer_a():
        if not placed:
            return store.append([_event("/lean", "slow", "s-slow", "lean.slow")])
        with transaction.atomic():
            seen = store.inline_seen()
            return store.append(
                [_event("/lean", "slow", "s-slow", "lean.slow")], lean_only=True, inline_seen=seen
            )

    a, outcome = _in_thread(writer_a)
    assert tally.entered.wait(WAIT)  # A has read the tally (1)
    with transaction.atomic():
        projections.catch_up_if_behind()  # B applies `bad`: 2, committed
    tally.release.set()
    a.join(WAIT)
    assert not a.is_alive()

    if placed:
        assert isinstance(outcome.get("error"), store.LeanAppendRefused), outcome
        store.append([_event("/lean", "slow", "s-slow", "lean.slow")])
    else:
        assert "error" not in outcome, outcome
    assert tally.count() == 3  # warm-up, bad, slow


def test_a_reading_taken_in_another_threads_uncommitted_catch_up_is_not_shared(tally):
    """Thread T catches up and appends in one transaction; its lean attempt, refused, kept the state T saw
    (its own, uncommitted) for the whole process. Thread A took it, read the row before T committed, and
    its lean write undid T's."""
    store.append([_event("/lean", "bad", "s-bad", "lean.bad")])
    tally.fixed = True
    appended, go_on = threading.Event(), threading.Event()

    def writer_t():
        with transaction.atomic():
            projections.catch_up_if_behind()  # `bad` applied: 2, not committed yet
            store.append([_event("/lean", "t", "s-t")])  # 3
            appended.set()
            assert go_on.wait(WAIT)

    t, t_outcome = _in_thread(writer_t)
    assert appended.wait(WAIT)

    def writer_a():
        with transaction.atomic():
            seen = store.inline_seen()
            return store.append(
                [_event("/lean", "slow", "s-slow", "lean.slow")], lean_only=True, inline_seen=seen
            )

    a, outcome = _in_thread(writer_a)
    assert tally.entered.wait(WAIT)  # A has read the tally as committed (1)
    go_on.set()
    t.join(WAIT)
    assert "error" not in t_outcome, t_outcome
    tally.release.set()
    a.join(WAIT)
    assert not a.is_alive()

    assert isinstance(outcome.get("error"), store.LeanAppendRefused), outcome
    store.append([_event("/lean", "slow", "s-slow", "lean.slow")])
    assert tally.count() == 4  # warm-up, bad, t, slow
