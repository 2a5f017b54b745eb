from rest_framework.routers import SimpleRouter

from .variables import OrgSecretViewSet, OrgVariableViewSet
from .views import ApiKeyViewSet, AuditLogViewSet, MembershipViewSet, OrganizationViewSet

router = SimpleRouter()
router.register("organizations", OrganizationViewSet, basename="organization")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("api-keys", ApiKeyViewSet, basename="api-key")
router.register("audit-log", AuditLogViewSet, basename="audit-log")
router.register("org-variables", OrgVariableViewSet, basename="org-variable")
router.register("org-secrets", OrgSecretViewSet, basename="org-secret")

urlpatterns = router.urls
