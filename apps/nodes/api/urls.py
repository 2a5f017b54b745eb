from rest_framework.routers import SimpleRouter

from .views import NodeTypeViewSet

router = SimpleRouter()
router.register("node-types", NodeTypeViewSet, basename="node-type")

urlpatterns = router.urls
