"""The engine as services, the admin and the API call it: lock an execution (`locked`), create and begin one,
cancel, pause, resume, retry, decide an approval. Names only: the code lives in the modules below it (unit, flow,
lifecycle, control, ...; see docs/architecture.md for the map), and no engine module imports this one.
"""

from __future__ import annotations

from .control import (
    MSG_NOT_AN_APPROVER,
    MSG_NOT_WAITING_FOR_APPROVAL,
    MSG_NOTHING_TO_RETRY,
    MSG_UNKNOWN_NODE,
    pause_execution,
    resolve_approval,
    resume_execution,
    retry_failed_execution,
)
from .event_data import EventType
from .flow import (
    advance,
    cancel_execution,
    cancel_open_nodes,
    finish_execution,
    halt,
    node_due_wake,
    queue_node,
    retry_delay,
    set_execution_status,
)
from .graphs import CompiledGraph, compiled_graph
from .handover import hand_over, publisher
from .lifecycle import PRESET_STATE, begin_execution, create_execution
from .unit import (
    _ROW_FIELDS,
    ACTIVE_EXECUTION,
    SUSPEND_APPROVAL,
    SUSPEND_CHILDREN,
    SUSPEND_DELAY,
    Unit,
    locked,
    new_task_id,
    set_node_status,
)

__all__ = [
    "ACTIVE_EXECUTION",
    "MSG_NOTHING_TO_RETRY",
    "MSG_NOT_AN_APPROVER",
    "MSG_NOT_WAITING_FOR_APPROVAL",
    "MSG_UNKNOWN_NODE",
    "PRESET_STATE",
    "SUSPEND_APPROVAL",
    "SUSPEND_CHILDREN",
    "SUSPEND_DELAY",
    "_ROW_FIELDS",
    "CompiledGraph",
    "EventType",
    "Unit",
    "advance",
    "begin_execution",
    "cancel_execution",
    "cancel_open_nodes",
    "compiled_graph",
    "create_execution",
    "finish_execution",
    "halt",
    "hand_over",
    "locked",
    "new_task_id",
    "node_due_wake",
    "pause_execution",
    "publisher",
    "queue_node",
    "resolve_approval",
    "resume_execution",
    "retry_delay",
    "retry_failed_execution",
    "set_execution_status",
    "set_node_status",
]
