"""WebSocket URL routes: live execution streams (see apps/executions/consumers.py)."""

from django.urls import re_path

from apps.executions.consumers import ExecutionStreamConsumer, OrganizationStreamConsumer, WorkflowStreamConsumer

# Any id segment routes to its consumer, which answers a malformed or unknown id with close code 4404.
websocket_urlpatterns: list = [
    re_path(r"^ws/executions/(?P<pk>[^/]+)/$", ExecutionStreamConsumer.as_asgi()),
    re_path(r"^ws/workflows/(?P<pk>[^/]+)/$", WorkflowStreamConsumer.as_asgi()),
    re_path(r"^ws/orgs/(?P<pk>[^/]+)/$", OrganizationStreamConsumer.as_asgi()),
]
