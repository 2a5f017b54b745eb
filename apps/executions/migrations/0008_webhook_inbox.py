"""The webhook inbox: WebhookDelivery keeps every call (outcome, request, replay identity), not only keyed ones.

Rows already there were accepted calls with an Idempotency-Key: they keep answering for their key.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("executions", "0007_execution_variables_override"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="webhookdelivery", name="webhookdelivery_unique_key"),
        migrations.AlterModelOptions(
            name="webhookdelivery",
            options={"ordering": ["-created_at", "-id"], "verbose_name_plural": "webhook deliveries"},
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("accepted", "Accepted"),
                    ("duplicate", "Duplicate"),
                    ("refused_signature", "Refused (signature)"),
                    ("invalid", "Invalid"),
                    ("inactive", "Inactive"),
                ],
                default="accepted",
                max_length=20,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="status_code",
            field=models.PositiveSmallIntegerField(
                default=202, help_text="The HTTP status the caller was answered with."
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="detail",
            field=models.CharField(blank=True, help_text="Why it was refused.", max_length=500),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="method",
            field=models.CharField(default="POST", max_length=10),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="headers",
            field=models.JSONField(blank=True, default=dict, help_text="Request headers; secrets are left out."),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="query",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="content_type",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="body",
            field=models.TextField(
                blank=True, help_text="The body as text, up to CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES."
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="body_truncated",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="remote_addr",
            field=models.GenericIPAddressField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="signature_scheme",
            field=models.CharField(blank=True, help_text="The scheme checked; blank if none.", max_length=30),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="signature_digest",
            field=models.CharField(
                blank=True,
                help_text="SHA-256 of the verified signature: a delivery is accepted once per digest.",
                max_length=64,
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="message_id",
            field=models.CharField(
                blank=True, help_text="The sender's message id (webhook-id, X-GitHub-Delivery).", max_length=200
            ),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="idempotency_active",
            field=models.BooleanField(
                default=True, help_text="This accepted delivery still answers for its Idempotency-Key."
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="idempotency_active",
            field=models.BooleanField(
                default=False, help_text="This accepted delivery still answers for its Idempotency-Key."
            ),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["organization", "-created_at"], name="webhookdelivery_org_created"),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(fields=["trigger", "-created_at"], name="webhookdelivery_trig_created"),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("idempotency_active", True)),
                fields=("trigger", "idempotency_key"),
                name="webhookdelivery_unique_key",
            ),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("outcome", "accepted"), models.Q(("signature_digest", ""), _negated=True)),
                fields=("trigger", "signature_digest"),
                name="webhookdelivery_unique_signature",
            ),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.UniqueConstraint(
                condition=models.Q(("outcome", "accepted"), models.Q(("message_id", ""), _negated=True)),
                fields=("trigger", "message_id"),
                name="webhookdelivery_unique_message",
            ),
        ),
        migrations.AddConstraint(
            model_name="webhookdelivery",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("outcome__in", ["accepted", "duplicate", "refused_signature", "invalid", "inactive"])
                ),
                name="webhookdelivery_outcome_valid",
            ),
        ),
    ]
