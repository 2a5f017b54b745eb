from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "apps.workflows"
    label = "workflows"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from apps.orgs import policy

        from .models import Workflow, WorkflowVersion
        from .selectors import workflow_policy, workflow_version_policy

        policy.register(Workflow, workflow_policy)
        policy.register(WorkflowVersion, workflow_version_policy)
        # Built-in trigger kinds register on import; plugins' kinds through the `concertmaster.triggers` group.
        from . import builtin_triggers  # noqa: F401
        from .error_trigger import ErrorKind
        from .trigger_kinds import trigger_kinds

        trigger_kinds.register(ErrorKind)

        trigger_kinds.load_entry_points()
        # Refreshed OAuth2 tokens are saved in their credential (the node SDK has no ORM).
        from apps.nodes import credential_kinds

        from .oauth2 import token_store

        credential_kinds.token_store = token_store
