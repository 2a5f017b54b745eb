from django.apps import AppConfig
from django.db.models.signals import post_migrate


class NodesConfig(AppConfig):
    name = "apps.nodes"
    label = "nodes"
    verbose_name = "Nodes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registration happens here, not at module import, so a bad node stops startup with its message.
        from . import builtin, checks  # noqa: F401
        from .registry import registry
        from .services import sync_after_migrate

        registry.load_entry_points()
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="nodes.sync_node_types")
