from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "apps.executions"
    label = "executions"
    verbose_name = "Executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.orgs import policy

        from . import files, metrics  # noqa: F401  (files: its signal receivers; metrics: what /metrics serves)
        from .engine import tasks  # noqa: F401  (registers the engine's tasks, which its modules send by name)
        from .models import WebhookDelivery, WorkflowExecution
        from .selectors import execution_policy, webhook_delivery_policy

        policy.register(WorkflowExecution, execution_policy)
        policy.register(WebhookDelivery, webhook_delivery_policy)

        # Error workflows: a run saved as failed records its error workflow's start (apps/executions/failures.py).
        from django.db.models.signals import post_save

        from . import failures

        post_save.connect(failures.on_execution_saved, sender=WorkflowExecution, dispatch_uid="error-workflows")
