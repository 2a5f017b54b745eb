from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import IntegrationViewSet, N8nSyncViewSet, SyncJobViewSet

router = SimpleRouter()
router.register("integrations/jobs", SyncJobViewSet, basename="integration-job")
router.register("integrations", IntegrationViewSet, basename="integration")

urlpatterns = [
    path("integrations/n8n/sync", N8nSyncViewSet.as_view({"post": "sync"}), name="integration-n8n-sync"),
    *router.urls,
]
