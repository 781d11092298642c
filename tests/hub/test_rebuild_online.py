"""Online rebuild (PostgreSQL): new tables replayed beside the live ones and swapped in, equal to an offline
rebuild; appends go on while a page is open; a crash leaves the live tables as they were and a re-run
resumes; the swapped-in tables have the migrated schema. On SQLite the command rebuilds offline instead."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hub import store, subscriptions
from hub.backends import backend, shadow
from hub.errors import ApplicationError
from hub.events import NewEvent
from hub.models import StoredEvent, Subscription
from hub.rebuild import online, rebuild
from hub.versions import version_of
from interactions.models import (
    AgentPresence,
    ConversationRef,
    Customer,
    CustomerIdentifier,
    Role,
    Thread,
    TimelineEntry,
)
from interactions.projections.threads import ThreadsProjector
from tests.conftest import client_for, requires_postgresql, requires_sqlite
from tests.e2e.test_read_models_runner import journey
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

READ_MODELS = (Customer, CustomerIdentifier, Thread, ConversationRef, TimelineEntry, AgentPresence)
NAMES = online.rebuildable()
TABLES = [m._meta.db_table for h in subscriptions.handlers() if h.name in NAMES for m in h.tables]


def state() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in READ_MODELS}


def offline_state() -> dict[str, list[dict]]:
    rebuild()
    return state()


def oids() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT t, to_regclass(t)::oid FROM unnest(%s::text[]) AS t", [TABLES])
        return dict(cursor.fetchall())


def damage() -> None:
    """Make the live tables wrong in ways only a replay from the log repairs."""
    TimelineEntry.objects.filter(pk__in=TimelineEntry.objects.order_by("pk").values("pk")[:5]).delete()
    Thread.objects.update(event_count=0)
    Customer.objects.update(name="wrong")


def crash_on_page(n: int, pages: list[int] | None = None):
    """An `on_page` hook that notes each page's position in `pages` and stops the rebuild on the n-th, as a
    process stopped mid-page: that page's transaction rolls back, the ones before it stay committed."""
    pages = [] if pages is None else pages

    def hook(position: int) -> None:
        pages.append(position)
        if len(pages) == n:
            raise KeyboardInterrupt

    return hook


