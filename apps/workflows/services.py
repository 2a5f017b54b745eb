"""Writes for workflows: create, update (a new definition makes a new version), credentials."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.orgs.models import Organization

from .models import Credential, Workflow, WorkflowVersion


def _next_version(*, workflow: Workflow, created_by: AbstractBaseUser | None) -> WorkflowVersion:
    last = workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = WorkflowVersion(
        organization_id=workflow.organization_id,
        workflow=workflow,
        number=last + 1,
        definition=workflow.definition,
        created_by=created_by,
    )
    version.full_clean()
    version.save()
    return version


@transaction.atomic
def workflow_create(
    *,
    organization: Organization,
    name: str,
    definition: dict,
    description: str = "",
    variables: dict | None = None,
    created_by: AbstractBaseUser | None = None,
) -> Workflow:
    """Create a workflow and its first version."""
    workflow = Workflow(
        organization=organization,
        name=name,
        description=description,
        definition=definition,
        variables=variables if variables is not None else definition.get("variables", {}),
        created_by=created_by,
    )
    workflow.full_clean()
    workflow.save()
    _next_version(workflow=workflow, created_by=created_by)
    return workflow


@transaction.atomic
def workflow_update(*, workflow: Workflow, user: AbstractBaseUser | None = None, **fields) -> Workflow:
    """Change a workflow's fields; a changed definition is recorded as a new version."""
    definition_changed = "definition" in fields and fields["definition"] != workflow.definition
    for name, value in fields.items():
        setattr(workflow, name, value)
    workflow.full_clean()
    workflow.save()
    if definition_changed:
        _next_version(workflow=workflow, created_by=user)
    return workflow


@transaction.atomic
def credential_create(
    *, organization: Organization, name: str, kind: str, data: dict, created_by: AbstractBaseUser | None = None
) -> Credential:
    credential = Credential(organization=organization, name=name, kind=kind, data=data, created_by=created_by)
    credential.full_clean()
    credential.save()
    return credential


def credential_rotate_all() -> int:
    """Re-encrypt every credential with the newest key; returns how many were rewritten."""
    count = 0
    for credential in Credential.objects.iterator():
        with transaction.atomic():
            credential.save(update_fields=["data", "updated_at"])
        count += 1
    return count
