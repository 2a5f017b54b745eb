from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Connections to outside automation services (n8n): the hub, the sync, the workflows they bring in."""

    name = "apps.integrations"
    default_auto_field = "django.db.models.BigAutoField"
