"""The one DRF exception handler: every error leaves the API as {"type", "detail", "errors": [{path, message}]}."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.core.errors import ApplicationError, Conflict, InvalidTransition

VALIDATION_FAILED = "The request is invalid; see errors for each field at fault."
BODY_TOO_LARGE = "The request body is larger than the limit of {limit} bytes."


class PayloadTooLarge(exceptions.APIException):
    """A request body over the configured limit."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def _pointer(parts: list[str]) -> str:
    """A JSON pointer (RFC 6901) built from field names and list indexes."""
    escaped = [str(part).replace("~", "~0") for part in parts]
    return "/" + "/".join(escaped) if escaped else ""


def flatten_errors(detail, parts: list[str] | None = None) -> list[dict]:
    """Turn DRF/Django nested error detail into a flat list of {"path": json pointer, "message"}."""
    parts = parts or []
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            # Keys may already be JSON pointers or slash paths ("definition/nodes/0"): keep their segments.
            segments = [segment for segment in str(key).split("/") if segment]
            key_parts = parts if key in ("non_field_errors", "__all__") else [*parts, *segments]
            errors.extend(flatten_errors(value, key_parts))
        return errors
    if isinstance(detail, list | tuple):
        if all(not isinstance(item, dict | list | tuple) for item in detail):
            return [{"path": _pointer(parts), "message": str(item)} for item in detail]
        errors = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list | tuple):
                errors.extend(flatten_errors(item, [*parts, str(index)]))
            elif item:
                errors.append({"path": _pointer(parts), "message": str(item)})
        return errors
    return [{"path": _pointer(parts), "message": str(detail)}]


def _django_error_items(error: DjangoValidationError) -> list[dict]:
    """Items of a Django ValidationError; an error whose params carry a "path" (a JSON pointer inside the
    field, as workflow definition problems do) is addressed at that pointer under its field."""
    fields = error.error_dict.items() if hasattr(error, "error_dict") else [(None, error.error_list)]
    items = []
    for field, errors in fields:
        base = _pointer([s for s in str(field).split("/") if s]) if field not in (None, "__all__") else ""
        for item in errors:
            params = item.params if isinstance(item.params, dict) else {}
            if "path" in params and "message" in params:
                items.append({"path": base + str(params["path"]), "message": str(params["message"])})
            else:
                items.extend({"path": base, "message": message} for message in item.messages)
    return items


def set_rollback() -> None:
    # rest_framework.views imports the parsers, which import this module: load it when handling an error.
    from rest_framework.views import set_rollback as drf_set_rollback

    drf_set_rollback()


def _body(error_type: str, detail: str, errors: list[dict] | None = None) -> dict:
    return {"type": error_type, "detail": detail, "errors": errors or []}


def _response_extra(exc: Exception) -> dict:
    extra = getattr(exc, "response_extra", None)
    return extra if isinstance(extra, dict) else {}


def _convert(exc: Exception) -> Exception:
    """Map Django and domain exceptions to DRF ones so one code path renders them."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    return exc


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render every known error in the single error shape; unknown exceptions stay 500s (and get logged)."""
    if isinstance(exc, InvalidTransition):
        set_rollback()
        return Response(
            _body("invalid_transition", exc.message, flatten_errors(exc.extra)), status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, Conflict):
        set_rollback()
        return Response({**_body("conflict", exc.message), **exc.extra}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(
            _body("application_error", exc.message, flatten_errors(exc.extra)), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        # A domain error may add keys of its own (a definition's `problems`) through `response_extra`.
        body = {**_body("validation_error", VALIDATION_FAILED, _django_error_items(exc)), **_response_extra(exc)}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    exc = _convert(exc)
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]  # checked just above
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]  # checked just above
    if isinstance(exc, exceptions.ValidationError):
        body = _body("validation_error", VALIDATION_FAILED, flatten_errors(exc.detail))
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = _body(str(code), str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)
