"""One node run, the body of the node task: claim the node (claim.py), render its config and run it in a node
thread under its timeout while renewing the lease (threads.py), record the outcome and move the execution on
(complete.py). The engine's modules and their import direction: docs/architecture.md."""

from __future__ import annotations

import logging
import threading
import time
from functools import partial
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from structlog.contextvars import bound_contextvars

from apps.nodes import credential_kinds
from apps.nodes.base import Node, NodeContext, NodeResult, Suspend, idempotency_key
from apps.nodes.datastore import DjangoNodeServices
from apps.nodes.expressions import PAST_DEADLINE, ExpressionError, expression_budget, has_expression, render
from apps.nodes.http import ALLOW_PRIVATE_SETTING
from apps.nodes.registry import UnknownNodeType, registry
from apps.orgs.variables import org_secrets_apply
from apps.workflows.models import Credential

from ..execution_data import execution_custom_data_set
from ..logs import NodeLog
from . import breaker, leases
from .claim import Claim, claim_node
from .complete import complete_node, fail, succeed, suspend
from .connections import through_outage
from .outcomes import (
    ABANDONED,
    ERROR_BAD_RESULT,
    ERROR_CHILD_WORKFLOW,
    ERROR_CREDENTIAL,
    ERROR_EXCEPTION,
    ERROR_EXPRESSION,
    ERROR_NODE,
    ERROR_OUTPUT_NOT_JSON,
    ERROR_OUTPUT_TOO_LARGE,
    ERROR_TIMEOUT,
    ERROR_UNKNOWN_TYPE,
    ERROR_WORKER_LOST,
    MSG_BAD_RESULT,
    MSG_BAD_SUSPEND,
    MSG_BAD_SUSPEND_DATA,
    MSG_CREDENTIAL_MISSING,
    MSG_OUTPUT_NOT_JSON,
    MSG_OUTPUT_TOO_LARGE,
    MSG_TIMEOUT,
    PARKED_BY_BREAKER,
    Blocked,
    Failure,
    Gate,
    _recorded,
    _serialize,
)
from .threads import _checked, _EngineError, _NodeThread, _run_timed, run_with_timeout

#: The runner's names from before the split into claim / threads / complete (issue 14): services, the admin and
#: tests import them from here.
__all__ = [
    "ABANDONED",
    "ERROR_BAD_RESULT",
    "ERROR_CHILD_WORKFLOW",
    "ERROR_CREDENTIAL",
    "ERROR_EXCEPTION",
    "ERROR_EXPRESSION",
    "ERROR_NODE",
    "ERROR_OUTPUT_NOT_JSON",
    "ERROR_OUTPUT_TOO_LARGE",
    "ERROR_TIMEOUT",
    "ERROR_UNKNOWN_TYPE",
    "ERROR_WORKER_LOST",
    "MSG_BAD_RESULT",
    "MSG_BAD_SUSPEND",
    "MSG_BAD_SUSPEND_DATA",
    "MSG_CREDENTIAL_MISSING",
    "MSG_OUTPUT_NOT_JSON",
    "MSG_OUTPUT_TOO_LARGE",
    "MSG_TIMEOUT",
    "PARKED_BY_BREAKER",
    "Blocked",
    "Claim",
    "Failure",
    "Gate",
    "_NodeThread",
    "_recorded",
    "_serialize",
    "claim_node",
    "complete_node",
    "execute",
    "fail",
    "run_node",
    "run_with_timeout",
    "succeed",
    "suspend",
]

logger = logging.getLogger(__name__)


def run_node(
    execution_id: str, node_execution_id: str, task_id: str, *, node_id: str = "", version_id: str = ""
) -> None:
    """The body of the node task: claim, run, complete. Every step is a no-op for a stale delivery."""
    with bound_contextvars(execution_id=str(execution_id), node_id=node_id or None):
        claim = claim_node(execution_id, node_execution_id, task_id, node_id=node_id, version_id=version_id)
        if claim is None:
            return
        with bound_contextvars(node_id=claim.node_id, correlation_id=claim.correlation_id or None):
            started = time.monotonic()
            outcome, config, gate = execute(claim)
            if outcome is ABANDONED:
                return
            seconds = time.monotonic() - started
            # A database outage while the node ran: its outcome is recorded once the database is back (while the
            # lease would hold), instead of being lost with the task and the node run again.
            through_outage(
                lambda: complete_node(claim, outcome, seconds, config=config, gate=gate),
                seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS,
                what="record a node's outcome",
            )


