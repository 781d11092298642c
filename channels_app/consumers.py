"""The agent websocket: subscribe to customers, threads, your own assignments or everything, and resume.

Delivery comes from the log, never from a channel layer: the process's log tailer hands each committed
event to its fan-out, which offers it to every socket subscribed to one of its topics; a subscription with
`after` first replays the log past that position. One lock and one cursor per socket make the two meet
without a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from datetime import datetime
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from channels_app.errors import error_code
from channels_app.fanout import fanout
from channels_app.limits import FrameBudget
from channels_app.revocation import token_watch
from hub import log, storable
from hub.errors import ApplicationError
from hub.events import RecordedEvent, isoformat_z
from interactions.access.models import ApiToken
from interactions.access.rules import may_have_status, require_may_subscribe
from interactions.access.tokens import live_token_roles, token_authenticate
from interactions.agents.services import (
    agent_socket_close,
    agent_socket_open,
    agent_socket_seen,
    agent_status_set,
)
from interactions.callbacks.selectors import callback_brief
from interactions.callbacks.services import OfferNamed, callback_accept, callback_decline, callback_outcome
from interactions.errors import Forbidden
from interactions.people.selectors import person_principal, principals_locked_out, sessions_ended
from interactions.privacy.redaction import shown_back
from interactions.topics.routing import (
    TopicError,
    event_for_subscriber,
    event_topics,
    merge_followed,
    merge_of,
    subscription_request,
)

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ACCESS_CHANGED = 4409  # the token's role changed while the socket was open: reconnect under the new one
CLOSE_TOO_SLOW = 4408
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_POLICY_VIOLATION = 1008
SUBPROTOCOL_PREFIX = "bearer."
MAX_TOPICS = 200
MAX_FRAME_CHARS = 64 * 1024  # a frame of MAX_TOPICS topics is about 9,000; an answer's note at most 2,000
ERROR_ECHO_CHARS = 500  # what an error frame repeats of the client's own words, at most
CLOSE_INTERNAL_ERROR = 1011
REPLAY_PAGE = 500
SOCKET_HEARTBEAT_SECONDS = 30


def query_token(query_string: bytes) -> str | None:
    """The token of `?token=<token>`, read strictly: the name spelled out (`%74oken` is not `token`), the
    value exactly as issued (tokens are URL-safe, so nothing needs encoding and nothing is decoded), and
    only once. Anything else is no token, so the socket is closed with 4401; a lenient reader would make
    every spelling a credential that log filters must then recognise."""
    values = [
        value
        for name, _, value in (part.partition("=") for part in query_string.decode("latin-1").split("&"))
        if name == "token"
    ]
    return values[0] if len(values) == 1 and values[0] else None


@database_sync_to_async
def _authenticate(raw: str) -> ApiToken | None:
    return token_authenticate(raw)


@database_sync_to_async
def _principal_of(user: Any) -> ApiToken | None:
    return person_principal(user)


def same_origin(scope: dict[str, Any]) -> bool:
    """Whether a browser opened this socket from a page of this very host. A cookie goes with every socket a
    browser opens, whichever site's page opens it, so a session is accepted only from the hub's own pages
    (cross-site websocket hijacking); token sockets carry their credential explicitly and need no such
    check."""
    headers = dict(scope.get("headers") or [])
    origin, host = headers.get(b"origin", b"").decode("latin-1"), headers.get(b"host", b"").decode("latin-1")
    scheme, _, rest = origin.partition("://")
    return bool(host) and scheme in ("http", "https") and rest == host


@database_sync_to_async
def _role_now(token: ApiToken) -> str | None:
    """The token's role now; None once it no longer authenticates (revoked, deleted)."""
    return live_token_roles([str(token.pk)]).get(str(token.pk))


@database_sync_to_async
def _still_signed_in(session_key: str | None, principal_id: str) -> bool:
    """Whether the session a socket was opened with is still live (signing out deletes it; it may also have
    expired) and its person may still sign in (not deactivated, not deleted): the same rules the watch of
    every socket applies (channels_app.revocation), so a frame and the watch never disagree."""
    if sessions_ended([session_key]):
        return False
    return not principals_locked_out([principal_id])


@database_sync_to_async
def _requests(token: ApiToken, topics: list[Any]) -> dict[str, set[str]]:
    """Each topic asked for (as an unsubscribe names it) and the topics it listens on."""
    return dict(subscription_request(token, topic) for topic in topics)


@database_sync_to_async
def _read_after(position: int) -> list[RecordedEvent]:
    return log.read_after(position, limit=REPLAY_PAGE)


