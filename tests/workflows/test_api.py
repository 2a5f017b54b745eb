"""Workflows, versions, triggers and credentials over the API: happy paths, bad input, roles, sharing."""

import copy

import pytest
from django_celery_beat.models import PeriodicTask
from guardian.shortcuts import assign_perm

from apps.core.api.serializers import UNKNOWN_FIELD
from apps.orgs.models import AuditLog
from apps.workflows.models import Credential, Trigger, Workflow
from apps.workflows.services import CRON_INVALID, EXPORT_FORMAT, TIMEZONE_INVALID
from apps.workflows.triggers import CONFIG_BELONGS_TO_NODE, WEBHOOK_CONFIG_BELONGS_TO_NODE
from tests.workflows.factories import (
    FORM_DEFINITION,
    SIMPLE_DEFINITION,
    WEBHOOK_DEFINITION,
    CredentialFactory,
    TriggerFactory,
    WorkflowFactory,
)

pytestmark = pytest.mark.django_db
MARS = TIMEZONE_INVALID.format(value="Mars/Base")


@pytest.fixture
def as_role(api_client, organization, member_factory):
    def login(role):
        user = member_factory(organization, role)
        api_client.force_authenticate(user)
        return user

    return login


@pytest.fixture
def workflow(organization):
    return WorkflowFactory(organization=organization)


@pytest.fixture
def hook_workflow(organization):
    return WorkflowFactory(organization=organization, definition=copy.deepcopy(WEBHOOK_DEFINITION))


def _definition():
    return copy.deepcopy(SIMPLE_DEFINITION)


# --- workflows ---------------------------------------------------------------------------------------------


