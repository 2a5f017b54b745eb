from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

admin.site.site_header = "ConcertMaster"
admin.site.site_title = "ConcertMaster"
admin.site.index_title = "Back office"

api_v1 = [
    path("", include("apps.orgs.api.urls")),
    path("", include("apps.nodes.api.urls")),
    path("", include("apps.workflows.api.urls")),
    path("", include("apps.executions.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
]