@pytest.fixture(autouse=True)
def _no_shadow_left_behind():
    """A test that fails part-way must not leave a shadow for the next test's rebuild to resume."""
    yield
    if connection.vendor == "postgresql":
        for schema in (shadow.SHADOW, shadow.RETIRED):
            with connection.cursor() as cursor:
                cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def sms_api():
    return client_for(ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/"))


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_context_subscriptions_and_presence_are_the_ones_rebuilt_online():
    # The tally subscriptions declare no tables.
    assert set(NAMES) == {"customers", "threads", "presence", "reachability", "nba", "analytics"}


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_online_rebuild_records_the_version_that_built_the_new_tables(monkeypatch):
    journey(5)
    threads = next(h for h in subscriptions.handlers() if h.name == "threads")
    upgraded = version_of(threads) + 1  # a deploy raised it
    monkeypatch.setattr(threads, "version", upgraded, raising=False)
    assert subscriptions.outdated(subscriptions.status(["threads", "customers"])) != []

    online.rebuild_online(["threads"], page=50)

    built = dict(
        Subscription.objects.filter(name__in=["threads", "customers"]).values_list("name", "built_version")
    )
    customers = next(h for h in subscriptions.handlers() if h.name == "customers")
    assert built == {"threads": upgraded, "customers": version_of(customers)}  # untouched: current
    assert subscriptions.outdated(subscriptions.status(["threads", "customers"])) == []


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_online_rebuild_replaces_damaged_tables_with_what_an_offline_rebuild_gives():
    journey(30)
    before = oids()
    damage()
    damaged = state()

    outcome = online.rebuild_online(page=17, lag=0)  # many pages, each its own transaction

    head = StoredEvent.objects.order_by("-position").values_list("position", flat=True).first()
    assert outcome.position == head and outcome.replayed == StoredEvent.objects.count()
    assert all(oids()[t] != before[t] for t in TABLES)  # new tables serve now
    rebuilt = state()
    assert rebuilt != damaged
    assert set(Subscription.objects.filter(name__in=NAMES).values_list("position", flat=True)) == {head}
    assert offline_state() == rebuilt
    assert not shadow.exists(shadow.SHADOW) and not shadow.exists(shadow.RETIRED)


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_swapped_in_tables_have_exactly_the_migrated_schema():
    journey(5)
    migrated, introspected, dumped = shadow.describe("public", TABLES), django_constraints(), schema_dump()
    assert migrated["interactions_customer_identifier"]["indexes"]  # names as the migrations gave them
    # Indexes and constraints are in the dump (the read models have no foreign keys since migration 0010).
    assert "ix_identifier_customer" in dumped and "PRIMARY KEY" in dumped
    online.rebuild_online(["customers", "threads"], page=10)
    online.rebuild_online(["customers", "threads"], page=10)  # and again, from swapped-in tables
    assert shadow.describe("public", TABLES) == migrated
    assert django_constraints() == introspected
    assert schema_dump() == dumped


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_describing_the_tables_for_the_swaps_check_costs_three_catalogue_queries_however_many_tables():
    # The swap describes the copies and the live tables while it holds the live ones.
    with CaptureQueriesContext(connection) as one:
        described = shadow.describe("public", TABLES[:1])
    with CaptureQueriesContext(connection) as every:
        described_all = shadow.describe("public", TABLES)
    assert len(one.captured_queries) == len(every.captured_queries) == 3
    assert described_all[TABLES[0]] == described[TABLES[0]]
    assert {t: d["persistence"] for t, d in described_all.items()} == {t: "p" for t in TABLES}
    assert all(d["columns"] and d["constraints"] and d["indexes"] for d in described_all.values())


def schema_dump() -> str:
    """`pg_dump --schema-only` of the rebuilt tables (no OIDs in it: equal text, equal schema)."""
    s = connection.settings_dict
    server = ["-h", s["HOST"] or "127.0.0.1", "-p", str(s["PORT"] or 5432), "-U", s["USER"]]
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "this test compares pg_dump --schema-only output: install the PostgreSQL client"
    done = subprocess.run(
        [pg_dump, "--schema-only", *server, *(f"--table=public.{t}" for t in TABLES), s["NAME"]],
        env={**os.environ, "PGPASSWORD": s.get("PASSWORD") or ""},
        capture_output=True,
        text=True,
        check=True,
    )
    # pg_dump brackets its script with a random \restrict key: not part of the schema
    return "\n".join(
        line for line in done.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def django_constraints() -> dict:
    """What Django's own introspection sees of the tables: columns, keys, indexes and their names."""
    with connection.cursor() as cursor:
        return {
            name: (
                connection.introspection.get_constraints(cursor, name),
                [tuple(c) for c in connection.introspection.get_table_description(cursor, name)],
            )
            for name in TABLES
        }


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_append_and_a_read_complete_while_a_page_of_the_rebuild_is_open(sms_api, settings):
    """The rebuild never takes the append lock nor a live table: an append (placement, the inline
    projections, the log) and a read of the live read models finish while a page's transaction is open."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    journey(10)
    subscriptions.apply_eagerly()  # the live read models, as a runner would have left them
    answers: list[dict] = []
    read: list[int] = []
    pages: list[int] = []

    def append_meanwhile(position: int) -> None:
        pages.append(position)
        if len(pages) != 2:
            return

        def work() -> None:
            try:
                answers.append(
                    post(sms_api, subject="tel:+15557770001", data={"channel": "sms", "text": "x"})
                )
                read.append(Customer.objects.count())
            finally:
                connection.close()

        writer = threading.Thread(target=work)
        writer.start()
        writer.join(60)  # bounded: a writer blocked by this open page would still be alive
        assert not writer.is_alive(), "an append waited for the rebuild's page"

    outcome = online.rebuild_online(page=15, lag=0, on_page=append_meanwhile)

    assert len(answers) == 1 and "error" not in answers[0], answers
    assert answers[0]["position"] > pages[1] and read
    assert outcome.position >= answers[0]["position"]  # the swap took the appended event in
    assert Customer.objects.filter(identifiers__uri="tel:+15557770001").exists()
    assert offline_state() == state()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_rebuild_leaves_the_live_tables_untouched_and_a_second_run_resumes():
    journey(20)
    before, live_oids = state(), oids()
    pages: list[int] = []

    with pytest.raises(KeyboardInterrupt):
        online.rebuild_online(page=20, lag=0, on_page=crash_on_page(3, pages))

    assert state() == before and oids() == live_oids
    assert online.progress_of_shadow() == {name: pages[1] for name in NAMES}  # two pages committed

    damage()
    reported: list[tuple[int, int]] = []
    outcome = online.rebuild_online(page=20, lag=0, progress=lambda *p: reported.append(p))
    assert outcome.resumed_from == pages[1]
    # In positions, from where it resumed to the head: a progress bar ends full, not short by what was done.
    assert pages[1] < reported[0][0] and reported[-1] == (
        outcome.position,
        StoredEvent.objects.last().position,
    )
    assert outcome.replayed == StoredEvent.objects.filter(position__gt=outcome.resumed_from).count()
    assert offline_state() == state()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_shadow_left_by_a_different_rebuild_is_started_afresh():
    journey(10)

    with pytest.raises(KeyboardInterrupt):
        online.rebuild_online(["customers"], page=5, lag=0, on_page=crash_on_page(2))
    assert set(online.progress_of_shadow()) == {"customers"}
    outcome = online.rebuild_online(page=50)
    assert outcome.resumed_from == 0 and "did not match" in outcome.notes[0]
    assert offline_state() == state()


def persistence(schema: str) -> dict[str, str]:
    """pg_class.relpersistence of each table in the schema: 'u' unlogged, 'p' an ordinary table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relpersistence FROM pg_class AS c JOIN pg_namespace AS n"
            " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            [schema],
        )
        return dict(cursor.fetchall())


@requires_postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("unlogged", "kind"), [(True, "u"), (False, "p")])
def test_the_copies_write_no_wal_while_replayed_and_are_ordinary_tables_once_swapped_in(
    settings, unlogged, kind
):
    # Unlogged copies spare the server the WAL of every row a replay writes (THREADLINE_REBUILD_UNLOGGED).
    settings.THREADLINE_REBUILD_UNLOGGED = unlogged
    journey(10)
    seen: list[dict[str, str]] = []

    online.rebuild_online(page=10, lag=0, on_page=lambda position: seen.append(persistence(shadow.SHADOW)))

    assert seen and all(set(tables) == {*TABLES, online.PROGRESS} for tables in seen)
    assert all(set(tables.values()) == {kind} for tables in seen)
    live = persistence("public")
    assert {live[t] for t in TABLES} == {"p"}
    assert offline_state() == state()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_tables_whose_foreign_keys_form_a_cycle_are_refused_before_the_replay_when_copies_are_unlogged():
    # A logged table may not point at an unlogged one, so copies that point at each other cannot be made
    # logged one by one. Found only when the whole replay was done, that threw the replay away.
    journey(10)
    customer, thread = Customer._meta.db_table, Thread._meta.db_table
    with connection.cursor() as cursor:  # the read models keep no foreign keys: two that point both ways
        cursor.execute(
            f"ALTER TABLE {thread} ADD CONSTRAINT cycle_for_test FOREIGN KEY (customer_id)"
            f" REFERENCES {customer} (id) NOT VALID"
        )
        cursor.execute(
            f"ALTER TABLE {customer} ADD CONSTRAINT cycle_for_test FOREIGN KEY (id) REFERENCES {thread} (id)"
            " NOT VALID"
        )
    try:
        pages: list[int] = []
        cycle = rf"^{customer}, {thread} point at each other through foreign keys in a cycle"
        with pytest.raises(shadow.ShadowRefused, match=cycle):
            online.rebuild_online(["customers", "threads"], page=10, on_page=pages.append)
        assert pages == []  # refused before a page was replayed
        assert not shadow.exists(shadow.SHADOW)
    finally:
        with connection.cursor() as cursor:
            for table in (customer, thread):
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS cycle_for_test")


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_copies_left_unlogged_are_never_swapped_in(monkeypatch):
    # Crash recovery empties an unlogged table: swapped in, the live read models would vanish at the next
    # crash. The swap compares the copies with the live tables, persistence included.
    journey(10)
    before = state()
    monkeypatch.setattr(shadow, "set_logged", lambda schema, tables: None)

    with pytest.raises(online.RebuildRefused, match="the shadow tables no longer match the live ones"):
        online.rebuild_online(page=10, lag=0)

    assert set(persistence("public").values()) == {"p"}
    assert state() == before


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_what_is_appended_while_the_copies_are_made_logged_is_applied_before_the_swap_locks(monkeypatch):
    # The swap holds the live tables (every context read waits): it must apply at most `lag` events. Those
    # appended while SET LOGGED wrote the copies to the WAL were all applied under that lock (review).
    journey(10)
    made_logged, lock_live = shadow.set_logged, shadow.lock_live
    behind: list[int] = []

    def set_logged_while_ingest_goes_on(schema, tables):
        made_logged(schema, tables)
        ingest = threading.Thread(target=lambda: (journey(10), connection.close()))
        ingest.start()
        ingest.join()

    def lock_and_measure(*args, **kwargs):
        lock_live(*args, **kwargs)
        behind.append(StoredEvent.objects.last().position - min(online.progress_of_shadow().values()))

    monkeypatch.setattr(shadow, "set_logged", set_logged_while_ingest_goes_on)
    monkeypatch.setattr(shadow, "lock_live", lock_and_measure)
    online.rebuild_online(page=10_000, lag=0)

    assert behind == [0]
    assert offline_state() == state()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_shadow_emptied_by_a_restart_after_a_crash_is_started_afresh_not_resumed_empty():
    # PostgreSQL empties unlogged tables when it restarts after a crash: the copies and their progress
    # alike, so the next run cannot take empty copies for ones replayed up to a position.
    journey(10)
    pages: list[int] = []

    with pytest.raises(KeyboardInterrupt):
        online.rebuild_online(page=10, lag=0, on_page=crash_on_page(2, pages))
    assert online.progress_of_shadow() == {name: pages[0] for name in NAMES}
    with connection.cursor() as cursor:  # what crash recovery does to every unlogged table (only those)
        for table, kind in persistence(shadow.SHADOW).items():
            if kind == "u":
                cursor.execute(f"TRUNCATE {shadow.SHADOW}.{table}")

    damage()
    outcome = online.rebuild_online(page=10, lag=0)

    assert outcome.resumed_from == 0 and "emptied by a restart" in outcome.notes[0]
    assert offline_state() == state()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_shadow_half_built_by_another_version_of_a_projector_is_started_afresh(monkeypatch):
    journey(10)
    pages: list[int] = []

    def crash(position: int) -> None:
        pages.append(position)
        if len(pages) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        online.rebuild_online(["customers"], page=5, lag=0, on_page=crash)
    customers = next(h for h in subscriptions.handlers() if h.name == "customers")
    upgraded = version_of(customers) + 1
    monkeypatch.setattr(customers, "version", upgraded, raising=False)  # upgraded before the second run

    outcome = online.rebuild_online(["customers"], page=50)

    assert outcome.resumed_from == 0 and "did not match" in outcome.notes[0]
    assert Subscription.objects.get(name="customers").built_version == upgraded


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_what_cannot_be_rebuilt_online_is_refused_with_the_reason():
    with pytest.raises(online.RebuildRefused, match="tally declare no tables"):
        online.rebuild_online(["tally"])
    with pytest.raises(online.RebuildRefused, match="no subscription named nosuch"):
        online.rebuild_online(["nosuch"])
    with pytest.raises(CommandError, match="mirror declare no tables"):
        call_command("rebuild_projections", "--online", "mirror", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="--page-size must be a number of events from 1"):
        call_command("rebuild_projections", "--online", "--page-size", "0", stdout=io.StringIO())
    assert not shadow.exists(shadow.SHADOW)


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_second_rebuild_while_one_runs_is_refused():
    journey(3)
    refused: list[str] = []

    def second(position: int) -> None:
        def work() -> None:
            try:
                online.rebuild_online(page=5, lag=0)
            except online.RebuildRefused as exc:
                refused.append(exc.detail)
            finally:
                connection.close()

        if not refused:
            thread = threading.Thread(target=work)
            thread.start()
            thread.join(60)

    online.rebuild_online(page=5, lag=0, on_page=second)
    assert refused and "another online rebuild is running" in refused[0]


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_command_rebuilds_online_with_its_progress_bar():
    journey(8)
    expected = offline_state()
    damage()
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "rebuild_projections", "--online", "customers", "threads", "--page-size", "9", stdout=out, stderr=err
    )
    assert "Rebuilt customers, threads online from" in out.getvalue()
    assert "replaying online: 100%" in err.getvalue().split("\r")[-1]  # tqdm writes its bar to stderr
    assert {k: v for k, v in state().items() if k != "AgentPresence"} == {
        k: v for k, v in expected.items() if k != "AgentPresence"
    }


