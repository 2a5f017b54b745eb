"""Pages of the editor (the API lives under apps/workflows/api/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("workflows/new/", views.workflow_new, name="workflow-new"),
    path("workflows/<uuid:pk>/edit/", views.workflow_edit, name="workflow-edit"),
]
