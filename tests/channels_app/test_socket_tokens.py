"""How a socket presents its token: `?token=` spelled out and as issued, or the bearer subprotocol."""

from __future__ import annotations

import pytest
from channels.testing.websocket import WebsocketCommunicator

from channels_app.consumers import query_token
from config.asgi import application
from tests.channels_app.test_consumer import TIMEOUT, closed_with, connect, frame, make_token

pytestmark = pytest.mark.django_db(transaction=True)


def connect_query(query: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/v1/agent?{query}")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "query",
    [
        "%74oken={raw}",  # a percent-encoded name is not `token`
        "%74%6F%6B%65%6E={raw}",
        "token%3D{raw}",  # nor is a name with an encoded `=`
        "TOKEN={raw}",
        "token=tl%5F{secret}",  # the value is taken as issued: nothing is decoded
        "token={raw}&token={raw}",  # once
        "token=tl_nope&token={raw}",
        "token=",
    ],
)
async def test_a_token_spelled_any_other_way_in_the_query_closes_with_4401(query):
    token = await make_token()
    ws = connect_query(query.format(raw=token.raw, secret=token.raw[3:]))
    await ws.connect(timeout=TIMEOUT)

    assert await closed_with(ws) == 4401


@pytest.mark.asyncio
async def test_the_token_parameter_among_others_authenticates():
    token = await make_token()
    ws = connect_query(f"x=%74oken&token={token.raw}&y=1")
    connected, _ = await ws.connect(timeout=TIMEOUT)
    assert connected

    await ws.send_json_to({"op": "ping"})
    assert await frame(ws) == {"op": "pong"}
    await ws.disconnect()


@pytest.mark.asyncio
async def test_an_integration_token_is_refused_with_4403_and_a_reason_that_reads_naturally():
    ws = connect(await make_token("integration", source_prefix="/x/"))
    await ws.connect(timeout=TIMEOUT)

    message = await ws.receive_output(timeout=TIMEOUT)
    while message["type"] != "websocket.close":
        message = await ws.receive_output(timeout=TIMEOUT)
    assert (message["code"], message["reason"]) == (4403, "an integration token may not subscribe")


def test_query_token_reads_only_the_literal_parameter():
    assert query_token(b"token=tl_abc") == "tl_abc"
    assert query_token(b"a=1&token=tl_abc&b=2") == "tl_abc"
    assert query_token(b"%74oken=tl_abc") is None
    assert query_token(b"token%3Dtl_abc") is None
    assert query_token(b"token=tl_a&token=tl_b") is None
    assert query_token(b"") is None
