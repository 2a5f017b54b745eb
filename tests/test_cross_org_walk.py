"""Every list and detail endpoint, walked by the owner of another organization: nothing is seen, all is 404.

The routes are read from the URL resolver, so a new endpoint is walked (or must be named as exempt) the
moment it exists.
"""

import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from apps.executions.alerts import alert_rule_create
from apps.executions.models import SavedExecutionFilter
from apps.executions.services import execution_start
from apps.executions.triggers import WebhookCall, webhook_refusal_record
from apps.integrations.models import Integration, SyncJob
from apps.nodes.files import file_store
from apps.orgs.services import api_key_create, audit_log_record
from apps.orgs.variables import org_secret_create, org_variable_create
from apps.workflows.services import form_submission_create, trigger_create
from tests.executions.factories import ExecutionEventFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import CredentialFactory, WorkflowFactory

#: Routes that hold no organization's data, or are public by design, and why.
EXEMPT = {
    "node-type-list": "node types are the installation's catalogue, shared by every organization",
    "node-type-detail": "node types are global",
    "node-type-schema": "node types are global",
    "node-type-validate": "node types are global",
    "credential-kind-detail": "credential kinds are the installation's schemas, keyed by name, not tenant rows",
    "form-submissions": "public by token; the token is the secret",
    "token-obtain": "authentication",
    "token-refresh": "authentication",
    "token-verify": "authentication",
}


def _api_routes() -> list[tuple[str, str, dict]]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and prefix.startswith("api/v1/"):
                yield pattern.name, getattr(pattern.callback, "actions", None) or {}

    return [(name, actions) for name, actions in walk(get_resolver().url_patterns)]


ROUTES = _api_routes()


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, organization, other_organization, client, local_files):
    """A victim organization holding one of everything, and an owner of another organization logged in."""
    owner = UserFactory()
    MembershipFactory(user=owner, organization=organization, role="owner")
    form_node = {"id": "form", "type": "form", "config": {"title": "A", "fields": {"type": "object"}}}
    definition = {
        "nodes": [
            {"id": "hook", "type": "webhook", "config": {}},
            form_node,
            {"id": "log", "type": "log", "config": {"message": "x"}},
        ],
        "edges": [{"source": "hook", "target": "log"}, {"source": "form", "target": "log"}],
    }
    workflow = WorkflowFactory(organization=organization, definition=definition)
    hook = trigger_create(workflow=workflow, kind="webhook")
    form = trigger_create(workflow=workflow, kind="form")
    submission = form_submission_create(trigger=form, data={"a": "b"}, form_node=form_node)
    call = WebhookCall(method="POST", headers={}, query={}, content_type="application/json", body=b"{}")
    webhook_refusal_record(trigger=hook, call=call, outcome="refused_signature", status_code=401, detail="x")
    execution = execution_start(workflow=workflow)
    ExecutionEventFactory(execution=execution, seq=execution.last_seq + 1)
    victim_file = file_store(organization_id=organization.pk, execution_id=execution.pk, name="v.csv", content=b"a")
    api_key, _ = api_key_create(organization=organization, name="victim")
    audit = audit_log_record(organization=organization, actor=owner, action="victim.action")
    ids = {
        "organization": organization.pk,
        "membership": owner.memberships.get().pk,
        "api-key": api_key.pk,
        "audit-log": audit.pk,
        "workflow": workflow.pk,
        "workflow-run": workflow.pk,
        "trigger": hook.pk,
        "spec-webhook": hook.pk,  # /api/v1/webhooks: the same row in the specification's shape
        "credential": CredentialFactory(organization=organization).pk,
        "execution": execution.pk,
        "form-submission": submission.pk,
        "webhook-delivery": hook.webhook_deliveries.get().pk,
    }
    saved = SavedExecutionFilter.objects.create(organization=organization, user=owner, name="mine", query={})
    ids["execution-filter"] = saved.pk
    rule = alert_rule_create(
        organization=organization, name="r", kind="production_failure", channel="email", target="a@example.com"
    )
    ids["alert-rule"] = rule.pk
    integration = Integration.objects.create(organization=organization, service_url="https://n8n.example.com")
    ids["integration"] = integration.pk
    ids["integration-job"] = SyncJob.objects.create(organization=organization, integration=integration).pk
    ids["org-variable"] = org_variable_create(organization=organization, name="REGION", value="eu").pk
    ids["org-secret"] = org_secret_create(organization=organization, name="API_KEY", value="victim-secret").pk
    attacker = UserFactory()
    MembershipFactory(user=attacker, organization=other_organization, role="owner")
    WorkflowFactory(organization=other_organization)
    client.force_login(attacker)
    secrets = {str(value) for value in ids.values()} | {hook.webhook_token, form.webhook_token, organization.slug}
    return {"ids": ids, "workflow": workflow, "secrets": secrets, "owner": owner, "file": victim_file["id"]}


def _kwargs(name: str, world: dict) -> dict:
    if name == "execution-file-file-download":
        return {"pk": world["ids"]["execution"], "file_id": world["file"]}
    if name == "workflow-version-diff":
        return {"workflow_pk": world["workflow"].pk, "a": 1, "b": 1}
    if name == "workflow-expression-preview":
        return {"workflow_pk": world["workflow"].pk}
    if name.startswith(("workflow-version", "workflow-execution")):
        return {
            "workflow_pk": world["workflow"].pk,
            **({"number": 1} if "version-" in name and "list" not in name else {}),
        }
    basename = name.rsplit("-", 1)[0] if not name.endswith("-list") else name[: -len("-list")]
    for key in sorted(world["ids"], key=len, reverse=True):
        if basename == key or basename.startswith(key + "-") or name.startswith(key + "-"):
            return {"pk": world["ids"][key]}
    raise AssertionError(f"no victim object for route {name}")


def _target(name: str, world: dict) -> tuple[str, bool]:
    """The route's URL aimed at the victim's object, and whether it names one (else it is a list or a create)."""
    try:
        return reverse(name), False
    except NoReverseMatch:
        return reverse(name, kwargs=_kwargs(name, world)), True


def test_every_api_route_is_walked_or_exempt():
    names = {name for name, _ in ROUTES}
    assert {"workflow-list", "execution-detail", "audit-log-list"} <= names - set(EXEMPT)
    assert all(name in names for name in EXEMPT), "an exempt route no longer exists: update EXEMPT"


@pytest.mark.parametrize(
    ("name", "method"),
    [(name, method) for name, actions in ROUTES if name not in EXEMPT for method in sorted(actions)],
)
def test_another_organization_sees_nothing(world, client, name, method):
    url, names_object = _target(name, world)
    if method == "get":
        response = client.get(url)
    else:
        response = getattr(client, method)(url, data=json.dumps({}), content_type="application/json")
    if names_object:
        assert response.status_code == 404, f"{method.upper()} {url} answered {response.status_code}"
        return
    assert response.status_code < 500
    text = response.content.decode()
    leaked = [secret for secret in world["secrets"] if secret in text]
    assert not leaked, f"{method.upper()} {url} shows another organization's data: {leaked}"


@pytest.mark.parametrize(
    "name", [name for name, actions in ROUTES if name not in EXEMPT and "get" in actions and name.endswith("-detail")]
)
def test_the_victims_own_owner_sees_each_object(world, client, name):
    """The control: the same URLs answer 200 to the organization's owner, so the 404s above are scoping."""
    client.force_login(world["owner"])
    url, _ = _target(name, world)
    assert client.get(url).status_code == 200
