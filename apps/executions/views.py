"""Public entry points that start executions: the webhook endpoint and the form page and submission endpoint."""

from typing import Any, cast

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.exceptions import BODY_TOO_LARGE, PayloadTooLarge
from apps.core.api.serializers import ErrorSerializer
from apps.core.api.throttles import FailOpenThrottle
from apps.core.availability import broker_required
from apps.core.errors import ApplicationError
from apps.nodes.builtin.triggers import FormTrigger
from apps.workflows import webhook_paths
from apps.workflows.choices import TriggerKind, WorkflowStatus
from apps.workflows.selectors import trigger_by_path, trigger_by_token
from apps.workflows.triggers import trigger_start_node

from . import signatures, triggers, uploads
from .choices import DeliveryOutcome, ExecutionStatus

NOT_JSON = triggers.NOT_JSON
FORM_SUBMITTED = "Thank you, your submission was received."
RUN_FAILED = "The workflow run failed at node '{node}': {error}"
RUN_CANCELLED = "The workflow run was cancelled before it answered."
RUN_TIMED_OUT = "The workflow run did not answer within {seconds} seconds; it goes on running."
FORM_CLOSED = "This form is closed: it does not accept submissions at the moment."
FORM_WORKFLOW_INACTIVE = "This form is not open yet: it does not accept submissions at the moment."
FORM_UNAVAILABLE = "This form is not available."
#: A form field of `"format": "file"` (type object) takes an upload: its value is the file's reference.
FILE_FORMAT = "file"


class SignatureRejected(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "invalid_signature"


class WebhookUnauthorized(SignatureRejected):
    """A call without the token or Basic credentials its webhook's `authentication` asks for."""

    default_code = "unauthorized"


class WorkflowInactive(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "workflow_inactive"


class _TokenThrottle(FailOpenThrottle):
    """Calls per public token and client address, counted in the cache (open while the cache fails)."""

    def get_cache_key(self, request, view):
        address = view.kwargs.get("token") or f"{view.kwargs.get('organization', '')}/{view.kwargs.get('url_path', '')}"
        ident = f"{address}:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class WebhookThrottle(_TokenThrottle):
    scope = "webhook"


class FormThrottle(_TokenThrottle):
    scope = "form"


def _trigger(token: str, kind: str):
    trigger = trigger_by_token(token=token, kind=kind)
    if trigger is None:
        raise Http404
    return trigger


def _read_body(request) -> bytes:
    limit = settings.CONCERTMASTER_WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=limit))
    body = request.body
    if len(body) > limit:
        raise PayloadTooLarge(BODY_TOO_LARGE.format(limit=limit))
    return body


