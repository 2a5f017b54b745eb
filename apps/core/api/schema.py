"""OpenAPI generation: every operation documents the error shape for the errors it can answer."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

from .serializers import ErrorSerializer

_ALWAYS = {"400": "Bad input (validation, malformed JSON).", "401": "Not authenticated.", "429": "Rate limited."}
_AUTHENTICATED = {"403": "Not allowed for this role.", "404": "Not found in your organizations."}
_WITH_BODY = {"413": "Request body too large.", "415": "Unsupported content type."}


class ApiAutoSchema(AutoSchema):
    """Adds the error responses (one shared component) to every operation that lacks them."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        extra = dict(_ALWAYS)
        if not getattr(self.view, "public_endpoint", False):
            extra.update(_AUTHENTICATED)
        else:
            extra["404"] = _AUTHENTICATED["404"]
            extra.pop("401")
        if self.method in ("POST", "PUT", "PATCH"):
            extra.update(_WITH_BODY)
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            extra["409"] = "Conflicts with the object's current state."
        for code, description in extra.items():
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = description
                responses[code] = response
        return responses


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer cm_...` organization API keys."""

    target_class = "apps.core.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organization API key: `Authorization: Bearer cm_<prefix>_<secret>`.",
        }
