"""Live streams over WebSockets on the in-memory layer: auth and close codes, snapshot, live, replay, overflow."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm
from rest_framework_simplejwt.tokens import AccessToken

from apps.executions import consumers
from apps.executions.consumers import ExecutionStreamConsumer
from apps.executions.events import publish
from apps.executions.models import ExecutionEvent, WorkflowExecution
from apps.orgs.services import api_key_create, api_key_revoke
from concertmaster.asgi import application
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS = 60


@pytest.fixture(autouse=True)
def connections_closed_after_use():
    """database_sync_to_async runs in executor threads whose connections would outlive the test and keep
    PostgreSQL from dropping the test database: close them after each use."""
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def execution(organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization), status="running")
    NodeExecutionFactory(execution=execution, node_id="start", status="succeeded")
    NodeExecutionFactory(execution=execution, node_id="log", status="running")
    return execution


@pytest.fixture
def token(user):
    return str(AccessToken.for_user(user))


def _add_event(execution, seq, *, type="node_succeeded", node_id="log", publish_it=True):
    event = ExecutionEvent.objects.create(
        organization_id=execution.organization_id,
        execution=execution,
        seq=seq,
        type=type,
        node_id=node_id,
        data={"n": seq},
        at=timezone.now(),
    )
    WorkflowExecution.objects.filter(pk=execution.pk, last_seq__lt=seq).update(last_seq=seq)
    if publish_it:
        publish(event)
    return event


add_event = database_sync_to_async(_add_event)


def _headers(token=None, cookie=None, origin=None):
    headers = []
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


async def open_stream(path, **auth):
    communicator = WebsocketCommunicator(application, path, headers=_headers(**auth))
    connected, _ = await communicator.connect(timeout=3)
    assert connected
    return communicator


async def assert_closed_with(communicator, code):
    message = await communicator.receive_output(timeout=3)
    assert message["type"] == "websocket.close"
    assert message["code"] == code
    await communicator.disconnect()


async def receive_seqs(communicator, count):
    return [(await communicator.receive_json_from(timeout=3))["seq"] for _ in range(count)]


# --- authentication and close codes ---------------------------------------------------------------------


async def test_without_credentials_the_stream_closes_4401(execution):
    communicator = await open_stream(f"/ws/executions/{execution.pk}/")
    await assert_closed_with(communicator, consumers.CLOSE_UNAUTHENTICATED)


@pytest.mark.parametrize("bad", ["not-a-jwt", "cm_deadbeef_nope", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
async def test_a_bad_bearer_token_closes_4401_even_with_a_session(execution, user, bad):
    cookie = await database_sync_to_async(_session_cookie)(user)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=bad, cookie=cookie)
    await assert_closed_with(communicator, consumers.CLOSE_UNAUTHENTICATED)


async def test_a_revoked_api_key_closes_4401(execution, organization):
    def revoked_key():
        api_key, raw = api_key_create(organization=organization, name="k")
        api_key_revoke(api_key=api_key)
        return raw

    raw = await database_sync_to_async(revoked_key)()
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=raw)
    await assert_closed_with(communicator, consumers.CLOSE_UNAUTHENTICATED)


async def test_another_organizations_execution_closes_4404(execution, other_organization):
    stranger = await database_sync_to_async(_member_of)(other_organization)
    token = str(AccessToken.for_user(stranger))
    for path in (
        f"/ws/executions/{execution.pk}/",
        f"/ws/workflows/{execution.workflow_id}/",
        f"/ws/orgs/{execution.organization_id}/",
    ):
        communicator = await open_stream(path, token=token)
        await assert_closed_with(communicator, consumers.CLOSE_NOT_FOUND)


@pytest.mark.parametrize("pk", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
async def test_an_unknown_or_malformed_id_closes_4404(user, token, pk):
    for kind in ("executions", "workflows", "orgs"):
        communicator = await open_stream(f"/ws/{kind}/{pk}/", token=token)
        await assert_closed_with(communicator, consumers.CLOSE_NOT_FOUND)


async def test_a_share_without_view_permission_closes_4403(execution, other_organization):
    """A user the workflow was shared with for executing only sees that it exists, but may not watch it."""

    def shared_user():
        outsider = _member_of(other_organization)
        assign_perm("execute_workflow", outsider, execution.workflow)
        return outsider

    outsider = await database_sync_to_async(shared_user)()
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=str(AccessToken.for_user(outsider)))
    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_a_view_share_may_watch(execution, other_organization):
    def shared_user():
        outsider = _member_of(other_organization)
        assign_perm("view_workflow", outsider, execution.workflow)
        return outsider

    outsider = await database_sync_to_async(shared_user)()
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=str(AccessToken.for_user(outsider)))
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    await communicator.disconnect()


@pytest.mark.parametrize("since", ["abc", "-1", "1.5"])
async def test_a_malformed_since_closes_4400(execution, token, since):
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since={since}", token=token)
    await assert_closed_with(communicator, consumers.CLOSE_BAD_REQUEST)


async def test_session_cookie_with_an_allowed_origin(execution, user):
    cookie = await database_sync_to_async(_session_cookie)(user)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", cookie=cookie, origin="http://localhost")
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    await communicator.disconnect()


async def test_a_foreign_origin_is_refused_at_the_handshake(execution, user):
    cookie = await database_sync_to_async(_session_cookie)(user)
    communicator = WebsocketCommunicator(
        application, f"/ws/executions/{execution.pk}/", headers=_headers(cookie=cookie, origin="http://evil.test")
    )
    connected, _ = await communicator.connect(timeout=3)
    assert not connected


async def test_an_api_key_of_the_organization_may_watch(execution, organization):
    raw = await database_sync_to_async(lambda: api_key_create(organization=organization, name="k")[1])()
    communicator = await open_stream(f"/ws/orgs/{organization.pk}/", token=raw)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    await communicator.disconnect()


# --- snapshot, live events, replay ----------------------------------------------------------------------


async def test_snapshot_then_live_events(execution, token):
    await add_event(execution, 1, publish_it=False)
    await add_event(execution, 2, publish_it=False)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    snapshot = await communicator.receive_json_from(timeout=3)
    assert snapshot == {
        "v": 1,
        "type": "snapshot",
        "stream": "execution",
        "execution_id": str(execution.pk),
        "workflow_id": str(execution.workflow_id),
        "status": "running",
        "seq": 2,
        "nodes": {"start": "succeeded", "log": "running"},
    }
    event = await add_event(execution, 3, type="node_succeeded", node_id="log")
    live = await communicator.receive_json_from(timeout=3)
    assert live == {
        "v": 1,
        "type": "node_succeeded",
        "execution_id": str(execution.pk),
        "workflow_id": str(execution.workflow_id),
        "node_id": "log",
        "status": "succeeded",
        "seq": 3,
        "at": event.at.isoformat(),
        "data": {"n": 3},
    }
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_since_replays_what_was_missed_then_goes_live_without_duplicates(execution, token):
    for seq in range(1, 6):
        await add_event(execution, seq, publish_it=False)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since=2", token=token)
    assert (await communicator.receive_json_from(timeout=3))["seq"] == 5  # the snapshot
    assert await receive_seqs(communicator, 3) == [3, 4, 5]
    # A late publish of an event the replay already sent is dropped; the next one arrives.
    await database_sync_to_async(lambda: publish(ExecutionEvent.objects.get(execution=execution, seq=5)))()
    await add_event(execution, 6)
    assert await receive_seqs(communicator, 1) == [6]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_since_zero_replays_everything_in_batches(execution, token, monkeypatch):
    monkeypatch.setattr(consumers, "REPLAY_BATCH", 2)
    for seq in range(1, 6):
        await add_event(execution, seq, publish_it=False)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since=0", token=token)
    await communicator.receive_json_from(timeout=3)
    assert await receive_seqs(communicator, 5) == [1, 2, 3, 4, 5]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_an_event_published_out_of_order_is_filled_in_from_the_database(execution, token):
    """Two workers commit seq 2 and 3; 3 is published first: the client still gets 2, 3, in order, once."""
    await add_event(execution, 1, publish_it=False)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    second = await add_event(execution, 2, publish_it=False)
    await add_event(execution, 3)
    assert await receive_seqs(communicator, 2) == [2, 3]
    await database_sync_to_async(publish)(second)
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_events_published_during_the_replay_are_neither_lost_nor_repeated(execution, token, monkeypatch):
    """An event committed between subscribing and the replay query comes once, in order."""
    await add_event(execution, 1, publish_it=False)
    original = consumers.execution_event_payloads

    def payloads_with_a_commit_in_between(**kwargs):
        if not ExecutionEvent.objects.filter(execution=execution, seq=2).exists():
            _add_event(execution, 2)  # committed and published after group_add, before the replay reads
        return original(**kwargs)

    monkeypatch.setattr(consumers, "execution_event_payloads", payloads_with_a_commit_in_between)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since=0", token=token)
    await communicator.receive_json_from(timeout=3)
    assert await receive_seqs(communicator, 2) == [1, 2]
    await add_event(execution, 3)
    assert await receive_seqs(communicator, 1) == [3]
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_workflow_and_organization_streams(execution, organization, token):
    await add_event(execution, 1, publish_it=False)
    for seq, path in ((2, f"/ws/workflows/{execution.workflow_id}/"), (3, f"/ws/orgs/{organization.pk}/")):
        communicator = await open_stream(path, token=token)
        snapshot = await communicator.receive_json_from(timeout=3)
        assert snapshot["type"] == "snapshot"
        assert snapshot["executions"] == [
            {
                "execution_id": str(execution.pk),
                "workflow_id": str(execution.workflow_id),
                "status": "running",
                "seq": seq - 1,
            }
        ]
        await add_event(execution, seq)
        assert await receive_seqs(communicator, 1) == [seq]
        await communicator.disconnect()


async def test_a_new_execution_seen_first_by_a_later_event_gets_its_earlier_events(execution, organization, token):
    communicator = await open_stream(f"/ws/orgs/{organization.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    fresh = await database_sync_to_async(WorkflowExecutionFactory)(workflow=execution.workflow, status="running")
    await add_event(fresh, 1, type="execution_started", publish_it=False)
    await add_event(fresh, 2)
    received = [await communicator.receive_json_from(timeout=3) for _ in range(2)]
    assert [(m["execution_id"], m["seq"]) for m in received] == [(str(fresh.pk), 1), (str(fresh.pk), 2)]
    await communicator.disconnect()


async def test_another_executions_events_do_not_reach_an_execution_stream(execution, token):
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    other = await database_sync_to_async(WorkflowExecutionFactory)(workflow=execution.workflow, status="running")
    await add_event(other, 1)
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


# --- heartbeat, backpressure ----------------------------------------------------------------------------


async def test_heartbeat_pings_and_resends_what_a_full_channel_dropped(execution, token, settings):
    settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS = 0.1
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    await add_event(execution, 1, publish_it=False)  # committed, but its publish was lost
    ping = await communicator.receive_json_from(timeout=3)
    assert ping["type"] == "ping" and ping["v"] == 1
    assert await receive_seqs(communicator, 1) == [1]
    await communicator.disconnect()


async def test_a_client_ping_gets_a_pong_and_garbage_is_ignored(execution, token):
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    await communicator.send_to(text_data="{not json")
    await communicator.send_json_to(["ping"])
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=3))["type"] == "pong"
    await communicator.disconnect()


async def test_a_client_that_does_not_read_is_closed_4008(execution, token, settings, monkeypatch):
    """The socket never drains (a stalled client): the bounded queue fills and the stream closes."""
    settings.CONCERTMASTER_WS_SEND_QUEUE = 3
    stalled = asyncio.Event()

    async def never_drains(self):
        await stalled.wait()

    monkeypatch.setattr(ExecutionStreamConsumer, "pump", never_drains)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    for seq in range(1, 5):
        await add_event(execution, seq)
    message = await communicator.receive_output(timeout=3)
    assert message == {"type": "websocket.close", "code": consumers.CLOSE_OVERFLOW, "reason": consumers.OVERFLOW_REASON}
    # The stream left its group: later events are not queued for it.
    await add_event(execution, 5)
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_messages_are_json(execution, token):
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    frame = await communicator.receive_from(timeout=3)
    assert json.loads(frame)["type"] == "snapshot"
    await communicator.disconnect()


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _member_of(organization, role="member"):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=role)
    return user


async def test_streams_of_one_process_share_one_group_subscription(execution, token):
    """The hub joins the group once for every local stream, and leaves when the last one goes."""
    from channels.layers import get_channel_layer

    from apps.executions.events import execution_group

    layer = get_channel_layer()
    group = execution_group(execution.pk)
    first = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    second = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    for communicator in (first, second):
        await communicator.receive_json_from(timeout=3)
    assert len(layer.groups[group]) == 1
    await add_event(execution, 1)
    assert await receive_seqs(first, 1) == [1]
    assert await receive_seqs(second, 1) == [1]
    await first.disconnect()
    assert len(layer.groups[group]) == 1
    await add_event(execution, 2)
    assert await receive_seqs(second, 1) == [2]
    await second.disconnect()
    assert not layer.groups.get(group)


async def test_a_stream_receives_a_batch_of_committed_events_in_order(execution, token):
    """The engine's publisher sends what committed meanwhile as one message per group."""
    from apps.executions.events import publish_committed

    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await communicator.receive_json_from(timeout=3)
    batch = [await add_event(execution, seq, publish_it=False) for seq in (1, 2, 3)]
    await database_sync_to_async(publish_committed)(batch)
    assert await receive_seqs(communicator, 3) == [1, 2, 3]
    await communicator.disconnect()


async def test_an_inbox_that_overflows_during_the_replay_closes_4008_and_stops_the_replay(
    execution, token, settings, monkeypatch
):
    settings.CONCERTMASTER_WS_SEND_QUEUE = 2
    original = consumers.execution_event_payloads

    def payloads_while_three_events_are_published(**kwargs):
        for seq in (1, 2, 3):
            _add_event(execution, seq)
        return original(**kwargs)

    monkeypatch.setattr(consumers, "execution_event_payloads", payloads_while_three_events_are_published)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since=0", token=token)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    message = await communicator.receive_output(timeout=3)
    assert (message["type"], message["code"]) == ("websocket.close", consumers.CLOSE_OVERFLOW)
    assert await communicator.receive_nothing(timeout=0.2)  # nothing is sent after the close
    await communicator.disconnect()
