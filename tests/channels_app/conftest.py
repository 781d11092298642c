"""Each websocket test's event loop gets its own log tailer; stop it (and close its connections) after."""

import pytest_asyncio

from hub.tail import stop_tailer


@pytest_asyncio.fixture(autouse=True)
async def _stop_tailer():
    yield
    await stop_tailer()
