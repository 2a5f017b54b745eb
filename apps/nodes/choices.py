from django.db import models


class Category(models.TextChoices):
    TRIGGERS = "triggers", "Triggers"
    TRANSFORMS = "transforms", "Transforms"
    ACTIONS = "actions", "Actions"
    CONDITIONS = "conditions", "Conditions"
    INTEGRATIONS = "integrations", "Integrations"
