from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


#: Roles that manage an organization (members, triggers, credentials, API keys).
MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})
#: Roles that create and run workflows.
WRITER_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})
