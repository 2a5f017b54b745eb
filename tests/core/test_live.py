"""Access-change messages to live streams: sent after commit, never raising."""

import logging

import pytest
from django.db import transaction

from apps.core import live


class BrokenLayer:
    async def group_send(self, group, message):
        raise ConnectionError("Redis is down")


class RecordingLayer:
    def __init__(self):
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message))


def test_a_failed_send_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setattr(live, "get_channel_layer", BrokenLayer)
    # A test worker started earlier leaves the root logger at ERROR (Celery's logging setup): set this one's level.
    caplog.set_level(logging.INFO, logger=live.logger.name)

    live.access_changed_send(live.user_access_group(7))

    assert "Could not tell the live streams of access.user.7" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_message_goes_out_after_commit_and_not_after_a_rollback(monkeypatch):
    layer = RecordingLayer()
    monkeypatch.setattr(live, "get_channel_layer", lambda: layer)

    with transaction.atomic():
        live.access_changed(live.api_key_access_group("k1"))
        assert layer.sent == []
    with pytest.raises(RuntimeError), transaction.atomic():
        live.access_changed(live.user_access_group(1))
        raise RuntimeError

    assert layer.sent == [("access.apikey.k1", {"type": live.ACCESS_CHANGED, "group": "access.apikey.k1"})]
