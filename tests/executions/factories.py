"""Executions built directly as rows (the engine is not involved), for admin and selector tests."""

import factory
from django.utils import timezone

from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from tests.workflows.factories import WorkflowFactory


class WorkflowExecutionFactory(factory.django.DjangoModelFactory):
    """An execution of a workflow's latest version."""

    class Meta:
        model = WorkflowExecution

    workflow = factory.SubFactory(WorkflowFactory)
    organization = factory.SelfAttribute("workflow.organization")
    version = factory.LazyAttribute(lambda o: o.workflow.latest_version)
    status = "pending"
    trigger_kind = "manual"


class NodeExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NodeExecution

    execution = factory.SubFactory(WorkflowExecutionFactory)
    organization = factory.SelfAttribute("execution.organization")
    node_id = factory.Sequence(lambda n: f"node{n}")
    node_type = "log"
    status = "pending"


class ExecutionEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExecutionEvent

    execution = factory.SubFactory(WorkflowExecutionFactory)
    organization = factory.SelfAttribute("execution.organization")
    seq = factory.Sequence(lambda n: n + 1)
    type = "execution.started"
    data = factory.LazyFunction(dict)
    at = factory.LazyFunction(timezone.now)