@database_sync_to_async
def _last_position() -> int:
    return log.last_position()


@database_sync_to_async
def _callback_answer(token: ApiToken, op: str, callback_id: str, frame: dict[str, Any]):
    reason = frame.get("reason")  # text or None: _callback_answer (the consumer's) refused anything else
    named = OfferNamed(frame.get("attempt"), frame.get("offer"))  # from 1, or None: checked
    if op == "accept":
        row = callback_accept(callback_id=callback_id, actor=token, named=named)
    elif op == "decline":
        row = callback_decline(callback_id=callback_id, actor=token, reason=reason, named=named)
    else:
        row = callback_outcome(
            callback_id=callback_id, actor=token, outcome=str(frame.get("outcome")), note=frame.get("note")
        )
    return callback_brief(row)


def _json_value(value: Any) -> str:
    """Times as the REST API writes them (ISO 8601, UTC as Z); anything else (a UUID) as its text."""
    return isoformat_z(value) if isinstance(value, datetime) else str(value)


class NoSuchPath(AsyncWebsocketConsumer):
    """A websocket at a path the hub does not serve: accepted so that the close code reaches the client."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=CLOSE_NOT_FOUND, reason="no websocket here; the agent socket is /ws/v1/agent")


class AgentConsumer(AsyncWebsocketConsumer):
    """ws/v1/agent: JSON frames in both directions (see README, "Live subscriptions")."""

    token: ApiToken | None = None
    socket_id: str | None = None
    _cleaned = False

    # --- connection ---------------------------------------------------------------------------------------

    async def connect(self) -> None:
        raw, subprotocol = self._credentials()
        self.topics: set[str] = set()  # every topic listened on: the union of the requests'
        # Each subscription as asked for (the topic an unsubscribe names) and the topics it listens on (a
        # merged customer's survivor too), so that ending one ends only what no other still listens on.
        self.requests: dict[str, set[str]] = {}
        # For each topic, the position after which every one of its events has been sent (or is queued):
        # a later subscription to it with an earlier `after` is replayed what lies between.
        self.since: dict[str, int] = {}
        self.cursor: int | None = None
        self.closing = False
        self.socket_id: str | None = None
        self._tasks: list[asyncio.Task] = []
        self.budget = FrameBudget(
            settings.THREADLINE_WS_FRAMES_PER_SECOND, settings.THREADLINE_WS_FRAME_BURST
        )
        # Accept first: a close code can only reach the client on an accepted socket.
        await self.accept(subprotocol)
        self.via_session = False
        if raw:
            self.token = await _authenticate(raw)
        elif "session" in self.scope and same_origin(self.scope):
            self.via_session = True
            # A person signed in to the desk: they act as their principal, under the same rules as a token.
            self.token = await _principal_of(await get_user(self.scope))
        else:
            self.token = None
        if self.token is None:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="missing or invalid token or session")
            return
        try:
            require_may_subscribe(self.token)
        except Forbidden as exc:
            await self.close(code=CLOSE_FORBIDDEN, reason=exc.detail)  # "an integration token may not …"
            return
        self.queue: asyncio.Queue[tuple[RecordedEvent, set[str]]] = asyncio.Queue(
            maxsize=settings.THREADLINE_WS_BUFFER
        )
        self.lock = asyncio.Lock()
        self.tailer, self.fanout = await fanout()
        self.watch = token_watch()
        # Counted and watched at once (no await between): sockets opening together cannot all pass the count.
        if self.watch.count(str(self.token.pk)) >= settings.THREADLINE_WS_SOCKETS_PER_PRINCIPAL:
            most = settings.THREADLINE_WS_SOCKETS_PER_PRINCIPAL
            await self.close(
                code=CLOSE_TOO_MANY_SOCKETS, reason=f"too many sockets: at most {most} open at once"
            )
            return
        # Watched from now on: a revocation made anywhere closes this socket within seconds.
        self.watch.add(str(self.token.pk), self)
        self._tasks.append(asyncio.create_task(self._pump()))
        if may_have_status(self.token):
            self.socket_id = await database_sync_to_async(agent_socket_open)(agent=self.token)
            self._tasks.append(asyncio.create_task(self._heartbeat()))

    @property
    def role(self) -> str:
        """The role this socket was opened under (the token watch closes it once the token's is another)."""
        return self.token.role if self.token is not None else ""

    @property
    def session_key(self) -> str | None:
        """The key of the session a desk socket was opened with (the token watch asks whether it ended)."""
        session = self.scope.get("session") if self.via_session else None
        return session.session_key if session is not None else None

    def _credentials(self) -> tuple[str | None, str | None]:
        for protocol in self.scope.get("subprotocols") or []:
            if protocol.startswith(SUBPROTOCOL_PREFIX):
                return protocol[len(SUBPROTOCOL_PREFIX) :], protocol
        return query_token(self.scope.get("query_string", b"")), None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the consumer ends (closed, a failure no check foresaw, the client gone mid-send), what
            # `connect` set up is undone, once: else the heartbeat kept a dead socket's agent online.
            await self._cleanup()

    async def disconnect(self, code: int) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        self.closing = True
        if hasattr(self, "watch"):
            self.watch.remove(str(self.token.pk), self)
        if hasattr(self, "fanout"):
            self.fanout.remove(self, self.topics)
        tasks = getattr(self, "_tasks", [])
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except OSError:  # the client went away while the task sent to it
                pass
            except Exception:
                logger.exception("websocket: a task of the socket failed")
        if self.socket_id:
            await database_sync_to_async(agent_socket_close)(socket_id=self.socket_id)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(SOCKET_HEARTBEAT_SECONDS)
            await database_sync_to_async(agent_socket_seen)(socket_id=self.socket_id, agent=self.token)

    # --- frames from the client ---------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """A frame that fails in a way no check foresaw: logged, told to the client, and the socket closed
        (1011), so that `disconnect` runs. Let through, the error ended the consumer without it: its
        heartbeat kept the agent's socket alive and callbacks were offered to nobody."""
        try:
            await super().websocket_receive(message)
        except OSError:  # the client went away while we answered (uvicorn's ClientDisconnected): its end
            logger.info("websocket: the client went away while a frame was answered")
            raise StopConsumer from None
        except Exception:
            logger.exception("websocket: a frame failed; the socket is closed (1011)")
            with contextlib.suppress(Exception):  # the client may be gone too: the close comes regardless
                await self._error(
                    "internal_error", "the server failed on this frame; reconnect and resume with after"
                )
            self._close_now(CLOSE_INTERNAL_ERROR, "internal error")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.token is None or self.closing:
            return
        if not self.budget.take():  # before anything that costs a round trip
            await self._rate_limited()
            return
        role = await _role_now(self.token)  # revoked or changed since the last check: no more operations
        if role is None:
            self.token_revoked()
            return
        if role != self.token.role:
            self.access_changed(role)
            return
        if self.via_session and not await _still_signed_in(self.session_key, str(self.token.pk)):
            self.signed_out()
            return
        if text_data is None:
            await self._error("bad_frame", "send JSON in text frames")
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self._error("too_large", f"a frame is at most {MAX_FRAME_CHARS} characters")
            return
        try:
            frame = storable.loads(text_data)
        except storable.Unreadable as exc:  # nested too deep, or a key named twice
            await self._error("bad_json", f"{storable.field_name(exc.path) or 'the frame'}: {exc}")
            return
        except ValueError:
            await self._error("bad_json", "the frame is not JSON")
            return
        if not isinstance(frame, dict):
            await self._error("bad_frame", "a frame is a JSON object with an 'op'")
            return
        if found := storable.json_problem(frame):
            path, message = found
            await self._error("bad_frame", f"{storable.field_name(path)}: {message}")
            return
        op = frame.get("op")
        handler = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "status": self._status,
            "ping": self._ping,
            "accept": self._callback_answer,
            "decline": self._callback_answer,
            "outcome": self._callback_answer,
        }.get(op if isinstance(op, str) else "")
        if handler is None:
            await self._error(
                "unknown_op", "op is one of subscribe, unsubscribe, status, ping, accept, decline, outcome"
            )
            return
        await handler(frame)

    async def _rate_limited(self) -> None:
        if self.budget.exhausted:
            logger.info("closing a socket that went on sending past its frame budget")
            self._close_now(CLOSE_POLICY_VIOLATION, "too many frames")
            return
        rate, burst = settings.THREADLINE_WS_FRAMES_PER_SECOND, settings.THREADLINE_WS_FRAME_BURST
        await self._error(
            "rate_limited",
            f"at most {rate:g} frames a second ({burst} at once): this frame was not handled; send it later",
        )

    async def _topics(self, frame: dict[str, Any]) -> dict[str, set[str]] | None:
        topics = frame.get("topics")
        if not isinstance(topics, list) or not topics or len(topics) > MAX_TOPICS:
            await self._error("bad_frame", f"topics is a list of 1 to {MAX_TOPICS} topics")
            return None
        try:
            return await _requests(self.token, topics)
        except TopicError as exc:
            await self._error(exc.code, exc.detail, topic=exc.topic)
            return None

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        after = frame.get("after")
        if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
            await self._error("bad_after", "after is a log position (an integer >= 0) or null")
            return
        requests = await self._topics(frame)
        if requests is None:
            return
        topics = set().union(*requests.values())
        if after is not None and after > (end := await _last_position()):
            # A cursor from the future (say, from before a restore) would make us skip what comes next.
            await self._error(
                "bad_after", f"after is past the end of the log ({end}); resubscribe from {end}"
            )
            return
        async with self.lock:
            # Topics first, so the tailer queues matching live events while the replay runs.
            new = topics - self.topics
            for key, listened in requests.items():
                self.requests.setdefault(key, set()).update(listened)
            self.topics |= new
            self.fanout.add(self, new)
            if after is None:
                if self.cursor is None:
                    self.cursor = self.tailer.position
                for topic in new:
                    self.since[topic] = self.cursor
            else:
                await self._replay(after, topics)
            await self._send({"op": "caught_up", "position": self.cursor})

    async def _replay(self, after: int, asked: set[str]) -> None:
        """Send the log's events past `after` for the topics asked for, but those sent already (a topic held
        already has had every event past its `since` sent, up to the cursor), and every event past the
        cursor for the topics held (the cursor moves past them here, and the live queue then skips them)."""
        held = dict(self.since)  # the topics held before this subscription, and since when each was sent
        first_asked, asked = set(asked), set(asked)
        previous = self.cursor
        position = after if previous is None else min(after, previous)

        def wanted(event: RecordedEvent, topic: str) -> bool:
            past_cursor = previous is not None and event.position > previous
            if topic not in asked:  # held, or followed meanwhile (a merge the fan-out offered): not sent yet
                return past_cursor
            if topic in held and past_cursor:
                return True
            if event.position <= after:
                return False
            return topic not in held or event.position <= held[topic]

        while not self.closing:
            page = await _read_after(position)
            for event in page:
                if self.closing:
                    return  # closed meanwhile (revoked, too slow): replay nothing more
                topics = event_topics(event)
                if any(wanted(event, topic) for topic in topics & self.topics):
                    await self._send_event(topics, event)
                    # A merge in the replayed stretch: the rest of it follows the survivor too, as what was
                    # asked for (from the merge on), or as what was held (past the cursor).
                    if survivor := merge_followed(asked, event):
                        asked.add(survivor)
                    if (followed := self._follow_merge(event)) and followed not in asked:
                        held[followed] = event.position - 1
            if page:
                position = page[-1].position
            if len(page) < REPLAY_PAGE:
                break
        self.cursor = max(position, previous or 0, after)
        for topic in first_asked & self.topics:  # a survivor followed here was sent from its merge on
            self.since[topic] = min(self.since.get(topic, after), after)

    async def _unsubscribe(self, frame: dict[str, Any]) -> None:
        requests = await self._topics(frame)
        if requests is None:
            return
        async with self.lock:
            for key in requests:
                self.requests.pop(key, None)
            # What another subscription still listens on stays: ending a merged customer's subscription
            # kept the survivor's that the client had asked for by name.
            ended = self.topics - set().union(*self.requests.values())
            self.topics -= ended
            for topic in ended:
                self.since.pop(topic, None)
            self.fanout.remove(self, ended)

    async def _status(self, frame: dict[str, Any]) -> None:
        if not may_have_status(self.token):
            await self._error("forbidden", "only agents have a status")
            return
        value = frame.get("value")
        try:
            await database_sync_to_async(agent_status_set)(agent=self.token, status=value)
        except ApplicationError as exc:
            await self._error("bad_status", exc.detail)

    async def _callback_answer(self, frame: dict[str, Any]) -> None:
        """accept / decline / outcome of a callback offered to this agent; answered with an ack frame."""
        op, callback_id = frame["op"], frame.get("callback_id")
        try:
            callback_id = str(uuid.UUID(str(callback_id)))
        except ValueError:
            await self._error("bad_frame", f"{op} needs the callback_id of the offer")
            return
        # The field the answer uses (accept takes none), as over REST: text or null, never silently dropped.
        field = {"decline": "reason", "outcome": "note"}.get(op)
        if field and frame.get(field) is not None and not isinstance(frame[field], str):
            await self._error("bad_frame", f"{field}: text, or null")
            return
        if op != "outcome":  # the offer answered, as the offer named it: optional, as over REST
            for name in ("attempt", "offer"):
                value = frame.get(name)
                if value is not None and (type(value) is not int or not 1 <= value < 2**31):
                    await self._error("bad_frame", f"{name}: the offer's {name} number (1 or more), or null")
                    return
        try:
            brief = await _callback_answer(self.token, op, callback_id, frame)
        except ApplicationError as exc:
            await self._error(error_code(exc), exc.detail)
            return
        await self._send({"op": "ack", "of": op, "callback": brief})

    async def _ping(self, frame: dict[str, Any]) -> None:
        await self._send({"op": "pong"})

    # --- delivery -----------------------------------------------------------------------------------------

    def offer(self, event: RecordedEvent, topics: set[str]) -> None:
        """Called by the process's fan-out with each event on one of our topics (in the event loop)."""
        if self.closing:
            return
        # Follow a merge now, before the fan-out offers the next event (the survivor's, perhaps).
        self._follow_merge(event)
        try:
            self.queue.put_nowait((event, topics))
        except asyncio.QueueFull:
            self._too_slow()

    def _follow_merge(self, event: RecordedEvent) -> str | None:
        """A customer this socket follows was merged into another: follow the survivor from now on, for
        each subscription that listens on the merged customer."""
        merge = merge_of(event)
        if merge is None or merge[0] not in self.topics:
            return None
        merged, survivor = merge
        for listened in self.requests.values():
            if merged in listened:
                listened.add(survivor)  # also when the survivor is listened on already, for another
        if survivor in self.topics:
            return None
        self.topics.add(survivor)
        self.since[survivor] = event.position - 1  # the merge itself is sent on the merged customer's topic
        self.fanout.add(self, {survivor})
        return survivor

    def _too_slow(self) -> None:
        if not self.closing:
            logger.info("closing a socket that fell %s events behind", self.queue.maxsize)
        self._close_now(CLOSE_TOO_SLOW, "too slow: reconnect and resume from your last position")

    def signed_out(self) -> None:
        """Called by the token watch (or before a frame) once the person of a session socket may no longer
        sign in (signed out, deactivated, deleted)."""
        self._close_now(CLOSE_UNAUTHENTICATED, "signed out")

    def token_revoked(self) -> None:
        """Called by the process's token watch (or before a frame) once the token no longer authenticates."""
        if not self.closing:
            logger.info("closing a socket whose token %s was revoked", self.token.pk if self.token else "")
        self._close_now(CLOSE_UNAUTHENTICATED, "the token has been revoked")

    def access_changed(self, role: str) -> None:
        """Called by the token watch (or before a frame) once the token's role is another: what this socket
        subscribed to and may do were decided under the old one (a supervisor made an agent kept `all`), so
        it closes, and the client reconnects under the new role's rules."""
        if not self.closing:
            logger.info("closing a socket whose token %s is now %s", self.token and self.token.pk, role)
        self._close_now(CLOSE_ACCESS_CHANGED, f"the role has changed to {role}: reconnect")

    def _close_now(self, code: int, reason: str) -> None:
        """Stop delivering at once (no frame is sent after this) and close with `code`."""
        if self.closing:
            return
        self.closing = True
        self.fanout.remove(self, self.topics)
        asyncio.get_running_loop().create_task(self._close_quietly(code, reason))

    async def _close_quietly(self, code: int, reason: str) -> None:
        with contextlib.suppress(OSError):  # already gone: nothing to tell it
            await self.close(code=code, reason=reason)

    async def _pump(self) -> None:
        while True:
            event, topics = await self.queue.get()
            async with self.lock:
                if self.closing:
                    return
                if self.cursor is None or event.position <= self.cursor:
                    continue  # already sent by a replay, or before any subscription
                self.cursor = event.position
                if topics & self.topics:
                    await self._send_event(topics, event)

    async def _send_event(self, topics: set[str], event: RecordedEvent) -> None:
        topic = next((t for t in sorted(self.topics) if t in topics), "all")
        await self._send(
            {
                "op": "event",
                "topic": topic,
                "position": event.position,
                "event": event_for_subscriber(event),
            }
        )

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.closing:
            return  # closed for a reason (revoked, too slow): nothing more reaches the client
        await self.send(text_data=json.dumps(frame, default=_json_value))

    async def _error(self, code: str, detail: str, *, topic: str | None = None) -> None:
        # The detail may repeat what the frame said (a topic, a value): cut short, its card numbers masked.
        # `topic` is the hub's own canonical form of a well-formed topic (a UUID's or "all"), never raw text.
        frame = {"op": "error", "code": code, "detail": shown_back(detail, ERROR_ECHO_CHARS)}
        if topic is not None:
            frame["topic"] = topic
        await self._send(frame)
