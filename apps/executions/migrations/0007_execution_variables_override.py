from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0006_node_queued_at_and_circuit_breakers"),
    ]

    operations = [
        migrations.AddField(
            model_name="workflowexecution",
            name="variables_override",
            field=models.JSONField(
                blank=True,
                help_text="Variables the run was started with, over its version's (null: none given).",
                null=True,
            ),
        ),
    ]