@requires_sqlite
@pytest.mark.django_db(transaction=True)
def test_on_sqlite_the_command_rebuilds_offline_instead_and_says_so():
    journey(5)
    expected = state()
    damage()
    out, err = io.StringIO(), io.StringIO()
    call_command("rebuild_projections", "--online", stdout=out, stderr=err)
    assert "An online rebuild needs PostgreSQL" in err.getvalue()
    assert "Rebuilt" in out.getvalue() and state() == expected
    with pytest.raises(online.RebuildRefused, match="needs PostgreSQL"):
        online.rebuild_online()


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_during_a_rebuild_says_what_it_left_and_ends_with_130_not_a_traceback(monkeypatch):
    """Online (PostgreSQL) after a committed page, offline (SQLite) in its one transaction."""
    journey(5)
    before, live = state(), oids() if connection.vendor == "postgresql" else None
    argv, stop_at = (["--online", "--page-size", "5"], 2) if live else ([], 1)
    calls: list[int] = []
    original = ThreadsProjector.apply_all

    def interrupted(self, events):
        calls.append(len(events))
        if len(calls) == stop_at:
            raise KeyboardInterrupt  # Ctrl-C, as the terminal sends it, mid-replay
        return original(self, events)

    monkeypatch.setattr(ThreadsProjector, "apply_all", interrupted)

    with pytest.raises(CommandError) as stopped:
        call_command("rebuild_projections", *argv, stdout=io.StringIO(), stderr=io.StringIO())

    assert stopped.value.returncode == 130
    assert str(stopped.value) == (
        "interrupted: the live tables are untouched; run it again to resume from its last committed page"
        if live
        else "interrupted: nothing was changed (an offline rebuild commits all at once); run it again"
    )
    assert state() == before
    if live:
        assert oids() == live and online.progress_of_shadow()  # a page committed: a second run resumes


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_ctrl_c_while_the_old_tables_are_dropped_after_the_swap_ends_it_as_rebuilt(monkeypatch):
    """It said "the live tables are untouched; run it again to resume", after the swap had committed."""
    journey(3)
    damage()
    drop = shadow.drop

    def interrupted(schema):
        if schema == shadow.RETIRED and shadow.exists(shadow.RETIRED):
            raise KeyboardInterrupt
        drop(schema)

    monkeypatch.setattr(shadow, "drop", interrupted)
    out = io.StringIO()
    call_command("rebuild_projections", "--online", stdout=out, stderr=io.StringIO())

    assert "interrupted while dropping the old tables" in out.getvalue()
    monkeypatch.setattr(shadow, "drop", drop)
    assert offline_state() == state()
    online.rebuild_online(page=50)  # the next one drops them
    assert not shadow.exists(shadow.RETIRED)


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_during_the_analyze_after_an_offline_rebuild_committed_ends_it_as_rebuilt(monkeypatch):
    """ANALYZE is the last step, after the commit: "nothing was changed" would be false there."""
    journey(3)
    expected = state()
    damage()

    def interrupted(self, tables):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(backend()), "analyze", interrupted)
    out = io.StringIO()
    call_command("rebuild_projections", stdout=out, stderr=io.StringIO())

    assert out.getvalue().startswith("Rebuilt ") and state() == expected


