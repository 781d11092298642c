"""Each websocket test's event loop gets its own log tailer and token watch; stop them after."""

import pytest_asyncio

from channels_app.revocation import stop_token_watch
from hub.tail import stop_tailer


@pytest_asyncio.fixture(autouse=True)
async def _stop_tailer():
    yield
    await stop_token_watch()
    await stop_tailer()
