"""The event catalogue: each type's upcaster chain is complete and the published schemas are served."""

import pytest
from rest_framework.test import APIClient

from hub.upcasting import has_upcaster
from interactions import catalogue


@pytest.mark.parametrize("event_type", sorted(catalogue.CATALOGUE))
def test_every_older_version_has_an_upcaster_to_the_next(event_type):
    versions = sorted(catalogue.CATALOGUE[event_type])

    assert versions == list(range(1, versions[-1] + 1)), "versions are numbered 1..current without gaps"
    for version in versions[:-1]:
        assert has_upcaster(event_type, version), f"{event_type} v{version} has no upcaster to v{version + 1}"
    assert not has_upcaster(event_type, versions[-1]), "the current version must not be upcast further"


def test_the_catalogue_covers_every_channel():
    assert {
        "message.received",
        "message.sent",
        "call.started",
        "call.ended",
        "call.transferred",
        "survey.answered",
        "note.added",
    } <= set(catalogue.CATALOGUE)


@pytest.mark.django_db
def test_event_types_endpoint_lists_each_type_with_its_json_schema():
    body = APIClient().get("/api/v1/event-types").json()

    by_type = {t["type"]: t for t in body}
    assert set(by_type) == set(catalogue.CATALOGUE)
    assert "text" in by_type["message.received"]["data_schema"]["properties"]
