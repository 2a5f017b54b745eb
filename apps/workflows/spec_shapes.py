"""The specification's workflow-creating shape: `POST /workflows` with a `triggers` array (issue 19 item 7).

Creating a workflow and its triggers is one transaction: a trigger that cannot be created (a kind the
workflow's start nodes do not fit, a bad config, a definition with problems) refuses the whole request
with its errors under `/triggers/<index>/...`, and nothing is written.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.orgs.services import Actor

from .models import Trigger, Workflow
from .services import workflow_create
from .triggers import trigger_create


def _under_trigger(index: int, error: ValidationError) -> ValidationError:
    """The error of trigger `index`, each field moved under `triggers/<index>/` (a path the API keeps as a pointer)."""
    fields = error.error_dict if hasattr(error, "error_dict") else {"__all__": error.error_list}
    return ValidationError(
        {
            (f"triggers/{index}" if field == "__all__" else f"triggers/{index}/{field}"): errors
            for field, errors in fields.items()
        }
    )


@transaction.atomic
def workflow_create_with_triggers(
    *, triggers: list[dict], actor: Actor = None, **workflow_fields
) -> tuple[Workflow, list[Trigger]]:
    """`workflow_create`, then `trigger_create` for each item of `triggers` (kind, name, config, is_active,
    signing_secret), all or nothing. Each service writes its own audit row."""
    workflow = workflow_create(actor=actor, **workflow_fields)
    created = []
    for index, fields in enumerate(triggers):
        try:
            created.append(trigger_create(workflow=workflow, actor=actor, **fields))
        except ValidationError as error:
            raise _under_trigger(index, error) from error
    return workflow, created
