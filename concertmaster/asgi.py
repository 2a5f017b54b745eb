"""ASGI entry point: HTTP through Django, WebSockets through Channels (session cookie or bearer token)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")
# A web process pools its PostgreSQL connections (every ASGI request runs in a new thread): docs/operations.md.
os.environ.setdefault("CONCERTMASTER_DB_POOL", "true")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.orgs.ws_auth import websocket_auth  # noqa: E402
from concertmaster.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
    }
)
