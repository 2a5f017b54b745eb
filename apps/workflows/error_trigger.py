"""The `error` trigger kind: the platform starts a workflow's error workflow when one of its runs fails.

No Trigger row publishes it: a workflow names its error workflow (`Workflow.error_workflow`, or the organization's
default, `is_default_error_workflow`), and apps/executions/failures.py starts it with the failed run's details.
"""

from .trigger_kinds import TriggerKindSpec

#: `WorkflowExecution.trigger_kind` of the runs started for a failure.
ERROR_TRIGGER_KIND = "error"


class ErrorKind(TriggerKindSpec):
    """Another workflow's run failed; the run receives its details as trigger data (registered by
    `WorkflowsConfig.ready()` after the built-ins, whoever imports this module first)."""

    name = ERROR_TRIGGER_KIND
    label = "Error workflow"
    start_nodes = ("manual",)
