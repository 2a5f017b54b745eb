"""Admin of alert rules (scoped to the organizations a staff member manages, written through the services, with a
test-send action), the messages they sent and the error workflow starts."""

from django.contrib import admin, messages
from django.http import HttpRequest

from apps.core.admin import ReadOnlyAdminMixin, admin_actor
from apps.orgs.admin_scoping import TenantAdminMixin

from . import alerts
from .alert_models import AlertMessage, AlertRule, ErrorWorkflowRun

RULE_FIELDS = (
    "name",
    "kind",
    "workflow",
    "channel",
    "target",
    "signing_secret",
    "threshold_percent",
    "min_runs",
    "window_minutes",
    "digest_minutes",
    "is_active",
)


@admin.register(AlertRule)
class AlertRuleAdmin(TenantAdminMixin, admin.ModelAdmin):
    list_display = ["name", "organization", "kind", "channel", "is_active", "last_sent_at", "last_error"]
    list_filter = ["kind", "channel", "is_active", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "target", "organization__name"]
    fields = ["organization", *RULE_FIELDS, "checked_until", "last_sent_at", "last_error"]
    readonly_fields = ["checked_until", "last_sent_at", "last_error"]
    actions = ["send_test_message"]

    def save_model(self, request: HttpRequest, obj: AlertRule, form, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in RULE_FIELDS if name in form.cleaned_data}
        if change:
            rule = alerts.alert_rule_update(rule=AlertRule.objects.get(pk=obj.pk), actor=admin_actor(request), **values)
        else:
            rule = alerts.alert_rule_create(organization=obj.organization, actor=admin_actor(request), **values)
        obj.pk, obj.created_at, obj.updated_at = rule.pk, rule.created_at, rule.updated_at

    def delete_model(self, request: HttpRequest, obj: AlertRule) -> None:
        alerts.alert_rule_delete(rule=obj, actor=admin_actor(request))

    @admin.action(description="Send a test message")
    def send_test_message(self, request: HttpRequest, queryset) -> None:
        for rule in queryset:
            message = alerts.alert_rule_test(rule=rule, actor=admin_actor(request))
            if message.delivered:
                self.message_user(request, f"{rule}: test message sent.", messages.SUCCESS)
            else:
                self.message_user(request, f"{rule}: {message.error}", messages.ERROR)


@admin.register(AlertMessage)
class AlertMessageAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ["subject", "rule", "count", "delivered", "test", "created_at"]
    list_filter = ["delivered", "test", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["subject", "rule__name"]


@admin.register(ErrorWorkflowRun)
class ErrorWorkflowRunAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ["failed_execution", "error_workflow", "execution", "started_at", "error", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
