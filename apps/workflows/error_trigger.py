"""The `error` trigger kind: the platform starts a workflow's error workflow when one of its runs fails.

No Trigger row publishes it: a workflow names its error workflow (`Workflow.error_workflow`, or the organization's
default, `is_default_error_workflow`), and apps/executions/failures.py starts it with the failed run's details.
"""

from .trigger_kinds import TriggerKindSpec, register_trigger_kind

#: `WorkflowExecution.trigger_kind` of the runs started for a failure.
ERROR_TRIGGER_KIND = "error"


@register_trigger_kind
class ErrorKind(TriggerKindSpec):
    """Another workflow's run failed; the run receives its details as trigger data."""

    name = ERROR_TRIGGER_KIND
    label = "Error workflow"
    start_nodes = ("manual",)
