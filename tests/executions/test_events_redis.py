"""Live events through channels-redis: groups nobody watches are found in one round trip and not sent to."""

import os
import time
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer

from apps.executions import events

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
def layer():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip(f"needs Redis at {REDIS_URL}")
    layer = RedisChannelLayer(hosts=[REDIS_URL], prefix=f"test-{uuid.uuid4().hex[:8]}")
    yield layer
    async_to_sync(layer.flush)()


@pytest.fixture
def sent(layer, monkeypatch):
    """The groups `group_send` was called for."""
    groups = []
    group_send = layer.group_send

    async def record(group, message):
        groups.append(group)
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", record)
    return groups


def _messages(*groups):
    return [(group, {"type": events.MESSAGE_TYPE, "group": group, "events": [{"seq": 1}]}) for group in groups]


def test_only_the_watched_groups_are_sent_to_and_their_members_receive(layer, sent):
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("workflow.b", channel)
    async_to_sync(events._group_send_all)(layer, _messages("execution.a", "workflow.b", "org.c"))
    assert sent == ["workflow.b"]
    received = async_to_sync(layer.receive)(channel)
    assert received["group"] == "workflow.b"
    assert received["events"] == [{"seq": 1}]


def test_nothing_is_sent_when_nobody_watches(layer, sent):
    async_to_sync(events._group_send_all)(layer, _messages("execution.a", "workflow.b", "org.c"))
    assert sent == []


def test_a_member_past_the_group_expiry_does_not_count(layer, sent):
    stale = int(time.time()) - layer.group_expiry - 10
    redis.Redis.from_url(REDIS_URL).zadd(layer._group_key("org.c"), {"specific.gone!x": stale})  # flushed after
    async_to_sync(events._group_send_all)(layer, _messages("execution.a", "org.c"))
    assert sent == []
