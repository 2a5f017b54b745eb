from django.urls import path
from rest_framework.routers import SimpleRouter

from .diff import WorkflowVersionDiffViewSet
from .views import (
    CredentialViewSet,
    FormSubmissionViewSet,
    TriggerViewSet,
    WorkflowVersionViewSet,
    WorkflowViewSet,
)
from .webhooks import WebhookViewSet

router = SimpleRouter()
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register(r"workflows/(?P<workflow_pk>[^/.]+)/versions", WorkflowVersionViewSet, basename="workflow-version")
router.register("triggers", TriggerViewSet, basename="trigger")
router.register("credentials", CredentialViewSet, basename="credential")
router.register("form-submissions", FormSubmissionViewSet, basename="form-submission")

#: The specification's `/api/v1/webhooks` (with or without the trailing slash, as it is written there).
spec_router = SimpleRouter()
spec_router.trailing_slash = "/?"  # the constructor takes only a yes or no
spec_router.register("webhooks", WebhookViewSet, basename="spec-webhook")

urlpatterns = [
    *router.urls,
    *spec_router.urls,
    path(
        "workflows/<str:workflow_pk>/versions/<int:a>/diff/<int:b>/",
        WorkflowVersionDiffViewSet.as_view({"get": "diff"}),
        name="workflow-version-diff",
    ),
]
