"""Reading old events: the log returns them upcast to the current schema version, the stored row untouched.

What every backend's store must do (append, duplicates, expected versions, reads, append-only refusals) is
the contract in tests/hub/contract.py, run on each database by test_contract_sqlite/_postgresql.py.
"""

from __future__ import annotations

import pytest

from hub import log, store
from hub.events import NewEvent
from hub.models import StoredEvent
from hub.upcasting import register_upcaster, unregister_upcaster

pytestmark = pytest.mark.django_db


def test_reading_an_old_schema_version_returns_it_upcast_to_the_current_shape():
    @register_upcaster("test.renamed", 1)
    def v1_to_v2(data):
        return {"full_name": data["name"]}

    @register_upcaster("test.renamed", 2)
    def v2_to_v3(data):
        return {**data, "language": "en"}

    try:
        store.append([NewEvent(source="/t", id="old", type="test.renamed", stream="s", data={"name": "Ada"})])
        event = log.read_after(0)[0]
    finally:
        unregister_upcaster("test.renamed", 1)
        unregister_upcaster("test.renamed", 2)

    assert event.schema_version == 3
    assert event.data == {"full_name": "Ada", "language": "en"}
    assert StoredEvent.objects.get().data == {"name": "Ada"}  # the stored row is untouched
