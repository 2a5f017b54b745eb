from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.executions.views import FormSubmissionView

from .alert_rules import AlertRuleViewSet
from .debugging import ExecutionDebugViewSet
from .expressions import ExpressionPreviewViewSet
from .files import ExecutionFileViewSet, file_download
from .inbox import WebhookDeliveryViewSet
from .saved_filters import SavedExecutionFilterViewSet
from .views import ExecutionViewSet, WorkflowExecutionViewSet, WorkflowRunAliasViewSet, WorkflowRunViewSet

router = SimpleRouter()
router.register("executions", ExecutionViewSet, basename="execution")
router.register("executions", ExecutionDebugViewSet, basename="execution-debug")  # rerun/, logs/
router.register("executions", ExecutionFileViewSet, basename="execution-file")  # files/, files/{id}/download/
router.register("execution-filters", SavedExecutionFilterViewSet, basename="execution-filter")
router.register("alert-rules", AlertRuleViewSet, basename="alert-rule")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
# Routed under /workflows/ although they live here: executions depend on workflows, never the reverse.
router.register("workflows", WorkflowRunViewSet, basename="workflow-run")
router.register(
    r"workflows/(?P<workflow_pk>[^/.]+)/executions", WorkflowExecutionViewSet, basename="workflow-execution"
)

urlpatterns = [
    *router.urls,
    # The specification writes it without the trailing slash: the same action, both body shapes.
    path(
        "workflows/<str:pk>/execute",
        WorkflowRunAliasViewSet.as_view({"post": "execute"}),
        name="workflow-run-execute-no-slash",
    ),
    path("forms/<str:token>/submissions/", FormSubmissionView.as_view(), name="form-submissions"),
    # A signed local download URL (the token is the authorisation): apps/executions/files.py.
    path("files/<str:token>/", file_download, name="file-download"),
    path(
        "workflows/<str:workflow_pk>/expressions/preview/",
        ExpressionPreviewViewSet.as_view({"post": "preview"}),
        name="workflow-expression-preview",
    ),
]
