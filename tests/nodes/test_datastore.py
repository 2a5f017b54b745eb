"""DjangoNodeServices: the organization-scoped datastore and file storage behind the nodes."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import QuerySet

from apps.nodes import datastore
from apps.nodes.base import NodeError
from apps.nodes.datastore import DjangoNodeServices
from apps.nodes.models import DataRecord


@pytest.fixture
def services(organization):
    return DjangoNodeServices(organization.id)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.MEDIA_URL = "/media/"
    return tmp_path


def test_put_creates_then_replaces_a_record(services, organization):
    """A second put under the same key replaces the value instead of adding a row."""
    first = services.datastore_put(collection="customers", key="c1", value={"name": "Ada"})
    second = services.datastore_put(collection="customers", key="c1", value={"name": "Ada L."})

    assert first["created"] is True
    assert second["created"] is False
    assert second["value"] == {"name": "Ada L."}
    assert DataRecord.objects.filter(organization=organization).count() == 1
    assert services.datastore_get(collection="customers", key="c1") == {"name": "Ada L."}


def test_put_that_loses_a_create_race_replaces_the_winners_value(services, organization, monkeypatch):
    """When another writer creates the key between the lookup and the insert, the put updates that row."""
    DataRecord.objects.create(organization=organization, collection="c", key="k", data={"by": "winner"})
    first = QuerySet.first
    calls = []

    def first_misses_once(queryset):
        calls.append(1)
        return None if len(calls) == 1 else first(queryset)

    monkeypatch.setattr(QuerySet, "first", first_misses_once)

    record = services.datastore_put(collection="c", key="k", value={"by": "loser"})

    assert record["created"] is False
    assert list(DataRecord.objects.values_list("data", flat=True)) == [{"by": "loser"}]


@pytest.mark.parametrize("value", [[1, 2, 3], "text", 0, False, {}, []])
def test_any_json_value_except_null_round_trips(services, value):
    services.datastore_put(collection="values", key="k", value=value)

    assert services.datastore_get(collection="values", key="k") == value


def test_get_of_a_missing_key_is_none(services):
    assert services.datastore_get(collection="customers", key="nobody") is None


def test_records_are_scoped_to_the_organization(services, other_organization):
    """Another organization never sees, nor overwrites, this organization's records."""
    other = DjangoNodeServices(other_organization.id)
    services.datastore_put(collection="shared-name", key="k", value={"owner": "mine"})
    other.datastore_put(collection="shared-name", key="k", value={"owner": "theirs"})

    assert services.datastore_get(collection="shared-name", key="k") == {"owner": "mine"}
    assert other.datastore_query(collection="shared-name", limit=10)[0]["value"] == {"owner": "theirs"}
    assert DataRecord.objects.count() == 2


def test_query_returns_records_in_key_order_up_to_the_limit(services):
    for key in ["b", "c", "a"]:
        services.datastore_put(collection="letters", key=key, value={"letter": key})
    services.datastore_put(collection="other", key="z", value={})

    records = services.datastore_query(collection="letters", limit=2)

    assert [record["key"] for record in records] == ["a", "b"]
    assert records[0]["value"] == {"letter": "a"}
    assert set(records[0]) == {"collection", "key", "value", "updated_at"}


@pytest.mark.parametrize("limit", [0, -1, datastore.MAX_QUERY_LIMIT + 1])
def test_query_limit_out_of_range_is_refused(services, limit):
    with pytest.raises(NodeError) as exc_info:
        services.datastore_query(collection="letters", limit=limit)

    assert datastore.LIMIT_OUT_OF_RANGE.format(limit=datastore.MAX_QUERY_LIMIT) in exc_info.value.message
    assert exc_info.value.retryable is False


@pytest.mark.parametrize(
    ("collection", "key", "value", "message"),
    [
        ("c", "k", None, datastore.VALUE_IS_NULL),
        ("c", "k", {"when": object()}, "A datastore value must be JSON"),
        ("c", "", {}, "This field cannot be blank."),
        ("x" * 101, "k", {}, "Ensure this value has at most 100 characters"),
        ("c", "k" * 201, {}, "Ensure this value has at most 200 characters"),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(services, collection, key, value, message):
    with pytest.raises(NodeError) as exc_info:
        services.datastore_put(collection=collection, key=key, value=value)

    assert message in exc_info.value.message
    assert exc_info.value.retryable is False
    assert DataRecord.objects.count() == 0


def test_oversized_values_are_refused(services, monkeypatch):
    monkeypatch.setattr(datastore, "MAX_VALUE_BYTES", 20)

    with pytest.raises(NodeError) as exc_info:
        services.datastore_put(collection="c", key="k", value={"text": "x" * 50})

    assert exc_info.value.message == "data: " + datastore.VALUE_TOO_LARGE.format(limit=20, size=62)


def test_storage_save_writes_the_file_and_returns_its_url(services, organization, media):
    """Files land in a per-organization folder with an unguessable name; the URL serves that file."""
    url = services.storage_save(name="report.csv", content=b"a,b\n1,2\n")

    assert url.startswith(f"/media/nodes/{organization.id}/")
    assert url.endswith("/report.csv")
    with default_storage.open(url.removeprefix("/media/")) as handle:
        assert handle.read() == b"a,b\n1,2\n"


def test_storage_save_neutralises_path_tricks(services, media):
    url = services.storage_save(name="../../etc/pass wd.csv", content=b"x")

    assert url.endswith("/pass_wd.csv")
    assert ".." not in url
    assert default_storage.exists(url.removeprefix("/media/"))


@pytest.mark.parametrize("name", ["", "..", "/", "a/.."])
def test_storage_save_refuses_names_without_a_file_name(services, media, name):
    with pytest.raises(NodeError) as exc_info:
        services.storage_save(name=name, content=b"x")

    assert exc_info.value.message == datastore.BAD_FILE_NAME.format(name=name)


@pytest.mark.django_db(transaction=True)
def test_concurrent_puts_of_a_new_key_make_one_record(organization):
    """Writers racing to create the same key all succeed; exactly one of them created it."""
    barrier = threading.Barrier(6)

    def put(index):
        barrier.wait()
        try:
            return DjangoNodeServices(organization.id).datastore_put(collection="race", key="k", value={"by": index})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(put, range(6)))

    assert sum(result["created"] for result in results) == 1
    assert DataRecord.objects.filter(collection="race").count() == 1
