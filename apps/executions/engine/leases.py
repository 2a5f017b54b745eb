"""Node rows written outside a unit: the lease bookkeeping of queued and running nodes, which changes no state
(no status, no ports) and so appends no event. Inside a change, node rows are written through the unit
(`Unit.save_node`, `Unit.save_nodes`, `Unit.update_nodes`); these and `lifecycle.create_execution`'s insert are
the only other writes of node rows (tests/executions/engine/test_node_writes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ..choices import NodeStatus
from ..models import NodeExecution


def renew(node_execution_id: Any, task_id: str) -> bool:
    """Extend a running node's lease; False when the node is no longer this task's (cancelled, or re-queued)."""
    expires = timezone.now() + timedelta(seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS)
    running = NodeExecution.objects.filter(pk=node_execution_id, status=NodeStatus.RUNNING, task_id=task_id)
    return bool(running.update(lease_expires_at=expires))


def expire_queued(node_execution_ids: Sequence[Any]) -> None:
    """Expire the lease of queued nodes at once (their task did not reach the broker: the reaper resends them)."""
    queued = NodeExecution.objects.filter(pk__in=node_execution_ids, status=NodeStatus.QUEUED)
    queued.update(lease_expires_at=timezone.now())


def resent(node_execution_ids: Sequence[Any], *, lease: datetime) -> None:
    """Queued nodes whose task was sent again: their lease runs from now."""
    queued = NodeExecution.objects.filter(pk__in=node_execution_ids, status=NodeStatus.QUEUED)
    queued.update(updated_at=timezone.now(), lease_expires_at=lease)