def test_create_workflow_records_version_and_audit(as_role, api_client, organization):
    as_role("member")
    response = api_client.post("/api/v1/workflows/", {"name": "Flow", "definition": _definition()}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["organization"] == str(organization.pk)
    assert body["latest_version"] == 1
    assert "execute" in body["permissions"]
    assert AuditLog.objects.filter(action="workflow.create", target_id=body["id"]).exists()


def test_create_with_a_concurrency_limit(as_role, api_client):
    as_role("member")
    body = {"name": "Limited", "definition": _definition(), "max_concurrent_executions": 2}
    response = api_client.post("/api/v1/workflows/", body, format="json")
    assert response.status_code == 201
    assert Workflow.objects.get(pk=response.json()["id"]).max_concurrent_executions == 2


def test_invalid_definition_is_a_draft_whose_problems_are_addressed_by_json_pointer(as_role, api_client):
    as_role("member")
    definition = _definition()
    definition["nodes"][1]["type"] = "no_such_node"
    response = api_client.post("/api/v1/workflows/", {"name": "Bad", "definition": definition}, format="json")
    assert response.status_code == 201
    paths = [problem["path"] for problem in response.json()["problems"]]
    assert "/nodes/1/type" in paths
    assert not Workflow.objects.get(name="Bad").versions.exists()


def test_definition_must_be_an_object(as_role, api_client):
    as_role("member")
    response = api_client.post("/api/v1/workflows/", {"name": "Bad", "definition": [1, 2]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/definition"


def test_organization_is_required_with_several(api_client, organization, other_organization, member_factory):
    user = member_factory(organization)
    from tests.orgs.factories import MembershipFactory

    MembershipFactory(user=user, organization=other_organization)
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/workflows/", {"name": "F", "definition": _definition()}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/organization"


def test_cannot_create_in_a_foreign_organization(as_role, api_client, other_organization):
    as_role("member")
    body = {"name": "F", "definition": _definition(), "organization": str(other_organization.pk)}
    response = api_client.post("/api/v1/workflows/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/organization"


@pytest.mark.parametrize(
    ("role", "create", "update", "delete"),
    [("viewer", 403, 403, 403), ("member", 201, 200, 403), ("admin", 201, 200, 204), ("owner", 201, 200, 204)],
)
def test_workflow_permission_matrix(as_role, api_client, workflow, role, create, update, delete):
    as_role(role)
    assert api_client.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 200
    body = {"name": "New", "definition": _definition()}
    assert api_client.post("/api/v1/workflows/", body, format="json").status_code == create
    assert api_client.patch(f"/api/v1/workflows/{workflow.pk}/", {"name": "R"}, format="json").status_code == update
    assert api_client.delete(f"/api/v1/workflows/{workflow.pk}/").status_code == delete


def test_update_definition_makes_a_new_version_and_restore_brings_it_back(as_role, api_client, workflow):
    as_role("member")
    changed = _definition()
    changed["nodes"][1]["config"] = {"message": "changed"}
    response = api_client.patch(f"/api/v1/workflows/{workflow.pk}/", {"definition": changed}, format="json")
    assert response.json()["latest_version"] == 2
    versions = api_client.get(f"/api/v1/workflows/{workflow.pk}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    assert api_client.get(f"/api/v1/workflows/{workflow.pk}/versions/1/").json()["definition"] == _definition()
    restored = api_client.post(f"/api/v1/workflows/{workflow.pk}/versions/1/restore/")
    assert restored.status_code == 200
    assert restored.json()["latest_version"] == 3
    assert restored.json()["definition"] == _definition()
    assert api_client.get(f"/api/v1/workflows/{workflow.pk}/versions/99/").status_code == 404


def test_viewer_cannot_restore(as_role, api_client, workflow):
    as_role("viewer")
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/versions/1/restore/").status_code == 403


def test_validate_lists_every_problem(as_role, api_client, workflow):
    as_role("viewer")
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/validate/", {}, format="json").json() == {
        "valid": True,
        "problems": [],
    }
    broken = {"nodes": [{"id": "a", "type": "log", "config": {}}], "edges": [{"source": "a", "target": "zz"}]}
    response = api_client.post(f"/api/v1/workflows/{workflow.pk}/validate/", {"definition": broken}, format="json")
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert len(response.json()["problems"]) >= 2


def test_activate_deactivate(as_role, api_client, workflow):
    as_role("member")
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/activate/").json()["status"] == "active"
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/deactivate/").json()["status"] == "inactive"
    assert AuditLog.objects.filter(action__in=["workflow.activate", "workflow.deactivate"]).count() == 2


def test_export_import_round_trip(as_role, api_client, hook_workflow):
    workflow = hook_workflow
    as_role("member")
    TriggerFactory(workflow=workflow, kind="webhook", signing_secret="whsec_x")
    document = api_client.get(f"/api/v1/workflows/{workflow.pk}/export/").json()
    assert document["format"] == EXPORT_FORMAT
    assert {"type": "log", "version": document["node_types"][0]["version"]} in document["node_types"]
    assert "whsec_x" not in str(document)
    response = api_client.post("/api/v1/workflows/import/", {"document": document, "name": "Copy"}, format="json")
    assert response.status_code == 201
    imported = Workflow.objects.get(pk=response.json()["id"])
    assert imported.definition == workflow.definition
    assert imported.triggers.get().webhook_token != workflow.triggers.get().webhook_token


def test_import_refuses_other_documents(as_role, api_client):
    as_role("member")
    response = api_client.post("/api/v1/workflows/import/", {"document": {"nodes": []}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/format"


def test_duplicate(as_role, api_client, workflow):
    as_role("member")
    response = api_client.post(f"/api/v1/workflows/{workflow.pk}/duplicate/", {}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == f"{workflow.name} (copy)"
    assert response.json()["status"] == "draft"


def test_shared_workflow_with_object_permission_only(api_client, workflow, other_organization, member_factory):
    """A user of no role in the organization sees and runs exactly what was shared (no model permission needed)."""
    outsider = member_factory(other_organization, "viewer")
    WorkflowFactory(organization=workflow.organization)
    api_client.force_authenticate(outsider)
    assert api_client.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 404
    assign_perm("view_workflow", outsider, workflow)
    assert [w["id"] for w in api_client.get("/api/v1/workflows/").json()["results"]] == [str(workflow.pk)]
    response = api_client.get(f"/api/v1/workflows/{workflow.pk}/")
    assert response.status_code == 200
    assert response.json()["permissions"] == ["view"]
    assert api_client.patch(f"/api/v1/workflows/{workflow.pk}/", {"name": "x"}, format="json").status_code == 403
    assign_perm("change_workflow", outsider, workflow)
    assert api_client.patch(f"/api/v1/workflows/{workflow.pk}/", {"name": "x"}, format="json").status_code == 200


# --- triggers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 403), ("admin", 201), ("owner", 201)])
def test_trigger_create_needs_admin(as_role, api_client, hook_workflow, role, expected):
    as_role(role)
    body = {"workflow": str(hook_workflow.pk), "kind": "webhook"}
    assert api_client.post("/api/v1/triggers/", body, format="json").status_code == expected


def test_webhook_trigger_shows_url_and_secret_on_create_only(as_role, api_client, hook_workflow):
    as_role("admin")
    body = {"workflow": str(hook_workflow.pk), "kind": "webhook"}
    response = api_client.post("/api/v1/triggers/", body, format="json")
    body = response.json()
    assert body["signing_secret"].startswith("whsec_")
    assert body["webhook_url"].endswith(f"/hooks/{Trigger.objects.get().webhook_token}")
    detail = api_client.get(f"/api/v1/triggers/{body['id']}/").json()
    assert "signing_secret" not in detail
    assert detail["has_signing_secret"] is True
    rotated = api_client.post(f"/api/v1/triggers/{body['id']}/rotate-secret/").json()
    assert rotated["signing_secret"] not in ("", body["signing_secret"])


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({"cron": "61 * * * *"}, "/config/cron", CRON_INVALID),
        ({"cron": "* * * *"}, "/config/cron", CRON_INVALID),
        ({"cron": "0 9 * * 1", "timezone": "Mars/Base"}, "/config/timezone", MARS),
    ],
)
def test_schedule_cron_is_validated(as_role, api_client, workflow, config, path, message):
    as_role("admin")
    body = {"workflow": str(workflow.pk), "kind": "schedule", "config": config}
    response = api_client.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    assert {"path": path, "message": message} in response.json()["errors"]
    assert not PeriodicTask.objects.exists()


def test_schedule_trigger_syncs_to_beat(as_role, api_client, workflow):
    as_role("admin")
    config = {"cron": "30 9 * * 1-5", "timezone": "Europe/Paris"}
    body = {"workflow": str(workflow.pk), "kind": "schedule", "config": config}
    trigger_id = api_client.post("/api/v1/triggers/", body, format="json").json()["id"]
    task = PeriodicTask.objects.get(name=f"trigger:{trigger_id}")
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "9", "1-5")
    assert str(task.crontab.timezone) == "Europe/Paris"
    assert task.enabled is False  # the workflow is still a draft
    api_client.post(f"/api/v1/workflows/{workflow.pk}/activate/")
    assert PeriodicTask.objects.get(pk=task.pk).enabled is True
    api_client.patch(f"/api/v1/triggers/{trigger_id}/", {"config": {"cron": "0 8 * * *"}}, format="json")
    task = PeriodicTask.objects.get(pk=task.pk)
    assert (task.crontab.minute, task.crontab.hour, str(task.crontab.timezone)) == ("0", "8", "UTC")
    api_client.patch(f"/api/v1/triggers/{trigger_id}/", {"is_active": False}, format="json")
    assert PeriodicTask.objects.get(pk=task.pk).enabled is False
    api_client.delete(f"/api/v1/triggers/{trigger_id}/")
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize("kind", ["form", "webhook"])
def test_form_and_webhook_triggers_keep_no_config(as_role, api_client, organization, kind):
    """The start node's config is the form or webhook: a trigger record declaring its own is refused."""
    as_role("admin")
    definition = FORM_DEFINITION if kind == "form" else WEBHOOK_DEFINITION
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(definition))
    config = {"schema": {"type": "object"}} if kind == "form" else {"response_mode": "wait"}
    body = {"workflow": str(workflow.pk), "kind": kind, "config": config}
    response = api_client.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    node = "form" if kind == "form" else "webhook"
    if kind == "webhook":  # a webhook row keeps only the specification's event_type, url_path, authentication
        message = WEBHOOK_CONFIG_BELONGS_TO_NODE.format(keys=", ".join(config))
    else:
        message = CONFIG_BELONGS_TO_NODE.format(kind=kind, node=node, keys=", ".join(config))
    assert response.json()["errors"] == [{"path": "/config", "message": message}]
    assert not Trigger.objects.exists()


def test_trigger_kind_cannot_change(as_role, api_client, workflow):
    as_role("admin")
    trigger = TriggerFactory(workflow=workflow, kind="webhook")
    response = api_client.patch(f"/api/v1/triggers/{trigger.pk}/", {"kind": "form"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/kind"


# --- credentials -------------------------------------------------------------------------------------------


def test_credential_secret_is_write_only(as_role, api_client):
    as_role("admin")
    body = {"name": "gh", "kind": "github", "data": {"token": "ghp_secret"}}
    response = api_client.post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 201
    assert "data" not in response.json()
    assert "ghp_secret" not in str(api_client.get("/api/v1/credentials/").json())
    assert response.json()["fields_set"] == ["token"]
    assert Credential.objects.get().data == {"token": "ghp_secret"}
    assert AuditLog.objects.get(action="credential.create").data == {"name": "gh", "kind": "github"}


@pytest.mark.parametrize(("role", "read", "write"), [("viewer", 200, 403), ("member", 200, 403), ("admin", 200, 200)])
def test_credential_permission_matrix(as_role, api_client, organization, role, read, write):
    credential = CredentialFactory(organization=organization)
    as_role(role)
    assert api_client.get(f"/api/v1/credentials/{credential.pk}/").status_code == read
    response = api_client.patch(f"/api/v1/credentials/{credential.pk}/", {"data": {"token": "n"}}, format="json")
    assert response.status_code == write


def test_credential_duplicate_name_is_400(as_role, api_client, organization):
    CredentialFactory(organization=organization, name="same")
    as_role("admin")
    body = {"name": "same", "kind": "x", "data": {"token": "t"}}
    response = api_client.post("/api/v1/credentials/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] in ("", "/name")


def test_credential_unknown_field(as_role, api_client):
    as_role("admin")
    response = api_client.post("/api/v1/credentials/", {"name": "a", "kind": "x", "data": {}, "x": 1}, format="json")
    assert {"path": "/x", "message": UNKNOWN_FIELD} in response.json()["errors"]


def test_workflow_list_query_count_is_flat(as_role, api_client, organization, django_assert_num_queries):
    """Listing costs the same number of queries for 2 workflows as for 6."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    as_role("viewer")
    counts = []
    for _ in range(2):
        for _ in range(2 if not counts else 4):
            WorkflowFactory(organization=organization)
        with CaptureQueriesContext(connection) as queries:
            response = api_client.get("/api/v1/workflows/")
        assert response.status_code == 200
        counts.append(len(queries))
    assert len(response.json()["results"]) == 6
    assert counts[0] == counts[1]


def test_form_submissions_are_listed_for_members(as_role, api_client, workflow):
    from apps.workflows.services import form_submission_create, trigger_create

    fields = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}
    form_node = {"id": "start", "type": "form", "config": {"title": "A", "fields": fields}}
    workflow = WorkflowFactory(organization=workflow.organization, definition={"nodes": [form_node], "edges": []})
    form = trigger_create(workflow=workflow, kind="form")
    invalid = form_submission_create(trigger=form, data={}, form_node=form_node)
    as_role("member")
    body = api_client.get("/api/v1/form-submissions/", {"trigger": str(form.pk)}).json()
    assert [s["id"] for s in body["results"]] == [str(invalid.pk)]
    assert body["results"][0]["errors"] == [{"path": "/a", "message": "This field is required."}]
    assert api_client.get("/api/v1/form-submissions/", {"valid": "true"}).json()["results"] == []


def test_admin_shares_a_workflow_and_the_user_can_then_run_it(as_role, api_client, workflow, other_organization):
    from tests.orgs.factories import MembershipFactory, UserFactory

    outsider = UserFactory()
    MembershipFactory(user=outsider, organization=other_organization, role="viewer")
    as_role("admin")
    url = f"/api/v1/workflows/{workflow.pk}/shares/"
    response = api_client.put(url, {"user": outsider.email, "permissions": ["view", "execute"]}, format="json")
    assert response.status_code == 200
    assert response.json() == [
        {
            "user": {"id": outsider.pk, "username": outsider.username, "email": outsider.email},
            "permissions": ["execute", "view"],
        }
    ]
    assert AuditLog.objects.filter(action="workflow.share").exists()
    api_client.force_authenticate(outsider)
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {}, format="json").status_code == 202
    assert api_client.get(url).status_code == 403
    as_role("admin")
    assert api_client.put(url, {"user": outsider.username, "permissions": []}, format="json").json() == []
    api_client.force_authenticate(outsider)
    assert api_client.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 404


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 403), ("admin", 200)])
def test_sharing_needs_admin(as_role, api_client, workflow, role, expected):
    as_role(role)
    assert api_client.get(f"/api/v1/workflows/{workflow.pk}/shares/").status_code == expected


def test_share_bad_input(as_role, api_client, workflow):
    as_role("admin")
    url = f"/api/v1/workflows/{workflow.pk}/shares/"
    response = api_client.put(url, {"user": "nobody-here", "permissions": ["fly"]}, format="json")
    assert response.status_code == 400
    assert {e["path"] for e in response.json()["errors"]} == {"/user", "/permissions/0"}
