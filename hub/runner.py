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


class Runner:
    def __init__(self, names: list[str] | None = None, *, owner: str | None = None) -> None:
        self.names = names or subscriptions.registered()
        unknown = set(self.names) - set(subscriptions.registered())
        if unknown:
            raise ValueError(f"no subscription named {', '.join(sorted(unknown))}")
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl = timedelta(seconds=settings.THREADLINE_SUBSCRIPTION_LEASE_SECONDS)
        self.poll = settings.THREADLINE_SUBSCRIPTION_POLL_SECONDS
        self.gather = settings.THREADLINE_SUBSCRIPTION_GATHER_SECONDS
        self._last_pass = float("-inf")  # when the previous pass started (monotonic seconds)
        self.stopping = threading.Event()
        self._listener = None
        # When this runner last took or renewed each lease (monotonic seconds).
        self._renewed: dict[str, float] = {}

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        """Apply subscriptions until `stop()`; then give the leases back, so another runner starts at once."""
        subscriptions.ensure_rows(self.names)
        logger.info("runner %s started for %s", self.owner, ", ".join(self.names) or "no subscriptions")
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
            for name in self.names:
                try:
                    subscriptions.release(name, self.owner)
                except DatabaseError:
                    logger.warning("runner %s could not release %s; its lease will expire", self.owner, name)
            self._close_listener()
            close_old_connections()

    def pass_once(self) -> bool:
        """Renew or take each lease and apply one batch of each held subscription, from one read of the
        log; True if more may be waiting (the read was full), so the runner goes on without sleeping."""
        held = [name for name in self.names if self._holds(name)]
        if not held or self.stopping.is_set():
            return False
        return subscriptions.process_held(held, self.owner).more

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
            listener = self._listen()
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                pass
        except Exception:  # the LISTEN connection broke: poll this time, reconnect next time
            logger.warning("runner %s: LISTEN connection lost; polling", self.owner, exc_info=True)
            self._close_listener()
            self.stopping.wait(timeout)

    def _listen(self):
        import psycopg

        if self._listener is None or self._listener.closed:
            self._listener = psycopg.Connection.connect(autocommit=True, **backend().listen_params())
            self._listener.execute(f"LISTEN {log.LOG_CHANNEL}")
        return self._listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None
