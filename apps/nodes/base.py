"""The node SDK: what a node type declares and what it gets when it runs.

A node is a declaration plus `run(ctx) -> NodeResult | Suspend`. It keeps no state and knows nothing of
Celery, Channels or the executions ORM: retries, leases, statuses and waiting belong to the engine.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

MAIN = "main"
ERROR = "error"


class NodeError(Exception):
    """A node failed. `retryable=False` skips the remaining retry attempts (bad input will not improve)."""

    def __init__(self, message: str, *, retryable: bool = True, data: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.data = data or {}


@dataclass(frozen=True)
class NodeResult:
    """What a node produced, by output port. A port absent from `outputs` is a branch not taken."""

    outputs: dict[str, Any]

    @classmethod
    def single(cls, value: Any, port: str = MAIN) -> NodeResult:
        return cls(outputs={port: value})


@dataclass(frozen=True)
class Suspend:
    """Ask the engine to park the node without holding a worker, and to run it again later.

    kind:
      - "delay": wake at `wake_at`.
      - "approval": wake when someone approves or rejects (`ctx.resume` = {"decision", "by", "comment"}),
        or at `wake_at` as a timeout (`ctx.resume` = {"decision": "timeout"}).
      - "children": start one child execution per entry of `data["children"]`
        ({"workflow_id", "input"}), at most `data["concurrency"]` at once; wake when all finished with
        `ctx.resume` = {"results": [{"status", "output", "error"} in the order given]}.
    """

    kind: str
    wake_at: datetime | None = None
    data: dict = field(default_factory=dict)


def idempotency_key(execution_id: str, node_id: str) -> str:
    """The key a node's side effects carry: the same for every attempt of one node in one execution, so a
    receiver can drop the repeat that at-least-once execution allows (32 hex characters)."""
    return hashlib.sha256(f"{execution_id}:{node_id}".encode()).hexdigest()[:32]


class NodeServices(Protocol):
    """Platform services a node may use, provided by the engine (so nodes never import the ORM)."""

    def datastore_put(self, *, collection: str, key: str, value: Any) -> dict: ...

    def datastore_get(self, *, collection: str, key: str) -> Any | None: ...

    def datastore_query(self, *, collection: str, limit: int) -> list[dict]: ...

    def storage_save(self, *, name: str, content: bytes) -> str:
        """Save a file to Django storage and return its URL."""
        ...

    def file_write(self, *, execution_id: str, node_id: str, name: str, content: bytes, content_type: str = "") -> dict:
        """Put a file in the platform storage, listed with the execution; its reference (apps/nodes/files.py)."""
        ...

    def file_read(self, *, reference: Any, field: str = "file") -> tuple[dict, bytes]:
        """A reference of this organization's file, checked, and its bytes (a NodeError naming `field` otherwise)."""
        ...