class DeliveryInvalid(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_delivery"


def _outcome(error: exceptions.APIException) -> str:
    """The inbox outcome of a call refused with `error`."""
    if isinstance(error, SignatureRejected):
        return DeliveryOutcome.REFUSED_SIGNATURE
    if isinstance(error, WorkflowInactive):
        return DeliveryOutcome.INACTIVE
    return DeliveryOutcome.INVALID


WEBHOOK_ACCEPTED = inline_serializer(
    "WebhookAccepted",
    {
        "execution_id": serializers.UUIDField(),
        "status": serializers.CharField(),
        "replayed": serializers.BooleanField(help_text="True when an earlier delivery with this key started it."),
    },
)


class WebhookView(APIView):
    """`POST /hooks/<token>`: start the trigger's workflow with the request as `trigger` data."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [WebhookThrottle]
    public_endpoint = True

    @extend_schema(
        summary="Call a webhook trigger",
        tags=["triggers"],
        operation_id="webhook_call",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("token", str, OpenApiParameter.PATH, description="The trigger's webhook token."),
            OpenApiParameter(
                triggers.SIGNATURE_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'>; required when the webhook node has "
                "require_signature.",
            ),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, description="Deduplicates for 24 h."),
        ],
        responses={
            202: WEBHOOK_ACCEPTED,
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT, description="A replayed delivery, or the synchronous response."
            ),
            401: ErrorSerializer,
            409: ErrorSerializer,
            502: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="response_node mode: the run failed; `node` and `error` name the node at fault.",
            ),
            504: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="response_node mode: no response within the node's response_timeout_seconds.",
            ),
        },
    )
    def post(self, request, token: str):
        return self._call(_trigger(token, TriggerKind.WEBHOOK), request)

    def _call(self, trigger, request) -> Response:
        call = triggers.WebhookCall(
            method=request.method,
            headers=dict(request.headers.items()),
            query={key: request.query_params.get(key) for key in request.query_params},
            content_type=request.content_type or "",
            remote_addr=request.META.get("REMOTE_ADDR"),
        )
        try:
            return self._receive(trigger, call, request)
        except exceptions.APIException as error:
            call.body_dropped = isinstance(error, PayloadTooLarge)
            if error.status_code < 500:  # a 503 (broker or database down) is not the caller's doing; keep no row
                detail = error.detail if isinstance(error.detail, str) else str(error.detail)
                triggers.webhook_refusal_record(
                    trigger=trigger, call=call, outcome=_outcome(error), status_code=error.status_code, detail=detail
                )
            raise

    def _receive(self, trigger, call: "triggers.WebhookCall", request) -> Response:
        try:
            webhook = triggers.webhook_settings(trigger=trigger)
        except ApplicationError as error:
            raise WorkflowInactive(error.message) from error
        multipart = uploads.is_multipart(call.content_type)
        call.body = uploads.read_body(request) if multipart else _read_body(request)
        call.token_headers = webhook_paths.secret_headers(trigger.config)
        refusal = webhook_paths.check_token(config=trigger.config, secret=trigger.signing_secret, headers=call.headers)
        if refusal:
            raise WebhookUnauthorized(refusal)
        signed = webhook_paths.authentication_of(trigger.config)["type"] == webhook_paths.AUTH_HMAC
        if webhook.require_signature or signed:
            call.scheme = webhook.signature_scheme
            try:
                call.verified = signatures.verify(
                    scheme=call.scheme, secret=trigger.signing_secret, headers=call.headers, body=call.body
                )
            except signatures.SignatureError as error:
                raise SignatureRejected(error.message) from error
        upload = uploads.parse(meta=request.META, content_type=call.content_type, body=call.body) if multipart else None
        try:
            payload = call.payload() if upload is None else {}
        except triggers.InvalidBody as error:
            raise exceptions.ParseError(error.message) from error
        if (trigger.config or {}).get("event_type"):
            payload["event_type"] = trigger.config["event_type"]
        broker_required()  # 503 with Retry-After while no task can be sent: nothing is stored or started
        stored = [] if upload is None else uploads.store(organization_id=trigger.organization_id, upload=upload)
        if upload is not None:
            call.body, call.body_dropped = b"", True  # the inbox keeps no file bytes: not replayed from there
            payload = {**uploads.webhook_payload(call=call, upload=upload, stored=stored), **payload}
        try:
            with uploads.uploads_discarded(stored):
                delivery = triggers.webhook_deliver(trigger=trigger, call=call, payload=payload, files=stored)
            if delivery.replayed:
                uploads.discard(stored)  # the first call's run has its files
        except ApplicationError as error:
            if error.message in (triggers.WORKFLOW_INACTIVE, triggers.TRIGGER_INACTIVE):
                raise WorkflowInactive(error.message) from error
            raise DeliveryInvalid(error.message) from error
        execution = delivery.execution
        if not delivery.replayed and webhook.wait_for_response:
            response = self._synchronous(execution, webhook.timeout_seconds)
            triggers.webhook_delivery_answered(delivery_id=delivery.delivery_id, status_code=response.status_code)
            return response
        body = {"execution_id": str(execution.pk), "status": execution.status, "replayed": delivery.replayed}
        return Response(body, status=status.HTTP_200_OK if delivery.replayed else status.HTTP_202_ACCEPTED)

    def _synchronous(self, execution, timeout: float) -> Response:
        """Wait for the execution's webhook_response node and answer with its output.

        A run that fails (or is cancelled) first answers 502 naming the failed node and its error; one still
        going after the timeout answers 504 with its id (it keeps running).
        """
        execution = triggers.execution_wait(
            execution_id=execution.pk, timeout=timeout, until=triggers.webhook_response_of
        )
        output = triggers.webhook_response_of(execution)
        if output is not None:
            response = Response(output.get("body"), status=int(output.get("status", 200)))
            for name, value in (output.get("headers") or {}).items():
                response[name] = str(value)
            return response
        body = {"execution_id": str(execution.pk), "status": execution.status, "replayed": False}
        if execution.status == ExecutionStatus.SUCCEEDED:
            return Response({**body, "output": execution.output}, status=status.HTTP_200_OK)
        if execution.status in triggers.EXECUTION_TERMINAL:
            node_id, message = triggers.failed_node_of(execution)
            if execution.status == ExecutionStatus.FAILED:
                detail = RUN_FAILED.format(node=node_id or "?", error=message or "no error text")
            else:
                detail = RUN_CANCELLED
            failure = {"type": "execution_failed", "detail": detail, "node": node_id, "error": message}
            return Response({**failure, **body}, status=status.HTTP_502_BAD_GATEWAY)
        detail = RUN_TIMED_OUT.format(seconds=f"{timeout:g}")
        return Response({"type": "timeout", "detail": detail, **body}, status=status.HTTP_504_GATEWAY_TIMEOUT)


class WebhookPathView(WebhookView):
    """`POST /hooks/<organization slug>/<url_path>`: the same webhook at the address its `url_path` names."""

    @extend_schema(
        summary="Call a webhook trigger at its custom path",
        tags=["triggers"],
        operation_id="webhook_call_by_path",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("organization", str, OpenApiParameter.PATH, description="The organization's slug."),
            OpenApiParameter("url_path", str, OpenApiParameter.PATH, description="The webhook's url_path."),
            OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, description="Deduplicates for 24 h."),
        ],
        responses={
            202: WEBHOOK_ACCEPTED,
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT, description="A replayed delivery, or the synchronous response."
            ),
            401: ErrorSerializer,
            409: ErrorSerializer,
        },
    )
    def post(self, request, organization: str, url_path: str):  # type: ignore[override]
        return self._call(_trigger_at(organization, url_path), request)

    def http_method_not_allowed(self, request, *args, **kwargs):
        """Another method at an address no webhook answers at is a 404, as any unknown URL under /hooks/."""
        _trigger_at(kwargs.get("organization", ""), kwargs.get("url_path", ""))
        return super().http_method_not_allowed(request, *args, **kwargs)

    def options(self, request, *args, **kwargs):
        _trigger_at(kwargs.get("organization", ""), kwargs.get("url_path", ""))
        return super().options(request, *args, **kwargs)


def _trigger_at(organization: str, url_path: str):
    trigger = trigger_by_path(organization_slug=organization, url_path=url_path)
    if trigger is None:
        raise Http404
    return trigger


FORM_ACCEPTED = inline_serializer(
    "FormSubmissionAccepted",
    {"submission_id": serializers.UUIDField(), "execution_id": serializers.UUIDField()},
)


class FormSubmissionView(APIView):
    """`POST /api/v1/forms/<token>/submissions/`: submit a form trigger as JSON."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [FormThrottle]
    public_endpoint = True

    @extend_schema(
        summary="Submit a form trigger; invalid data gets per-field errors and starts nothing",
        tags=["triggers"],
        operation_id="form_submit",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={201: FORM_ACCEPTED, 409: ErrorSerializer},
    )
    def post(self, request, token: str):
        trigger = _trigger(token, TriggerKind.FORM)
        if not isinstance(request.data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["The body must be a JSON object."]})
        broker_required()
        try:
            submission = triggers.form_submit(
                trigger=trigger, data=dict(request.data), remote_addr=request.META.get("REMOTE_ADDR")
            )
        except ApplicationError as error:
            raise WorkflowInactive(error.message) from error
        if submission.errors:
            return Response(
                {
                    "type": "validation_error",
                    "detail": "The submission is invalid; see errors for each field at fault.",
                    "errors": submission.errors,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = {"submission_id": str(submission.pk), "execution_id": str(submission.execution_id)}
        return Response(body, status=status.HTTP_201_CREATED)


def _form_fields(config: dict, values: dict, errors: list[dict]) -> list[dict]:
    """What the template needs for each field, in the author's order: widget, label, value and its own errors."""
    by_path: dict[str, list[str]] = {}
    for error in errors:
        by_path.setdefault(error["path"].lstrip("/").split("/")[0], []).append(error["message"])
    fields = []
    for name, prop, required in FormTrigger.ordered_fields(config):
        kind = prop.get("type", "string")
        if "enum" in prop:
            widget = "select"
        elif kind == "boolean":
            widget = "checkbox"
        elif kind in ("integer", "number"):
            widget = "number"
        elif prop.get("format") == "textarea" or prop.get("maxLength", 0) > 200:
            widget = "textarea"
        elif prop.get("format") == FILE_FORMAT:
            widget = "file"
        else:
            widget = {"email": "email", "date": "date", "uri": "url", "date-time": "datetime-local"}.get(
                cast(str, prop.get("format")), "text"
            )
        fields.append(
            {
                "name": name,
                "label": prop.get("title") or name.replace("_", " ").capitalize(),
                "help": prop.get("description", ""),
                "widget": widget,
                "step": "1" if kind == "integer" else "any",
                "choices": prop.get("enum", []),
                "required": required,
                "value": values.get(name, prop.get("default", "")),
                "errors": by_path.get(name, []),
            }
        )
    return fields


def _coerce(config: dict, post: QueryDict) -> dict:
    """HTML form strings to the JSON types the fields ask for; empty optional fields are left out."""
    data: dict[str, Any] = {}
    for name, prop, _required in FormTrigger.ordered_fields(config):
        if prop.get("format") == FILE_FORMAT:
            continue  # a file field's value is the upload's reference (uploads.form_files)
        kind = prop.get("type", "string")
        if kind == "boolean":
            data[name] = post.get(name) in ("on", "true", "1")
            continue
        raw = post.get(name, "")
        if raw == "":
            continue
        try:
            data[name] = int(raw) if kind == "integer" else float(raw) if kind == "number" else raw
        except ValueError:
            data[name] = raw
    return data


def _form_closed(trigger, form_node: dict | None) -> tuple[str, int] | None:
    """Why the form takes no submissions now, and the status to answer with; None when it is open."""
    if form_node is None:
        return FORM_UNAVAILABLE, 404
    if not trigger.is_active:
        return FORM_CLOSED, 403
    if trigger.workflow.status != WorkflowStatus.ACTIVE:
        return FORM_WORKFLOW_INACTIVE, 403
    return None


@require_http_methods(["GET", "POST"])
def form_page(request: HttpRequest, token: str) -> HttpResponse:
    """`/forms/<token>`: the form node's fields, in the author's order, with per-field errors on an invalid post.

    A form that takes no submissions (trigger switched off, workflow not active) says so before anyone types.
    """
    trigger = trigger_by_token(token=token, kind=TriggerKind.FORM, active_only=False)
    if trigger is None:
        raise Http404
    form_node = trigger_start_node(trigger=trigger)
    config = (form_node or {}).get("config") or {}
    context = {
        "title": config.get("title") or trigger.name or trigger.workflow.name,
        "description": config.get("description", ""),
        "submit_label": config.get("submit_label") or "Submit",
        "success_message": config.get("success_message") or FORM_SUBMITTED,
    }
    closed = _form_closed(trigger, form_node)
    if closed is not None:
        context["closed"] = closed[0]
        return render(request, "executions/form_page.html", context, status=closed[1])
    values, errors, done, status_code = {}, [], False, 200
    if request.method == "POST":
        values = _coerce(config, request.POST)
        broker_required()  # a 503 page (UnavailableMiddleware) while no task can be sent
        try:
            stored = uploads.form_files(organization_id=trigger.organization_id, files=request.FILES)
        except uploads.UploadRefused as refused:
            stored, errors = [], [{"path": f"/{refused.field}", "message": refused.message}]
        else:
            values.update(uploads.trigger_files(stored))
            try:
                with uploads.uploads_discarded(stored):
                    submission = triggers.form_submit(
                        trigger=trigger, data=values, remote_addr=request.META.get("REMOTE_ADDR"), files=stored
                    )
            except ApplicationError as error:
                context["closed"] = error.message
                return render(request, "executions/form_page.html", context, status=409)
            errors = submission.errors
            if errors:
                uploads.discard(stored)  # an invalid submission starts nothing and keeps no file
        done = not errors
        status_code = 400 if errors else 200
    context.update(
        fields=_form_fields(config, values, errors),
        form_errors=[e["message"] for e in errors if not e["path"]],
        done=done,
    )
    return render(request, "executions/form_page.html", context, status=status_code)
