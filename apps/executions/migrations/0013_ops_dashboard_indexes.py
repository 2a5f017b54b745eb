from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0012_execution_files"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="workflowexecution",
            index=models.Index(fields=["created_at", "status"], name="execution_created_status"),
        ),
        migrations.AddIndex(
            model_name="workflowexecution",
            index=models.Index(fields=["workflow", "-created_at"], name="execution_wf_created"),
        ),
    ]