@dataclass
class NodeContext:
    """Everything a running node may see."""

    node_id: str
    execution_id: str
    organization_id: str
    config: dict
    inputs: dict[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, dict] = field(default_factory=dict)
    attempt: int = 1
    resume: dict | None = None
    services: NodeServices | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("concertmaster.node"))
    report_progress: Callable[[dict], None] = lambda data: None
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: Send it with side effects (an `Idempotency-Key` header, a delivery id): the same on every attempt of
    #: this node in this execution. Derived from the ids when not given.
    idempotency_key: str = ""
    #: Where `log()` writes: the engine's execution log (None: `logger` only, as outside the engine).
    log_sink: Callable[..., None] | None = None
    #: Where `set_custom_data()` writes: the execution's custom data (None: nowhere, as outside the engine).
    custom_data_sink: Callable[[str, Any], None] | None = None
    #: What the config's expressions saw (`trigger`, `nodes`, `vars`, `execution`), for nodes that run user code.
    expression_context: Mapping[str, Any] = field(default_factory=dict)
    #: When the engine stops waiting for this run (a `time.monotonic()` value; None: no limit), and whether it
    #: has given up on it (timed out, cancelled): a node that runs a subprocess stops it then.
    deadline: float | None = None
    stopped: Callable[[], bool] = lambda: False

    def __post_init__(self) -> None:
        if not self.idempotency_key:
            self.idempotency_key = idempotency_key(str(self.execution_id), str(self.node_id))

    def log(self, level: str, message: Any, **metadata: Any) -> None:
        """Write a line to the execution's log: stored with the execution and node, streamed live, read at
        `/api/v1/executions/<id>/logs/`. `level`: debug, info, warning or error; `metadata`: JSON values kept
        with the line. `ctx.logger`'s records land there too (without metadata)."""
        if self.log_sink is not None:
            self.log_sink(level, message, **metadata)
        else:
            self.logger.log(logging.getLevelName(str(level).upper()) if isinstance(level, str) else level, message)

    def set_custom_data(self, key: str, value: Any) -> None:
        """Attach a key-value to the execution: listed with it and searchable (`?custom_key=&custom_value=`).

        `key`: at most 50 characters; `value`: a string (at most 255 characters), number or boolean; null removes
        the key. Raises NodeError (not retryable) for another key or value, or past 20 keys per execution."""
        if self.custom_data_sink is not None:
            self.custom_data_sink(key, value)

    @property
    def input(self) -> Any:
        """The value on the main input port (what most nodes work on)."""
        return self.inputs.get(MAIN)


class Node(ABC):
    """Base class of every node type. Subclass, declare, implement `run`, register with `@register`.

    The engine renders every `{{ ... }}` in the config before `run`; `validate_config` checks the
    unrendered config against `config_schema` (a value holding an expression is checked once rendered).
    """

    type_name: ClassVar[str]
    category: ClassVar[str]
    version: ClassVar[str] = "1"
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    icon: ClassVar[str] = "box"
    config_schema: ClassVar[dict] = {"type": "object", "properties": {}, "additionalProperties": False}
    inputs: ClassVar[tuple[str, ...]] = (MAIN,)
    outputs: ClassVar[tuple[str, ...]] = (MAIN,)
    #: Config keys whose values name a Credential of the organization; the engine decrypts them into
    #: `ctx.credentials[<credential name>]`.
    credential_fields: ClassVar[tuple[str, ...]] = ()
    #: Config keys the engine passes as written: never rendered, nor read as expressions when a workflow is
    #: validated (a code step's `code`, where `{{` is the code's own).
    verbatim_fields: ClassVar[tuple[str, ...]] = ()
    #: The node may read any node's output at run time (`ctx.expression_context["nodes"]`), not only its sources
    #: and the nodes its expressions name (a code step's `nodes` / `$('name')`).
    reads_every_output: ClassVar[bool] = False

    @classmethod
    def expression_config(cls, config: dict) -> dict:
        """The part of `config` the engine renders and validation reads as expressions (all but verbatim keys)."""
        if not cls.verbatim_fields or not isinstance(config, dict):
            return config
        return {key: value for key, value in config.items() if key not in cls.verbatim_fields}

    @classmethod
    def output_ports(cls, config: dict) -> tuple[str, ...]:
        """The output ports for one configuration (a switch has one per case). `error` is always allowed."""
        return cls.outputs

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        """Checks JSON Schema cannot express, as (JSON pointer, message) pairs.

        Called by `validate_config` only once the config matches `config_schema`. A value that holds a
        `{{ ... }}` expression is only known at run time: leave it alone.
        """
        return []

    @classmethod
    def prepare_config(cls, config: dict) -> dict:
        """The config as it is stored when a workflow is saved (e.g. a form's field order made explicit).

        Called before validation with the config as the author sent it; return it unchanged or a copy.
        """
        return config

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        """What a failure of this node says is broken, from its rendered config: the engine's circuit breaker is
        kept per organization, node type and this target (an HTTP node answers the host it calls).

        None (the default): a credential the node uses, when the config names one, else the node type as a
        whole within the organization.
        """
        return None

    @abstractmethod
    def run(self, ctx: NodeContext) -> NodeResult | Suspend:
        """Do the work on `ctx.inputs` with the rendered `ctx.config`; raise NodeError on failure."""
