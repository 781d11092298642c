"""Subscriptions in one process: exactly once, leases, parking a failing one alone, resume, skip, lag."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from hub import projections, store, subscriptions
from hub.backends import backend
from hub.events import NewEvent
from hub.models import SkippedEvent, Subscription
from hub.runner import MAX_PAGE, Runner, next_page
from tests.conftest import requires_postgresql
from tests.e2e import servers
from tests.hub.tally.models import Fixed, Tallied

pytestmark = pytest.mark.django_db
LEASE = timedelta(seconds=30)


@pytest.fixture(autouse=True)
def _runners_apply_subscriptions(settings):
    """These tests are about applying subscriptions: nothing applies them in place."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False


def post(*types: str) -> list[int]:
    events = [NewEvent(source="/t", id=f"e{next(_ids)}", type=t, stream="s", data={}) for t in types]
    return [r.position for r in store.append(events)]


_ids = iter(range(1, 10**6))


def tallied(name: str) -> list[int]:
    return list(
        Tallied.objects.filter(subscription=name).order_by("position").values_list("position", flat=True)
    )


def run_until_idle(runner: Runner) -> None:
    while runner.pass_once():
        pass


def test_a_runner_applies_each_event_of_its_types_once_in_order_and_checkpoints_the_head():
    positions = post("tally.counted", "other.thing", "tally.counted")
    runner = Runner(["tally", "mirror"], owner="r1")
    subscriptions.ensure_rows(runner.names)

    run_until_idle(runner)
    run_until_idle(runner)  # nothing new: nothing applied twice

    assert tallied("tally") == tallied("mirror") == [positions[0], positions[2]]
    assert Subscription.objects.get(name="tally").position == positions[-1]


def test_events_of_other_types_still_move_the_checkpoint_to_the_head():
    post("tally.counted")
    head = post("other.thing", "other.thing")[-1]
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    run_until_idle(runner)

    (status,) = subscriptions.status(["tally"])
    assert (status.position, status.lag_events, status.lag_seconds) == (head, 0, 0.0)


def test_batches_are_bounded_and_each_commits_its_checkpoint():
    positions = post(*["tally.counted"] * 5)
    subscriptions.ensure_rows(["tally"])
    assert subscriptions.acquire("tally", "r1", LEASE)

    assert subscriptions.process("tally", "r1", limit=2) == positions[1] - 0
    assert Subscription.objects.get(name="tally").position == positions[1]
    assert tallied("tally") == positions[:2]


def test_only_the_lease_holder_applies_and_an_expired_lease_is_taken_over():
    post("tally.counted")
    subscriptions.ensure_rows(["tally"])
    assert subscriptions.acquire("tally", "r1", LEASE)
    assert not subscriptions.acquire("tally", "r2", LEASE)
    assert subscriptions.process("tally", "r2") == 0
    assert tallied("tally") == []

    Subscription.objects.filter(name="tally").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert subscriptions.acquire("tally", "r2", LEASE)
    assert subscriptions.process("tally", "r1") == 0  # r1 lost it
    assert subscriptions.process("tally", "r2") > 0


def test_a_runner_renews_its_lease_once_a_third_of_it_has_passed_not_on_every_pass(settings):
    """Each renewal is a committed UPDATE; renewing on every pass was a third of the runner's commits."""
    settings.THREADLINE_SUBSCRIPTION_LEASE_SECONDS = 30
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    post("tally.counted")
    run_until_idle(runner)
    first = Subscription.objects.get(name="tally").lease_until

    post("tally.counted")
    run_until_idle(runner)  # within a third of the lease: applied, the lease not rewritten
    assert Subscription.objects.get(name="tally").lease_until == first
    assert len(tallied("tally")) == 2

    runner._renewed["tally"] -= 11  # a third of the lease (10 s) has passed since the renewal
    post("tally.counted")
    run_until_idle(runner)
    assert Subscription.objects.get(name="tally").lease_until > first
    assert len(tallied("tally")) == 3


def test_a_runner_trusting_its_lease_applies_nothing_once_another_runner_took_it_over():
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    post("tally.counted")
    run_until_idle(runner)
    # r1's lease expired (a long pause) and r2 took it over; r1 still trusts its last renewal.
    Subscription.objects.filter(name="tally").update(lease_until=timezone.now() - timedelta(seconds=1))
    assert subscriptions.acquire("tally", "r2", LEASE)

    post("tally.counted")
    assert not runner.pass_once()
    assert len(tallied("tally")) == 1
    runner._renewed["tally"] -= LEASE.total_seconds()  # its next renewal is refused: r2 holds the lease
    assert not runner.pass_once() and "tally" not in runner._renewed


