"""A schedule trigger on a workflow whose running version starts with a `schedule` node gives up its own cron.

The schedule node's `cron`/`timezone` are now what beat runs (the node's cron wins over the record's); the
record keeps a cron only for a workflow that starts with a `manual` node. Beat's periodic tasks are rebuilt from
the node by the next `schedule_sync` (activation, trigger save or new version); this migration re-points the
existing ones at once.
"""

from django.db import migrations
from django.utils import timezone


def _schedule_node(definition) -> dict | None:
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    return next((n for n in nodes or [] if isinstance(n, dict) and n.get("type") == "schedule"), None)


def forwards(apps, schema_editor):
    Trigger = apps.get_model("workflows", "Trigger")
    WorkflowVersion = apps.get_model("workflows", "WorkflowVersion")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    changed = False
    for trigger in Trigger.objects.filter(kind="schedule"):
        latest = WorkflowVersion.objects.filter(workflow_id=trigger.workflow_id).order_by("-number").first()
        node = _schedule_node(latest.definition if latest is not None else None)
        if node is None:
            continue
        if trigger.config:
            trigger.config = {}
            trigger.save(update_fields=["config"])
        config = node.get("config") or {}
        cron, zone = str(config.get("cron", "")).split(), str(config.get("timezone") or "UTC")
        tasks = PeriodicTask.objects.filter(name=f"trigger:{trigger.pk}")
        if len(cron) != 5 or "{" in " ".join(cron) or "{" in zone:
            changed |= tasks.delete()[0] > 0  # beat cannot run an expression
            continue
        minute, hour, day_of_month, month_of_year, day_of_week = cron
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=zone,
        )
        changed |= tasks.update(crontab=crontab) > 0
    if changed:
        # A bulk update bypasses beat's change signal: tell the DatabaseScheduler to reload.
        PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0004_trigger_config_into_start_node"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
