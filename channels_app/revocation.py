"""Revoked tokens lose their sockets: each process asks the database which of its sockets were revoked
or had their role changed (closed, so that the client reconnects under the new role's rules)
(and, for sockets opened with a person's session, whose person was deactivated or deleted, or whose session
ended: signed out, expired, or refused by Django since the person's password changed).

A revocation is a row in the database (`revoked_at`), written by whichever process revokes: the admin, the
`revoke_token` command, another web server. So nothing is announced and nothing in memory is trusted:
every THREADLINE_TOKEN_CHECK_SECONDS, each ASGI process asks, in one query for all of its open sockets,
which of their tokens no longer authenticate, and closes those sockets with 4401. A lost message cannot
keep a revoked socket open, and a process that just started asks the same table. The consumer also checks
its token before each frame it handles, so a revoked token can neither subscribe nor replay meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from interactions.access.tokens import live_token_roles
from interactions.people.selectors import principals_locked_out, sessions_ended

logger = logging.getLogger(__name__)


class Revocable(Protocol):
    via_session: bool  # opened with a person's session (the token is their principal), not a bearer token
    session_key: str | None  # that session's key
    role: str  # the role its token had when it opened: what it was allowed to subscribe to and do

    def access_changed(self, role: str) -> None:
        """Its token's role is now `role`: close (in the loop), for the client to reconnect under it."""

    def token_revoked(self) -> None:
        """Its token no longer authenticates: close (in the event loop; must not block)."""

    def signed_out(self) -> None:
        """Its person signed out or may no longer sign in (deactivated, deleted): close (in the loop)."""


@database_sync_to_async
def _locked_out(
    token_ids: list[str], session_token_ids: list[str], session_keys: list[str | None]
) -> tuple[dict[str, str], set[str], set[str | None]]:
    """(the role of each token that still authenticates, the principals of session sockets whose person may
    no longer sign in, the sessions that ended)."""
    if not session_token_ids:
        return live_token_roles(token_ids), set(), set()
    return live_token_roles(token_ids), principals_locked_out(session_token_ids), sessions_ended(session_keys)


class TokenWatch:
    """This event loop's sockets by token id, and the task that closes those whose token was revoked."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[Revocable]] = {}
        self._task: asyncio.Task | None = None

    def add(self, token_id: str, socket: Revocable) -> None:
        self._sockets.setdefault(token_id, set()).add(socket)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="threadline-token-watch")

    def count(self, token_id: str) -> int:
        """How many of this event loop's sockets act for `token_id`."""
        return len(self._sockets.get(token_id, ()))

    def remove(self, token_id: str, socket: Revocable) -> None:
        sockets = self._sockets.get(token_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[token_id]
        if not self._sockets and self._task is not None:
            self._task.cancel()  # nothing to watch: no query until the next socket opens
            self._task = None

    async def check(self) -> None:
        """Close every socket whose token no longer authenticates or has another role now, and every session
        socket whose person signed out or may no longer sign in (four queries with database sessions)."""
        if not self._sockets:
            return
        # Only what was asked about is answered: a socket opened while the query ran (its token not in it, so
        # not among the live ones) was closed as revoked, one opened just after a role change as changed.
        asked = {token_id: set(sockets) for token_id, sockets in self._sockets.items()}
        sessions = [token_id for token_id, sockets in asked.items() if any(s.via_session for s in sockets)]
        keys = [s.session_key for sockets in asked.values() for s in sockets if s.via_session]
        roles, locked_out, ended = await _locked_out(list(asked), sessions, keys)
        for token_id, sockets in asked.items():
            role = roles.get(token_id)
            for socket in sockets:
                if role is None:
                    self.remove(token_id, socket)
                    socket.token_revoked()
                elif socket.role != role:
                    self.remove(token_id, socket)
                    socket.access_changed(role)
                elif socket.via_session and (token_id in locked_out or socket.session_key in ended):
                    self.remove(token_id, socket)
                    socket.signed_out()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(settings.THREADLINE_TOKEN_CHECK_SECONDS)
            try:
                await self.check()
            except Exception:  # the database may be briefly away: ask again at the next tick
                logger.exception("could not check for revoked tokens; asking again")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


_watches: dict[asyncio.AbstractEventLoop, TokenWatch] = {}


def token_watch() -> TokenWatch:
    """The running event loop's watch (one per ASGI process)."""
    loop = asyncio.get_running_loop()
    for old in [lp for lp in _watches if lp.is_closed()]:
        del _watches[old]
    if loop not in _watches:
        _watches[loop] = TokenWatch()
    return _watches[loop]


async def stop_token_watch() -> None:
    """Stop the running loop's watch (tests, shutdown)."""
    watch = _watches.pop(asyncio.get_running_loop(), None)
    if watch is not None:
        await watch.stop()
