"""OpenAPI generation: every operation documents the error shape for the errors it can answer."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from rest_framework import serializers

from .serializers import ErrorSerializer, StrictSerializerMixin

_ALWAYS = {"400": "Bad input (validation, malformed JSON).", "401": "Not authenticated.", "429": "Rate limited."}
_AUTHENTICATED = {"403": "Not allowed for this role.", "404": "Not found in your organizations."}
_WITH_BODY = {"413": "Request body too large.", "415": "Unsupported content type."}


class ApiAutoSchema(AutoSchema):
    """Adds the error responses (one shared component) to every operation that lacks them, and says
    `additionalProperties: false` on the request objects of strict serializers (they refuse unknown fields)."""

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        strict = isinstance(force_instance(serializer), StrictSerializerMixin)
        if direction == "request" and strict and schema.get("type") == "object":
            schema["additionalProperties"] = False
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """A JSON field validated as an object (a validator named `_object`, the apps' convention) is documented as
        an object, so the schema does not promise that null, lists or text are taken."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        objects_only = any(getattr(validator, "__name__", "") == "_object" for validator in field.validators)
        if isinstance(field, serializers.JSONField) and "type" not in schema and objects_only:
            schema["type"] = "object"
            schema.setdefault("additionalProperties", {})
        return schema

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


#: Integer bounds Django reports per database (SQLite vs PostgreSQL): left out so the document is the same on both.
_DATABASE_INTEGER_BOUNDS = {2147483647, 9223372036854775807, -2147483648, -9223372036854775808}


def strip_database_integer_bounds(result, generator, request, public):
    """Postprocessing hook: drop database-dependent integer bounds, so docs/openapi.yaml does not depend on it."""

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "integer" and (
                node.get("maximum") in _DATABASE_INTEGER_BOUNDS or node.get("minimum") in _DATABASE_INTEGER_BOUNDS
            ):
                for key in ("maximum", "minimum"):
                    if node.get(key) in _DATABASE_INTEGER_BOUNDS:
                        del node[key]
                if node.get("format") == "int64":
                    del node["format"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
