from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    name = "apps.executions"
    label = "executions"
    verbose_name = "Executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.orgs import policy

        from . import metrics  # noqa: F401  (registers the engine's metrics, which /metrics serves)
        from .models import WebhookDelivery, WorkflowExecution
        from .selectors import execution_policy, webhook_delivery_policy

        policy.register(WorkflowExecution, execution_policy)
        policy.register(WebhookDelivery, webhook_delivery_policy)
