import pytest
from django.db.models import RestrictedError

from apps.executions.models import NodeExecution, WorkflowExecution
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory

pytestmark = pytest.mark.django_db


def test_deleting_a_workflow_takes_its_executions_along():
    """A workflow with executions can be deleted; its versions, executions and node rows go with it."""
    node = NodeExecutionFactory()
    workflow = node.execution.workflow
    workflow.delete()
    assert not WorkflowExecution.objects.filter(pk=node.execution_id).exists()
    assert not NodeExecution.objects.filter(pk=node.pk).exists()


def test_a_version_under_executions_cannot_be_deleted_alone():
    """Deleting only the pinned version is refused: an execution always keeps its definition."""
    execution = WorkflowExecutionFactory()
    with pytest.raises(RestrictedError):
        execution.version.delete()
