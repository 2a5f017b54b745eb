"""An open live stream re-checks its caller's access: on a membership, role, share or API key change, and on a
timer. A caller who may no longer watch is closed with 4403 and gets nothing published after the change."""

import asyncio
import os
import uuid

import pytest
import redis
from channels.db import database_sync_to_async
from django.db import connections
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core import live
from apps.executions import consumers
from apps.orgs.models import ApiKey, Membership
from apps.orgs.services import api_key_create, api_key_revoke, membership_delete, membership_update
from apps.workflows.services import workflow_share_set
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.executions.test_consumers import _member_of, add_event, assert_closed_with, open_stream
from tests.workflows.factories import WorkflowFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS = 60
    settings.CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS = 60


@pytest.fixture(autouse=True)
def connections_closed_after_use():
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def execution(organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization), status="running")
    NodeExecutionFactory(execution=execution, node_id="log", status="running")
    return execution


def paths(execution):
    return {
        "execution": f"/ws/executions/{execution.pk}/",
        "workflow": f"/ws/workflows/{execution.workflow_id}/",
        "org": f"/ws/orgs/{execution.organization_id}/",
    }


async def watching(path, **auth):
    """An open stream past its snapshot."""
    communicator = await open_stream(path, **auth)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    return communicator


async def assert_live(communicator, execution, seq):
    await add_event(execution, seq)
    assert (await communicator.receive_json_from(timeout=3))["seq"] == seq


@pytest.mark.parametrize("kind", ["execution", "workflow", "org"])
async def test_a_removed_member_is_closed_4403_and_gets_nothing_after(execution, organization, kind):
    member = await database_sync_to_async(_member_of)(organization)
    communicator = await watching(paths(execution)[kind], token=str(AccessToken.for_user(member)))
    await assert_live(communicator, execution, 1)

    membership = await database_sync_to_async(Membership.objects.get)(user=member, organization=organization)
    await database_sync_to_async(membership_delete)(membership=membership)
    await add_event(execution, 2)  # published after the removal: must not arrive

    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_a_role_change_to_viewer_keeps_a_read_only_stream_open(execution, organization):
    member = await database_sync_to_async(_member_of)(organization)
    communicator = await watching(paths(execution)["org"], token=str(AccessToken.for_user(member)))

    membership = await database_sync_to_async(Membership.objects.get)(user=member, organization=organization)
    await database_sync_to_async(membership_update)(membership=membership, role="viewer")

    await assert_live(communicator, execution, 1)
    await asyncio.sleep(0.2)
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


@pytest.mark.parametrize("how", ["revoke", "delete"])
async def test_a_revoked_or_deleted_api_key_is_closed_4403(execution, organization, how):
    api_key, raw = await database_sync_to_async(lambda: api_key_create(organization=organization, name="k"))()
    communicator = await watching(paths(execution)["org"], token=raw)
    await assert_live(communicator, execution, 1)

    if how == "revoke":
        await database_sync_to_async(api_key_revoke)(api_key=api_key)
    else:
        await database_sync_to_async(ApiKey.objects.filter(pk=api_key.pk).delete)()
    await add_event(execution, 2)

    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_a_withdrawn_share_is_closed_4403(execution, other_organization):
    def shared_user():
        outsider = _member_of(other_organization)
        workflow_share_set(workflow=execution.workflow, user=outsider, permissions=["view"])
        return outsider

    outsider = await database_sync_to_async(shared_user)()
    communicator = await watching(paths(execution)["workflow"], token=str(AccessToken.for_user(outsider)))
    await assert_live(communicator, execution, 1)

    await database_sync_to_async(workflow_share_set)(workflow=execution.workflow, user=outsider, permissions=[])

    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_another_users_change_leaves_the_stream_alone(execution, organization, user):
    watcher = await database_sync_to_async(_member_of)(organization)
    communicator = await watching(paths(execution)["org"], token=str(AccessToken.for_user(watcher)))

    membership = await database_sync_to_async(Membership.objects.get)(user=user, organization=organization)
    await database_sync_to_async(membership_delete)(membership=membership)

    await assert_live(communicator, execution, 1)
    await communicator.disconnect()


async def test_the_timer_closes_a_stream_whose_change_message_was_lost(execution, organization, settings, monkeypatch):
    """Without the change message (a Redis outage), the periodic re-check still closes the stream."""
    settings.CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS = 0.3
    monkeypatch.setattr(live, "access_changed_send", lambda group: None)
    member = await database_sync_to_async(_member_of)(organization)
    communicator = await watching(paths(execution)["org"], token=str(AccessToken.for_user(member)))

    await database_sync_to_async(Membership.objects.filter(user=member).delete)()

    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_a_deactivated_user_is_closed_on_the_next_check(execution, organization, settings):
    settings.CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS = 0.3
    member = await database_sync_to_async(_member_of)(organization)
    communicator = await watching(paths(execution)["execution"], token=str(AccessToken.for_user(member)))

    await database_sync_to_async(type(member).objects.filter(pk=member.pk).update)(is_active=False)

    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_through_redis_a_removed_member_is_closed_4403(execution, organization, settings):
    """The change message crosses processes through channels-redis like the events do."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"needs Redis at {url}")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": f"test-{uuid.uuid4().hex[:8]}"},
        }
    }
    member = await database_sync_to_async(_member_of)(organization)
    communicator = await watching(paths(execution)["workflow"], token=str(AccessToken.for_user(member)))
    await assert_live(communicator, execution, 1)

    membership = await database_sync_to_async(Membership.objects.get)(user=member, organization=organization)
    await database_sync_to_async(membership_delete)(membership=membership)

    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)


async def test_a_member_removed_through_the_api_is_closed_4403(execution, organization):
    def admin_client_and_member():
        admin, member = _member_of(organization, role="admin"), _member_of(organization)
        client = APIClient()
        client.force_authenticate(admin)
        return client, member, Membership.objects.get(user=member).pk

    client, member, membership_id = await database_sync_to_async(admin_client_and_member)()
    communicator = await watching(paths(execution)["execution"], token=str(AccessToken.for_user(member)))

    response = await database_sync_to_async(client.delete)(f"/api/v1/memberships/{membership_id}/")

    assert response.status_code == 204
    await assert_closed_with(communicator, consumers.CLOSE_FORBIDDEN)
