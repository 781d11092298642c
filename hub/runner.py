"""The subscription runner: a process that applies every registered subscription it holds the lease of.

Any number of runners may run. Each subscription is applied by exactly one of them at a time: a runner takes
a lease on the subscription's row and renews it while it runs; when a runner dies, its leases expire and
another runner takes them over within `THREADLINE_SUBSCRIPTION_LEASE_SECONDS`. The lease is held in the
database, not in memory, and the checkpoint's conditional advance (hub.subscriptions) makes a runner that
lost its lease unable to commit a batch, even if its clock or its pass was late.

A runner renews a lease once a third of its term has passed, not on every pass (see `Runner._holds`).

A runner sleeps until the append's NOTIFY wakes it (PostgreSQL) or its poll interval passes (both
databases): a lost notification only delays. Woken, it starts a pass no sooner than
`THREADLINE_SUBSCRIPTION_GATHER_SECONDS` after the previous one started: under steady traffic each pass
then applies the events of that interval together, instead of one pass (one read of the log, one
transaction) per appended event, at the cost of that interval at most in lag. A quiet log's first event is
applied at once.

A pass reads one page of the log. Its size adapts (`next_page`): it starts at `subscriptions.BATCH` (500)
events, doubles after a full page applied in under a tenth of the lease, up to `MAX_PAGE`, and halves after a
pass over a fifth of it. Catching up a backlog, the read models then write each busy customer's and thread's
row once per large page instead of once per 500 events (replaying a 56,000-event log in process, alternating
in one run: 5,330 events/s with pages of 500, 7,250-8,500 with 5,000, 8,900-9,600 with 10,000). Under
steady traffic the pages stay small. A lease is renewed once a third of it has passed, so a pass may take up
to two thirds of it before another runner could take a subscription over; held to about a fifth, a pass
stays inside it on any machine, and one that ran over (its work rolled back, LeaseLost) halves the next page.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from hub import log, subscriptions
from hub.backends import backend

logger = logging.getLogger(__name__)

MAX_PAGE = 10_000  # events a pass may read, at most (a page of the log is held in memory while applied)
STOP_CHECK_SECONDS = 0.5  # a runner waiting for a NOTIFY looks this often whether it was asked to stop
RELEASE_WAIT_MS = 2_000  # a stopping runner waits this long for the database to give a lease back


def next_page(page: int, *, full: bool, seconds: float, lease_seconds: float) -> int:
    """The page size for the next pass, after a pass of `page` events that took `seconds` (full: it read
    `page` events, so more are waiting)."""
    if seconds > lease_seconds / 5:
        return max(subscriptions.BATCH, page // 2)
    if full and seconds < lease_seconds / 10:
        return min(MAX_PAGE, page * 2)
    return page


class Runner:
    def __init__(self, names: list[str] | None = None, *, owner: str | None = None) -> None:
        # Each once, in the order given (`run_subscriptions threads threads` runs threads once; its
        # lease, renewal and listing were doubled).
        self.names = list(dict.fromkeys(names or subscriptions.registered()))
        unknown = set(self.names) - set(subscriptions.registered())
        if unknown:
            raise ValueError(f"no subscription named {', '.join(sorted(unknown))}")
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl = timedelta(seconds=settings.THREADLINE_SUBSCRIPTION_LEASE_SECONDS)
        self.poll = settings.THREADLINE_SUBSCRIPTION_POLL_SECONDS
        self.gather = settings.THREADLINE_SUBSCRIPTION_GATHER_SECONDS
        self._last_pass = float("-inf")  # when the previous pass started (monotonic seconds)
        self.page = subscriptions.BATCH  # events the next pass reads at most (see next_page)
        self.stopping = threading.Event()
        self.unreleased: list[str] = []  # leases the last stop could not give back (they expire)
        self._listener = None
        # When this runner last took or renewed each lease (monotonic seconds).
        self._renewed: dict[str, float] = {}

    def stop(self) -> None:
        self.stopping.set()

    def announce(self) -> None:
        """Make its subscriptions' rows, and log that it starts, with what an operator should act on (a read
        model an older version of its projector built)."""
        subscriptions.ensure_rows(self.names)
        logger.info("runner %s started for %s", self.owner, ", ".join(self.names) or "no subscriptions")
        for warning in subscriptions.outdated(subscriptions.status(self.names)):
            logger.warning("runner %s: %s", self.owner, warning)

    def run(self) -> None:
        """Apply subscriptions until `stop()`; then give the leases back, so another runner starts at once."""
        self.announce()
        try:
            while not self.stopping.is_set():
                self._gather()
                self._last_pass = time.monotonic()
                try:
                    busy = self.pass_once()
                except DatabaseError:
                    logger.exception("runner %s: the database failed; retrying", self.owner)
                    connection.close()
                    busy = False
                if not busy:
                    self._wait()
        finally:
            self.unreleased = []
            for name in self.names:
                try:
                    # SQLite: an offline rebuild holds the database; a stop does not wait its length.
                    with log.waiting_at_most(RELEASE_WAIT_MS):
                        subscriptions.release(name, self.owner)
                except DatabaseError:
                    logger.warning("runner %s could not release %s; its lease will expire", self.owner, name)
                    self.unreleased.append(name)
            self._close_listener()
            close_old_connections()

    def pass_once(self) -> bool:
        """Renew or take each lease and apply one batch of each held subscription, from one read of the
        log; True if more may be waiting (the read was full), so the runner goes on without sleeping."""
        held = [name for name in self.names if self._holds(name)]
        if not held or self.stopping.is_set():
            return False
        started = time.monotonic()
        result = subscriptions.process_held(held, self.owner, limit=self.page)
        seconds = time.monotonic() - started
        self.page = next_page(
            self.page, full=result.more, seconds=seconds, lease_seconds=self.ttl.total_seconds()
        )
        return result.more

    def _holds(self, name: str) -> bool:
        """Take or renew the lease when a third of it has passed since the last renewal, else trust it.

        Renewing on every pass cost one committed UPDATE per subscription per wake-up, about a third of the
        runner's commits under single-event traffic (bench/lag.py). Trusting a lease for a third of its
        term is safe: `process` re-reads the row and applies only under an unexpired lease of this runner,
        and the checkpoint advances only under it, so a lease lost meanwhile costs a rolled-back batch.
        """
        now = time.monotonic()
        renewed = self._renewed.get(name)
        if renewed is not None and now - renewed < self.ttl.total_seconds() / 3:
            return True
        if subscriptions.acquire(name, self.owner, self.ttl):
            self._renewed[name] = now
            return True
        self._renewed.pop(name, None)
        return False

    def _gather(self) -> None:
        """Let the events of the gather interval since the previous pass arrive before this one."""
        delay = self._last_pass + self.gather - time.monotonic()
        if delay > 0:
            self.stopping.wait(delay)

    def _wait(self) -> None:
        # Wake at least three times a lease, so leases are renewed long before they expire.
        timeout = min(self.poll, self.ttl.total_seconds() / 3)
        if not backend().notifies:
            self.stopping.wait(timeout)
            return
        try:
            if self._listener is None or self._listener.closed:
                # A new LISTEN hears only what commits after it: an append between the last pass and now
                # would wait for the poll. Look once more now that nothing can be missed.
                self._listen()
                return
            self._hear(timeout)
        except Exception:  # the LISTEN connection broke: poll this time, reconnect next time
            logger.warning("runner %s: LISTEN connection lost; polling", self.owner, exc_info=True)
            self._close_listener()
            self.stopping.wait(timeout)

    def _hear(self, timeout: float) -> None:
        """Wait for a NOTIFY, at most `timeout` seconds, and no longer once `stop()` is called. A signal does
        not end psycopg's wait (the wait goes on after the handler runs), so it waits in slices: with a long
        poll, SIGTERM stopped a runner only at its next wake-up, up to a third of its lease later."""
        deadline = time.monotonic() + timeout
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # Run to its end (stop_after=1 ends it at the first one), so it lets go of the connection here.
            if list(self._listener.notifies(timeout=min(left, STOP_CHECK_SECONDS), stop_after=1)):
                return

    def _listen(self) -> None:
        import psycopg

        self._listener = psycopg.Connection.connect(autocommit=True, **backend().listen_params())
        self._listener.execute(f"LISTEN {log.LOG_CHANNEL}")

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None
