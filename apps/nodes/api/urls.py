from rest_framework.routers import SimpleRouter

from .views import CredentialKindViewSet, NodeTypeViewSet

router = SimpleRouter()
router.register("node-types", NodeTypeViewSet, basename="node-type")
router.register("credential-kinds", CredentialKindViewSet, basename="credential-kind")

urlpatterns = router.urls