def execute(claim: Claim) -> tuple[Any, dict | None, Gate | None]:
    """Run the claimed node; returns (a NodeResult, a Suspend, a Failure, Blocked or ABANDONED; the rendered
    config, None when it could not be rendered; the circuit breaker the run went through, None when it failed
    before asking).

    The node's timeout covers everything the run does: its config is rendered in the node thread, under the
    timeout and with the lease renewed, and its expressions (the config's and the node's per-item ones) share
    one operation budget (CONCERTMASTER_EXPRESSION_MAX_OPERATIONS) that also stops at the timeout.
    """
    try:
        node_class = registry.get(claim.node_type)
    except UnknownNodeType as exc:
        return Failure(ERROR_UNKNOWN_TYPE, str(exc), retryable=False), None, None
    timeout = float(claim.spec.get("timeout_seconds") or settings.CONCERTMASTER_NODE_DEFAULT_TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout
    raw_config = claim.spec.get("config", {})
    # Credentials named without expressions are read here, on this thread's connection; others once rendered.
    literal = not any(has_expression(raw_config.get(name)) for name in node_class.credential_fields)
    found = _credentials(claim.organization_id, node_class.credential_fields, raw_config) if literal else None
    learnt: dict[str, Any] = {}

    given_up = threading.Event()  # set once the task stops waiting: a node's subprocess must not outlive it

    def job() -> Any:
        operations = settings.CONCERTMASTER_EXPRESSION_MAX_OPERATIONS
        with expression_budget(operations=operations, deadline=deadline):
            return _prepare_and_run(claim, node_class, found, learnt, timeout, (deadline, given_up.is_set))

    def renew() -> bool:
        try:
            return _renew_lease(claim)
        except (OperationalError, InterfaceError):  # a database outage: the run goes on, the lease decides
            logger.warning("Could not renew the lease of node %s (database unreachable)", claim.node_id)
            return True

    try:
        outcome = _run_timed(job, name=f"node-{claim.node_id}", timeout=timeout, deadline=deadline, renew=renew)
    finally:
        given_up.set()
    return outcome, learnt.get("config"), learnt.get("gate")


def _prepare_and_run(
    claim: Claim, node_class: type[Node], found: dict | Failure | None, learnt: dict, timeout: float, stop: tuple
) -> NodeResult | Suspend | Failure | Blocked:
    """In the node thread: render the config, find the credentials, pass the breaker, run the node."""
    try:
        written = claim.spec.get("config", {})
        config = render(node_class.expression_config(written), claim.expression_context, pointer="/config")
        config.update({key: written[key] for key in node_class.verbatim_fields if key in written})
    except ExpressionError as exc:
        if exc.reason == PAST_DEADLINE:
            return Failure(ERROR_TIMEOUT, MSG_TIMEOUT.format(seconds=timeout))
        return Failure(ERROR_EXPRESSION, exc.message, retryable=False, data={"pointer": exc.pointer})
    learnt["config"] = config
    try:
        if found is None:
            found = _credentials(claim.organization_id, node_class.credential_fields, config)
        if isinstance(found, Failure):
            return found
        key = breaker.key_for(claim.organization_id, claim.node_type, _breaker_target(node_class, config, found))
        blocked_until, dirty = breaker.admission(key)
    except Exception as exc:
        raise _EngineError() from exc
    if blocked_until is not None:
        return Blocked(until=blocked_until, key=key)
    learnt["gate"] = Gate(key=key, dirty=dirty)
    node_log = NodeLog(
        execution_id=claim.execution_id,
        organization_id=claim.organization_id,
        workflow_id=claim.workflow_id,
        node_id=claim.node_id,
    )
    ctx = NodeContext(
        node_id=claim.node_id,
        execution_id=claim.execution_id,
        organization_id=claim.organization_id,
        config=config,
        inputs=claim.inputs,
        credentials={
            name: credential_kinds.node_data(credential.kind, credential.data, internal=credential.allow_private)
            for name, credential in found.items()
        },
        attempt=claim.attempt,
        resume=claim.resume,
        services=DjangoNodeServices(claim.organization_id),
        logger=node_log.logger(f"concertmaster.node.{claim.node_type}"),
        log_sink=node_log.log,
        custom_data_sink=partial(execution_custom_data_set, execution_id=claim.execution_id),
        settings={ALLOW_PRIVATE_SETTING: settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP},
        idempotency_key=idempotency_key(claim.execution_id, claim.node_id),  # every attempt: the same key
        expression_context=claim.expression_context,
        deadline=stop[0],
        stopped=stop[1],
    )
    return _checked(node_class().run(ctx))


def _credentials(organization_id: str, fields: tuple[str, ...], config: dict) -> dict[str, Credential] | Failure:
    names = [config[name] for name in fields if isinstance(config.get(name), str) and config.get(name)]
    if not names:
        return {}
    found = {c.name: c for c in Credential.objects.filter(organization_id=organization_id, name__in=names)}
    for name in names:
        if name not in found:
            return Failure(ERROR_CREDENTIAL, MSG_CREDENTIAL_MISSING.format(name=name), retryable=False)
    unresolved = org_secrets_apply(organization_id=organization_id, credentials=found.values())
    if unresolved:
        return Failure(ERROR_CREDENTIAL, unresolved, retryable=False)
    return found


def _breaker_target(node_class: type[Node], config: dict, credentials: dict[str, Credential]) -> str | None:
    """The node type's own target (a host), else the credentials it uses, else None (the type as a whole)."""
    try:
        target = node_class.breaker_target(config)
    except Exception:  # a third-party hook must not stop the run: its nodes share one breaker instead
        logger.warning("%s.breaker_target failed; keyed by type", node_class.__name__, exc_info=True)
        target = None
    if target is None and credentials:
        target = "credential:" + ",".join(sorted(str(credential.pk) for credential in credentials.values()))
    return target


def _renew_lease(claim: Claim) -> bool:
    """Extend the lease; False when the node is no longer this task's (cancelled, or re-queued)."""
    return leases.renew(claim.node_execution_id, claim.task_id)