@pytest.mark.django_db
def test_the_command_refuses_an_unknown_subscription_on_either_database_and_rebuilds_nothing():
    journey(2)
    before = state()
    with pytest.raises(CommandError, match="no subscription named bogus"):
        call_command("rebuild_projections", "--online", "customers", "bogus", stdout=io.StringIO())
    assert state() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv, refusal",
    [
        (["--page-size", "100"], "--page-size applies to an online rebuild"),
        (["--online", "placement"], "placement is an inline projection (written by every append): rebuilt"),
        (["--online", "--page-size", "0"], "--page-size must be a number of events from 1 to 1,000,000"),
        (["--online", "--page-size", "100000000000000000000"], "--page-size must be a number of events"),
    ],
)
def test_the_command_refuses_options_it_cannot_keep_and_rebuilds_nothing(argv, refusal):
    journey(2)
    before = state()
    damage()
    damaged = state()
    assert damaged != before
    with pytest.raises(CommandError, match=re.escape(refusal)):
        call_command("rebuild_projections", *argv, stdout=io.StringIO(), stderr=io.StringIO())
    assert state() == damaged


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_online_rebuild_names_what_it_cannot_apply_and_skips_what_was_skipped(sms_api, monkeypatch):
    journey(3)
    original = ThreadsProjector.apply_all

    def broken(self, events):
        if any(e.type == "message.received" and e.data.get("text") == "poison" for e in events):
            raise RuntimeError("bug in the projector")
        return original(self, events)

    monkeypatch.setattr(ThreadsProjector, "apply_all", broken)
    poison = post(sms_api, subject="tel:+15550009999", data={"channel": "sms", "text": "poison"})["position"]
    post(sms_api, subject="tel:+15550009999", data={"channel": "sms", "text": "after"})
    assert Subscription.objects.get(name="threads").failed_position == poison
    live = oids()

    with pytest.raises(ApplicationError) as refused:
        online.rebuild_online(["threads"], page=500)
    assert "threads could not apply the events at positions" in refused.value.detail
    assert "bug in the projector" in refused.value.detail and oids() == live  # the live tables untouched

    subscriptions.skip("threads", poison, reason="the projector cannot read it")
    online.rebuild_online(["threads"], page=500)
    rebuilt = state()

    assert not TimelineEntry.objects.filter(position=poison).exists()
    assert TimelineEntry.objects.filter(text="after").exists()
    assert offline_state() == rebuilt  # the offline rebuild skips it too


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_batch_failing_after_its_subscription_was_moved_on_does_not_park_it(settings, monkeypatch):
    """What a runner's batch meets when an online rebuild swaps the tables under it: the position it read
    is gone. Its failure must not park the subscription the swap moved on."""
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    poison = store.append([NewEvent(source="/t", id="p1", type="tally.poison", stream="s", data={})])
    subscriptions.ensure_rows(["tally"])
    assert subscriptions.acquire("tally", "r1", timedelta(seconds=30))
    handler = next(h for h in subscriptions.handlers() if h.name == "tally")
    failing = handler.apply_all

    def swapped_meanwhile(events):
        def move() -> None:
            try:  # committed by another session, as the swap's transaction is
                Subscription.objects.filter(name="tally").update(position=poison[0].position)
            finally:
                connection.close()

        mover = threading.Thread(target=move)
        mover.start()
        mover.join(30)
        failing(events)

    monkeypatch.setattr(handler, "apply_all", swapped_meanwhile)
    subscriptions.process("tally", "r1")
    row = Subscription.objects.get(name="tally")
    assert (row.state, row.position, row.failed_position) == ("running", poison[0].position, None)


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_online_rebuild_of_subscriptions_no_runner_has_started_sets_their_positions(settings):
    """Without their rows the swap set no position, and the first runner applied the whole log again onto
    the rebuilt tables (counts doubled)."""
    from hub.runner import Runner

    journey(10)
    settings.THREADLINE_SUBSCRIPTIONS_EAGER = False
    Subscription.objects.filter(name__in=NAMES).delete()  # a deploy added them; no runner has run since

    outcome = online.rebuild_online(lag=0)

    positions = dict(Subscription.objects.filter(name__in=NAMES).values_list("name", "position"))
    assert positions == dict.fromkeys(NAMES, outcome.position)
    rebuilt = state()
    runner = Runner(list(NAMES), owner="r1")
    while runner.pass_once():
        pass
    assert state() == rebuilt == offline_state()
