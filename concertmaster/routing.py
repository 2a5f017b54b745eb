"""WebSocket URL routes. Each app contributes its own list."""

websocket_urlpatterns: list = []