def test_a_runner_that_lost_its_lease_mid_batch_commits_nothing():
    post("tally.counted")
    subscriptions.ensure_rows(["tally"])
    assert subscriptions.acquire("tally", "r1", LEASE)
    original = Tallied.objects.bulk_create

    def taken_over_meanwhile(rows, *args, **kwargs):
        Subscription.objects.filter(name="tally").update(lease_owner="r2")
        return original(rows, *args, **kwargs)

    Tallied.objects.bulk_create = taken_over_meanwhile
    try:
        assert subscriptions.process("tally", "r1") == 0
    finally:
        Tallied.objects.bulk_create = original
    assert tallied("tally") == [] and Subscription.objects.get(name="tally").position == 0


def poison_between_two_counts() -> tuple[int, int, int, Runner]:
    """Three events, the middle one `tally` cannot apply until fixed; a runner of tally and mirror has
    applied them (tally parks on the poison). Returns the three positions and the runner."""
    good = post("tally.counted")[0]
    poison = post("tally.poison")[0]
    after = post("tally.counted")[0]
    runner = Runner(["tally", "mirror"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    run_until_idle(runner)
    return good, poison, after, runner


def test_a_failing_event_parks_that_subscription_alone_and_resume_after_the_fix_catches_up(caplog):
    good, poison, after, runner = poison_between_two_counts()

    assert tallied("mirror") == [good, poison, after]  # the other subscription went on
    assert tallied("tally") == [good]  # applied up to the event before the poison one
    row = Subscription.objects.get(name="tally")
    assert (row.state, row.failed_position, row.position, row.attempts) == ("parked", poison, good, 1)
    assert "cannot count poison" in row.last_error and row.retry_at > timezone.now()
    # The operator's log says what failed, as the row keeps it (with the exception's class), and what next.
    assert (
        f"subscription tally parked at position {poison} (attempt 1): {row.last_error}; retried in 2 s, or"
        " now after a fix with manage.py subscriptions resume tally"
    ) in caplog.text
    # Appends go on while it is parked.
    later = post("tally.counted")[0]
    run_until_idle(runner)
    assert tallied("tally") == [good]  # waiting for its retry, not hammering
    (status,) = subscriptions.status(["tally"])
    assert status.state == "parked" and status.lag_events == 3 and status.lag_seconds >= 0

    # A retry that fails again counts the attempt and backs off further.
    Subscription.objects.filter(name="tally").update(retry_at=timezone.now() - timedelta(seconds=1))
    run_until_idle(runner)
    assert Subscription.objects.get(name="tally").attempts == 2

    Fixed.objects.create(position=poison)  # the operator fixes the cause
    subscriptions.resume("tally")
    run_until_idle(runner)

    assert tallied("tally") == [good, poison, after, later]
    row = Subscription.objects.get(name="tally")
    assert (row.state, row.failed_position, row.last_error, row.attempts) == ("running", None, "", 0)


class Tallier:
    """A subscription of the test's own that tallies each event it applies under its name."""

    name: str
    types: frozenset[str]

    def apply_all(self, events):
        Tallied.objects.bulk_create([Tallied(subscription=self.name, position=e.position) for e in events])

    def reset(self):
        Tallied.objects.filter(subscription=self.name).delete()


def registered(handler: Tallier):
    """A fixture's body: the handler registered for the test, and its name."""
    subscriptions.register_subscription(handler)
    yield handler.name
    subscriptions.unregister_subscription(handler.name)


class HalfWriter(Tallier):
    """Writes its rows, then raises on poison: its half-written batch must not survive, nor take the other
    subscriptions' batches of the same pass with it (one transaction, a savepoint each)."""

    name = "a-half-writer"  # first in name order: the pass applies it before the others
    types = frozenset({"tally.counted", "tally.poison"})

    def apply_all(self, events):
        super().apply_all(events)
        if any(e.type == "tally.poison" for e in events):
            raise ValueError("half written")


@pytest.fixture
def half_writer():
    yield from registered(HalfWriter())


def test_a_handler_failing_after_its_writes_rolls_back_alone_within_the_pass(half_writer):
    good, poison, after = post("tally.counted", "tally.poison", "tally.counted")
    Fixed.objects.create(position=poison)  # `tally` can count it; only the half writer fails
    runner = Runner([half_writer, "mirror", "tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)

    assert not runner.pass_once()  # one pass: the page was not full

    assert tallied("mirror") == tallied("tally") == [good, poison, after]
    # Its whole batch failed, so it was retried event by event: the one before the poison committed, the
    # poison's own half write rolled back with its savepoint, and it is parked there.
    assert tallied(half_writer) == [good]
    row = Subscription.objects.get(name=half_writer)
    assert (row.state, row.position, row.failed_position) == ("parked", good, poison)
    assert {r.name: r.position for r in Subscription.objects.filter(name__in=["mirror", "tally"])} == {
        "mirror": after,
        "tally": after,
    }


def test_skipping_the_failed_event_is_recorded_and_only_the_parked_event_can_be_skipped():
    good = post("tally.counted")[0]
    poison = post("tally.poison")[0]
    after = post("tally.counted")[0]
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    run_until_idle(runner)

    with pytest.raises(subscriptions.NotParked):
        subscriptions.skip("tally", after, reason="wrong event")
    subscriptions.skip("tally", poison, reason="ticket 42: malformed import")
    run_until_idle(runner)

    assert tallied("tally") == [good, after]
    skipped = SkippedEvent.objects.get()
    assert (skipped.subscription, skipped.position, skipped.reason) == (
        "tally",
        poison,
        "ticket 42: malformed import",
    )
    assert "cannot count poison" in skipped.error


def test_a_rebuild_names_what_it_cannot_apply_and_skips_what_an_operator_skipped():
    good, poison, after, runner = poison_between_two_counts()
    assert Subscription.objects.get(name="tally").state == "parked"

    with pytest.raises(CommandError) as refused:  # the runner parked on it; so does the rebuild, saying so
        call_command("rebuild_projections", stdout=io.StringIO(), stderr=io.StringIO())
    assert f"tally could not apply the events at positions {good}-{after}" in str(refused.value)
    assert "cannot count poison" in str(refused.value) and "subscriptions skip" in str(refused.value)
    assert tallied("tally") == [good] and Subscription.objects.get(name="tally").state == "parked"

    subscriptions.skip("tally", poison, reason="ticket 42: malformed import")
    run_until_idle(runner)
    call_command("rebuild_projections", stdout=io.StringIO(), stderr=io.StringIO())

    # What the runner did: tally without the skipped event; mirror, for which nothing was skipped, with it.
    assert tallied("tally") == [good, after]
    assert tallied("mirror") == [good, poison, after]


def test_the_subscriptions_command_lists_lag_and_state_and_resumes_and_skips():
    post("tally.counted")
    poison = post("tally.poison")[0]
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    run_until_idle(runner)

    out = io.StringIO()
    call_command("subscriptions", "list", "--json", stdout=out)
    rows = {row["name"]: row for row in map(json.loads, out.getvalue().splitlines())}
    assert rows["tally"]["state"] == "parked" and rows["tally"]["failed_position"] == poison
    assert rows["mirror"]["position"] == 0 and rows["mirror"]["lag_events"] == 2
    out = io.StringIO()
    call_command("subscriptions", "--json", stdout=out)  # as README writes it: `list` is the default
    again = {
        row["name"]: (row["state"], row["position"]) for row in map(json.loads, out.getvalue().splitlines())
    }
    assert again == {name: (row["state"], row["position"]) for name, row in rows.items()}

    with pytest.raises(CommandError, match="only the event it is parked on"):
        call_command("subscriptions", "skip", "tally", str(poison + 1), "--reason", "x", stdout=io.StringIO())
    with pytest.raises(CommandError, match=r"say why the event is skipped \(--reason\)"):
        call_command("subscriptions", "skip", "tally", str(poison), "--reason", "  ", stdout=io.StringIO())
    assert not SkippedEvent.objects.exists()
    call_command("subscriptions", "skip", "tally", str(poison), "--reason", "bad row", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no subscription nosuch"):
        call_command("subscriptions", "resume", "nosuch", stdout=io.StringIO())
    with pytest.raises(
        CommandError, match="subscription mirror is running: only a parked subscription can be"
    ):
        call_command("subscriptions", "resume", "mirror", stdout=io.StringIO())
    out = io.StringIO()
    call_command("subscriptions", stdout=out)
    assert "tally" in out.getvalue() and "running" in out.getvalue()
    # A parked subscription no runner holds: the table says both, and so do the warnings.
    subscriptions.ensure_rows(["mirror"])  # a runner started it (listing it wrote nothing)
    Subscription.objects.filter(name="mirror").update(state="parked", last_error="boom", failed_position=1)
    out, err = io.StringIO(), io.StringIO()
    call_command("subscriptions", stdout=out, stderr=err)
    assert "(no runner); failed at 1 (0 attempts): boom" in out.getvalue()
    assert (
        "warning: subscription mirror is parked on the event at position 1 (0 attempts; its error is under"
        " the subscription)"
    ) in err.getvalue()
    assert "manage.py subscriptions resume mirror, or skip the event with" in err.getvalue()
    assert "subscription tally is parked" not in err.getvalue()


@pytest.mark.parametrize("name", ["\udcff", "tally\x00"], ids=["not-utf-8", "nul"])
def test_resuming_or_skipping_a_name_no_database_can_hold_says_there_is_no_such_subscription(name):
    """A terminal's bytes that are not UTF-8 reach the command as lone surrogates: they were sent to the
    database, whose driver raised a traceback."""
    for args in (("resume", name), ("skip", name, "1", "--reason", "x")):
        with pytest.raises(CommandError, match="no subscription"):
            call_command("subscriptions", *args, stdout=io.StringIO())


@pytest.mark.parametrize("reason", ["bad \udcff row", "bad \x00 row"], ids=["not-utf-8", "nul"])
def test_a_skip_whose_reason_cannot_be_stored_is_refused_and_skips_nothing(reason):
    _, poison, _, _ = poison_between_two_counts()

    with pytest.raises(CommandError, match="the reason contains"):
        call_command("subscriptions", "skip", "tally", str(poison), "--reason", reason, stdout=io.StringIO())

    assert not SkippedEvent.objects.exists()
    assert Subscription.objects.get(name="tally").state == "parked"


@pytest.mark.parametrize(
    "reason",
    ["x\x01", "see \x1b]8;;https://evil.example\x07here\x1b]8;;\x07", "\x9b31m", "a\nb", "tally 3\u202e"],
)
def test_a_skip_reason_holding_a_control_character_is_refused_and_skips_nothing(reason):
    # Kept and printed to the next operator's terminal, an escape sequence would act there (a hidden link,
    # a rewritten line), a line break would print a false row, an override reorder it. A tab is text.
    _, poison, _, _ = poison_between_two_counts()

    with pytest.raises(CommandError, match=r"the reason holds a control character \(U\+[0-9A-F]{4}\)"):
        call_command("subscriptions", "skip", "tally", str(poison), "--reason", reason, stdout=io.StringIO())

    assert not SkippedEvent.objects.exists()
    assert Subscription.objects.get(name="tally").state == "parked"
    call_command("subscriptions", "skip", "tally", str(poison), "--reason", "bad\tdata", stdout=io.StringIO())
    assert SkippedEvent.objects.get().reason == "bad\tdata"


def test_a_rebuild_an_inline_projection_cannot_apply_says_no_skip_exists_for_it(monkeypatch):
    # It sent the operator to `subscriptions skip`, which knows only subscriptions.
    post("tally.counted")
    inline = projections.projectors()[0]

    def refuse(events):
        raise ValueError("cannot apply this")

    monkeypatch.setattr(inline, "types", frozenset({"tally.counted"}))
    monkeypatch.setattr(inline, "apply_all", refuse)
    with pytest.raises(CommandError) as refused:
        call_command("rebuild_projections", stdout=io.StringIO(), stderr=io.StringIO())

    said = str(refused.value)
    assert f"{inline.name} could not apply the events at positions" in said
    assert f"{inline.name} is an inline projection" in said and "subscriptions skip" not in said


def test_the_list_warns_of_each_subscription_no_runner_holds():
    post("tally.counted", "tally.counted")
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(["tally", "mirror"])
    run_until_idle(runner)  # r1 holds tally; nothing holds mirror

    warnings = subscriptions.unattended(subscriptions.status(["tally", "mirror"]))
    assert warnings == [
        "no runner holds subscription mirror: 2 events (0 s) behind the head are not being applied;"
        " start manage.py run_subscriptions"
    ]
    err = io.StringIO()
    call_command("subscriptions", stdout=io.StringIO(), stderr=err)
    assert f"warning: {warnings[0]}" in err.getvalue().splitlines()
    assert "subscription tally" not in err.getvalue()

    subscriptions.release("tally", "r1")  # as a runner stopping does: tally has applied all, the next waits
    assert subscriptions.unattended(subscriptions.status(["tally"])) == [
        "no runner holds subscription tally: new events will not be applied;"
        " start manage.py run_subscriptions"
    ]


def test_asking_for_the_state_of_a_subscription_no_runner_has_started_writes_nothing(client):
    """`/readyz` details and the list only read (a replica could serve them): a subscription without a
    row yet is shown at position 0, as the runner that starts it will create it."""
    post("tally.counted", "tally.counted")
    Subscription.objects.all().delete()

    (status,) = subscriptions.status(["tally"])
    call_command("subscriptions", stdout=io.StringIO(), stderr=io.StringIO())

    assert not Subscription.objects.exists()
    assert (status.position, status.lag_events, status.state, status.attempts) == (0, 2, "running", 0)
    assert status.built_version == status.version and status.runner == ""


@pytest.mark.django_db(transaction=True)  # the command is a process of its own: it reads what is committed
def test_listing_into_a_pipe_its_reader_closed_stops_quietly():
    subscriptions.ensure_rows(subscriptions.registered())
    listing = subprocess.Popen(
        [sys.executable, "manage.py", "subscriptions", "--json"],
        env={k: v for k, v in servers.server_env().items() if k != "PYTHONUNBUFFERED"},  # as operators run it
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    listing.stdout.close()  # as `| head -0` would, before the command writes a line
    _, err = listing.communicate(timeout=60)
    assert listing.returncode == 1
    assert err.decode() == ""


def test_a_subscription_named_twice_is_run_once():
    post("tally.counted", "tally.counted")
    runner = Runner(["tally", "mirror", "tally"], owner="r1")
    assert runner.names == ["tally", "mirror"]

    subscriptions.ensure_rows(runner.names)
    run_until_idle(runner)

    assert len(tallied("tally")) == 2


def test_a_runner_for_an_unknown_subscription_is_refused():
    with pytest.raises(CommandError, match="no subscription named nosuch"):
        call_command("run_subscriptions", "nosuch", stdout=io.StringIO())


def test_a_woken_runner_starts_a_pass_no_sooner_than_the_gather_interval_after_the_last(settings):
    settings.THREADLINE_SUBSCRIPTION_GATHER_SECONDS = 10.0
    runner = Runner(["tally"], owner="r1")
    waits: list[float] = []
    runner.stopping.wait = waits.append  # records how long it would wait; nothing else is replaced

    runner._gather()  # no pass yet: a quiet log's first event is applied at once
    assert waits == []

    runner._last_pass = time.monotonic()
    runner._gather()
    assert len(waits) == 1 and 9.0 < waits[0] <= 10.0

    runner._last_pass = time.monotonic() - 11.0  # the last pass is longer ago than the interval
    runner._gather()
    assert len(waits) == 1


@pytest.mark.skipif(not backend().notifies, reason="LISTEN/NOTIFY is PostgreSQL's")
def test_a_runner_that_starts_listening_looks_at_the_log_once_more_before_it_waits(settings):
    """An append between a pass and the runner's first LISTEN (or one after the LISTEN connection broke)
    rings no bell for it: the runner makes a pass once it listens, rather than wait for the poll."""
    settings.THREADLINE_SUBSCRIPTION_POLL_SECONDS = 3600.0
    settings.THREADLINE_SUBSCRIPTION_LEASE_SECONDS = 3600.0
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(runner.names)
    run_until_idle(runner)
    [position] = post("tally.counted")  # not listening yet: no notification will reach it
    waiting = threading.Thread(target=runner._wait, daemon=True)

    waiting.start()
    waiting.join(timeout=60)  # far short of the hour's poll: it did not wait for it

    try:
        assert not waiting.is_alive()
        assert runner._listener is not None and not runner._listener.closed
        run_until_idle(runner)
        assert tallied("tally") == [position]
    finally:
        runner._close_listener()


def test_a_pass_reads_larger_pages_while_a_backlog_is_applied_fast_and_smaller_once_a_pass_runs_long():
    lease = 5.0
    assert next_page(500, full=True, seconds=0.1, lease_seconds=lease) == 1000  # behind, and quick: grow
    assert next_page(8000, full=True, seconds=0.1, lease_seconds=lease) == MAX_PAGE  # never past the cap
    assert next_page(MAX_PAGE, full=True, seconds=0.1, lease_seconds=lease) == MAX_PAGE
    assert next_page(2000, full=False, seconds=0.1, lease_seconds=lease) == 2000  # caught up: stays
    assert next_page(2000, full=True, seconds=0.7, lease_seconds=lease) == 2000  # between a tenth and a fifth
    assert next_page(4000, full=True, seconds=1.5, lease_seconds=lease) == 2000  # over a fifth: halve
    assert next_page(600, full=True, seconds=4.0, lease_seconds=lease) == subscriptions.BATCH  # never below
    assert next_page(500, full=True, seconds=0.1, lease_seconds=0.5) == 500  # a short lease keeps pages small


def test_a_runner_catching_up_grows_its_page_and_applies_every_event_once(settings):
    settings.THREADLINE_SUBSCRIPTION_LEASE_SECONDS = 600.0  # so that no pass on a slow machine shrinks it
    positions = post(*["tally.counted"] * (subscriptions.BATCH * 3 + 7))
    runner = Runner(["tally"], owner="r1")
    subscriptions.ensure_rows(["tally"])
    pages = []
    while True:
        pages.append(runner.page)
        if not runner.pass_once():
            break
    assert pages[:3] == [subscriptions.BATCH, subscriptions.BATCH * 2, subscriptions.BATCH * 4]
    assert tallied("tally") == positions
    assert Subscription.objects.get(name="tally").position == positions[-1]


class Other(Tallier):
    """A subscription of other types, far behind: a pass's page, read from the lowest position of the
    runner's subscriptions, then ends before the event another of them is parked on."""

    name = "other"
    types = frozenset({"other.thing"})


@pytest.fixture
def other():
    yield from registered(Other())


def test_a_pass_that_stops_short_of_the_parked_event_keeps_the_subscription_parked(other):
    """It was marked running, its error, attempts and backoff cleared, while still stuck before the same
    event: the status lied, `skip` refused it as running, and the backoff never grew past 2 s."""
    good = post("tally.counted")[0]
    post(*["other.thing"] * 10)
    poison = post("tally.poison")[0]
    subscriptions.ensure_rows(["tally", other])
    for name in ("tally", other):
        assert subscriptions.acquire(name, "r1", LEASE)
    while subscriptions.process_held(["tally"], "r1").moved:
        pass
    past = timezone.now() - timedelta(seconds=1)
    Subscription.objects.filter(name="tally").update(attempts=5, retry_at=past)

    subscriptions.process_held(["tally", other], "r1", limit=5)  # its page ends before the poison

    row = Subscription.objects.get(name="tally")
    assert good < row.position < poison  # nothing of its own before the page's end: the checkpoint moves
    assert (row.state, row.failed_position, row.attempts) == ("parked", poison, 5)
    assert "cannot count poison" in row.last_error
    while subscriptions.process_held(["tally", other], "r1").moved:
        pass
    row = Subscription.objects.get(name="tally")
    assert (row.state, row.failed_position, row.attempts) == ("parked", poison, 6)  # backing off further
    subscriptions.skip("tally", poison, reason="ticket 7: malformed import")  # the parked event, as it says
    while subscriptions.process_held(["tally", other], "r1").moved:
        pass
    assert Subscription.objects.get(name="tally").state == "running"
    assert tallied("tally") == [good]


@requires_postgresql
def test_parking_counts_the_attempts_on_the_locked_row():
    """The attempts were read without a lock: a `resume` committed before the UPDATE was overwritten with
    the old count's backoff. The row is read FOR UPDATE: a resume waits for the park, or the park for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    poison = post("tally.counted", "tally.poison")[1]
    subscriptions.ensure_rows(["tally"])
    assert subscriptions.acquire("tally", "r1", LEASE)
    with CaptureQueriesContext(connection) as queries:
        while subscriptions.process_held(["tally"], "r1").moved:
            pass

    statements = [q["sql"] for q in queries.captured_queries]
    locked = next(i for i, sql in enumerate(statements) if "FOR UPDATE" in sql and "hub_subscription" in sql)
    parked = next(i for i, sql in enumerate(statements) if sql.startswith("UPDATE") and "'parked'" in sql)
    assert locked < parked
    assert Subscription.objects.get(name="tally").failed_position == poison
