"""Telling open live streams that someone's access changed, from any app (orgs, workflows) without importing
the executions app that owns the streams.

A stream joins the access group of whoever it authenticated as (`user_access_group`, `api_key_access_group`);
`access_changed(group)` sends it `{"type": ACCESS_CHANGED, "group": group}` after the current transaction
commits, and each stream in the group checks its access again (`apps/executions/consumers.py`). The send
never raises: a stream also re-checks on a timer, so a message lost to a Redis outage delays the close by
at most that interval.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

#: The channel layer message type of an access change.
ACCESS_CHANGED = "access.changed"
#: Bound on one send, so a Redis outage does not hold the request that changed the access.
SEND_TIMEOUT_SECONDS = 2.0


def user_access_group(user_id) -> str:
    return f"access.user.{user_id}"


def api_key_access_group(api_key_id) -> str:
    return f"access.apikey.{api_key_id}"


def access_changed(group: str) -> None:
    """Tell the streams in `group` to re-check their access once the current transaction commits."""
    transaction.on_commit(partial(access_changed_send, group), robust=True)


def access_changed_send(group: str) -> None:
    """Send the access change to `group` now, on the loop that may use the channel layer. Logs instead of raising."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        from concertmaster import embedded  # the embedded server's loop, where its in-memory layer lives

        loop = embedded.server_loop()
        running = _running_loop()
        if running is not None:
            running.create_task(_send(layer, group))  # an async caller: do not block its loop
        elif loop is not None:
            asyncio.run_coroutine_threadsafe(_send(layer, group), loop).result(timeout=SEND_TIMEOUT_SECONDS + 1)
        else:
            async_to_sync(_send)(layer, group)
    except Exception:
        logger.warning("Could not tell the live streams of %s that their access changed", group, exc_info=True)


async def _send(layer, group: str) -> None:
    message = {"type": ACCESS_CHANGED, "group": group}
    await asyncio.wait_for(layer.group_send(group, message), SEND_TIMEOUT_SECONDS)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
