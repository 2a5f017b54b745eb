"""Workflow variables live only in the (versioned) definition; workflows get a revision for concurrent edits.

The top-level `Workflow.variables` overrode `definition.variables` at run time. Each workflow that had any
gets them merged into its working definition (top-level values win, as they did). Versions are immutable:
none is rewritten. When the working definition was the latest version's (the one that runs), the merged
definition is recorded as a new version, so runs keep the values they had; a working copy that differed
from its latest version (a draft) gets the merge and no version.
"""

from django.db import migrations, models


def merge_variables(apps, schema_editor):
    Workflow = apps.get_model("workflows", "Workflow")
    WorkflowVersion = apps.get_model("workflows", "WorkflowVersion")
    for workflow in Workflow.objects.exclude(variables={}).iterator():
        definition = workflow.definition if isinstance(workflow.definition, dict) else {}
        if not isinstance(workflow.variables, dict) or not workflow.variables:
            continue
        base = definition.get("variables") if isinstance(definition.get("variables"), dict) else {}
        merged = {**definition, "variables": {**base, **workflow.variables}}
        if merged == definition:
            continue
        latest = WorkflowVersion.objects.filter(workflow=workflow).order_by("-number").first()
        workflow.definition = merged
        workflow.save(update_fields=["definition"])
        if latest is not None and latest.definition == definition:
            WorkflowVersion.objects.create(
                organization_id=workflow.organization_id,
                workflow=workflow,
                number=latest.number + 1,
                definition=merged,
                created_by=None,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0002_form_submission"),
    ]

    operations = [
        migrations.RunPython(merge_variables, migrations.RunPython.noop),
        migrations.RemoveField(model_name="workflow", name="variables"),
        migrations.AddField(
            model_name="workflow",
            name="revision",
            field=models.PositiveIntegerField(
                default=1,
                editable=False,
                help_text="Bumped by every save; a save based on an older one is refused.",
            ),
        ),
    ]
