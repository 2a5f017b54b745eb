"""The webhook inbox over the API: `/api/v1/webhook-deliveries/` lists every call of your webhook triggers, and
`replay` starts a new execution from one (it needs the workflow's execute permission and is audited)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.availability import broker_required
from apps.executions.selectors import webhook_delivery_list
from apps.executions.triggers import webhook_delivery_replay
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.policy import EXECUTE

from .filters import WebhookDeliveryFilter
from .serializers import ExecutionDetailSerializer, WebhookDeliverySerializer
from .views import _detail

TAGS = ["triggers"]


@extend_schema_view(
    list=extend_schema(
        summary="The webhook inbox: every call of your webhook triggers (accepted, duplicate, refused), newest first",
        tags=TAGS,
    ),
    retrieve=extend_schema(summary="One webhook delivery", tags=TAGS),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Read-only rows written by the public webhook endpoint; `replay` is the one verb."""

    serializer_class = WebhookDeliverySerializer
    selector = webhook_delivery_list
    filterset_class = WebhookDeliveryFilter
    action_permissions = {"replay": EXECUTE}

    @extend_schema(
        summary="Start a new execution from this delivery's request (as if it had just been accepted)",
        description=(
            "The stored method, headers (without credentials and signatures), query and body become the "
            "execution's trigger data; signature and duplicate checks do not apply. A delivery whose body was "
            "longer than the inbox keeps cannot be replayed (400)."
        ),
        tags=TAGS,
        request=None,
        responses={202: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def replay(self, request, pk=None):
        delivery = self.get_object()
        broker_required()  # 503 with Retry-After while no task can be sent: nothing is started
        execution = webhook_delivery_replay(delivery=delivery, user=self.access.person, actor=self.access)
        return Response(_detail(execution), status=status.HTTP_202_ACCEPTED)
