from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "apps.nodes"
    label = "nodes"
    verbose_name = "Nodes"
    default_auto_field = "django.db.models.BigAutoField"
