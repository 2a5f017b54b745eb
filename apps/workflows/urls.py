"""Pages of the editor (the API lives under apps/workflows/api/)."""

from django.urls import path

from . import oauth2_views, views

urlpatterns = [
    path("workflows/new/", views.workflow_new, name="workflow-new"),
    path("workflows/<uuid:pk>/edit/", views.workflow_edit, name="workflow-edit"),
    path("credentials/<uuid:pk>/oauth2/connect/", oauth2_views.oauth2_connect_view, name="oauth2-connect"),
    path("oauth2/callback/", oauth2_views.oauth2_callback_view, name="oauth2-callback"),
]
