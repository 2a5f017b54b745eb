from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from apps.core.views import API_NOT_FOUND_URL_NAME, api_not_found, favicon, health, local_assets_only, metrics
from apps.executions.views import WebhookPathView, WebhookView, form_page

admin.site.site_header = "ConcertMaster"
admin.site.site_title = "ConcertMaster"
admin.site.index_title = "Back office"

api_v1: list[URLPattern | URLResolver] = [
    path("", include("apps.orgs.api.urls")),
    path("", include("apps.nodes.api.urls")),
    path("", include("apps.workflows.api.urls")),
    path("", include("apps.executions.api.urls")),
    path("", include("apps.integrations.api.urls")),
    path("auth/token/", TokenObtainPairView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/token/verify/", TokenVerifyView.as_view(), name="token-verify"),
]

#: The product's own sign-in for members (Django's auth views); the admin keeps its login, for staff only.
accounts: list[URLPattern | URLResolver] = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    # Back to the sign-in page; the admin's own logout keeps its "logged out" page (no LOGOUT_REDIRECT_URL).
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
    path(
        "password/",
        auth_views.PasswordChangeView.as_view(template_name="accounts/password_change_form.html"),
        name="password_change",
    ),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html"),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("api/v1/", include(api_v1)),
    path("hooks/<str:token>", WebhookView.as_view(), name="webhook"),
    path("hooks/<slug:organization>/<path:url_path>", WebhookPathView.as_view(), name="webhook-path"),
    path("forms/<str:token>", form_page, name="form-page"),
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", local_assets_only(SpectacularSwaggerView.as_view(url_name="schema")), name="swagger-ui"),
    path("api/redoc/", local_assets_only(SpectacularRedocView.as_view(url_name="schema")), name="redoc"),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("apps.workflows.urls")),
    path("", include("apps.executions.pages")),
    path("", include("apps.integrations.pages")),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),
    # Last: any other URL under /api/ or /hooks/ is a JSON 404, also where DEBUG would answer an HTML page.
    re_path(r"^(?:api|hooks)/", api_not_found, name=API_NOT_FOUND_URL_NAME),
]

# Errors Django answers before DRF (unknown URL, bad request, crash) keep the JSON error shape under /api/.
handler404 = "apps.core.views.not_found"
handler400 = "apps.core.views.bad_request"
handler500 = "apps.core.views.server_error"
