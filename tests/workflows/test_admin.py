"""The back office for workflows, versions, triggers and credentials."""

import copy
import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils.html import escape
from django_celery_beat.models import PeriodicTask
from guardian.shortcuts import assign_perm

from apps.orgs.models import AuditLog, Organization
from apps.workflows.admin import NEW_DATA_NOT_OBJECT, NEW_DATA_REQUIRED, SAVED_AS_DRAFT, STALE_ADMIN_SAVE
from apps.workflows.models import (
    Credential,
    FormSubmission,
    Trigger,
    Workflow,
    WorkflowGroupObjectPermission,
    WorkflowUserObjectPermission,
    WorkflowVersion,
)
from apps.workflows.services import CRON_INVALID, form_submission_create, trigger_create, workflow_update
from apps.workflows.triggers import KIND_DOES_NOT_FIT, PUBLISH_NOTHING
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import (
    FORM_DEFINITION,
    SIMPLE_DEFINITION,
    WEBHOOK_DEFINITION,
    CredentialFactory,
    TriggerFactory,
    WorkflowFactory,
)

pytestmark = pytest.mark.django_db

SECRET = "s3cret-token-value"
MODELS = [Workflow, WorkflowVersion, Trigger, Credential, FormSubmission]
READ_ONLY = {WorkflowVersion, FormSubmission}


def staff_with_role(organization: Organization, role: str):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def org_admin(organization):
    return staff_with_role(organization, "admin")


@pytest.fixture
def org_admin_client(client, org_admin):
    client.force_login(org_admin)
    return client


def make_rows(organization: Organization) -> dict[type, object]:
    definition = copy.deepcopy(FORM_DEFINITION)
    workflow = WorkflowFactory(organization=organization, name=f"flow-of-{organization.slug}", definition=definition)
    form = trigger_create(workflow=workflow, kind="form")
    return {
        Workflow: workflow,
        WorkflowVersion: workflow.latest_version,
        Trigger: TriggerFactory(workflow=workflow, name=f"trigger-of-{organization.slug}"),
        Credential: CredentialFactory(organization=organization, name=f"cred-of-{organization.slug}"),
        FormSubmission: form_submission_create(
            trigger=form, data={"email": "a@example.com"}, form_node=definition["nodes"][0]
        ),
    }


def listed_as(row) -> str:
    if isinstance(row, FormSubmission):
        return row.trigger.workflow.name
    return row.workflow.name if isinstance(row, WorkflowVersion) else row.name


def url(model: type, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def changed_definition() -> dict:
    definition = copy.deepcopy(SIMPLE_DEFINITION)
    definition["nodes"][1]["config"] = {"message": "changed in the admin"}
    return definition


def workflow_form(workflow: Workflow, **changes) -> dict:
    """The POST of the workflow change form, with no trigger rows."""
    data = {
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "definition": json.dumps(workflow.definition),
        "base_revision": str(workflow.revision),
        "max_concurrent_executions": "",
        "triggers-TOTAL_FORMS": "0",
        "triggers-INITIAL_FORMS": "0",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_every_model_of_the_app_is_registered():
    # Guardian's permission rows are managed from the workflow's "Object permissions" page.
    managed_by_guardian = {WorkflowUserObjectPermission, WorkflowGroupObjectPermission}
    for model in set(apps.get_app_config("workflows").get_models()) - managed_by_guardian:
        assert admin.site.is_registered(model), model


@pytest.mark.parametrize("model", MODELS)
def test_superuser_sees_every_page(admin_client, organization, other_organization, model):
    rows = make_rows(organization)
    make_rows(other_organization)

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "change", rows[model].pk)).status_code == 200
    expected_add = 403 if model in READ_ONLY else 200
    assert admin_client.get(url(model, "add")).status_code == expected_add


@pytest.mark.parametrize("model", MODELS)
def test_org_admin_sees_only_their_organization(org_admin_client, organization, other_organization, model):
    own, foreign = make_rows(organization), make_rows(other_organization)

    changelist = org_admin_client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert listed_as(own[model]) in changelist.content.decode()
    assert listed_as(foreign[model]) not in changelist.content.decode()
    assert org_admin_client.get(url(model, "change", own[model].pk)).status_code == 200

    foreign_page = org_admin_client.get(url(model, "change", foreign[model].pk))
    assert foreign_page.status_code == 302
    assert foreign_page.url == reverse("admin:index")
    assert org_admin_client.post(url(model, "delete", foreign[model].pk), {"post": "yes"}).status_code in (302, 403)
    assert model.objects.filter(pk=foreign[model].pk).exists()


@pytest.mark.parametrize("model", [Workflow, Trigger, Credential])
def test_org_admin_add_forms_render(org_admin_client, model):
    assert org_admin_client.get(url(model, "add")).status_code == 200


def test_saving_a_changed_definition_creates_a_version(org_admin_client, organization, org_admin):
    workflow = WorkflowFactory(organization=organization)
    definition = changed_definition()

    response = org_admin_client.post(
        url(Workflow, "change", workflow.pk), workflow_form(workflow, definition=json.dumps(definition))
    )

    assert response.status_code == 302
    versions = list(workflow.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[1].definition == definition
    assert versions[1].created_by == org_admin
    workflow.refresh_from_db()
    assert workflow.definition == definition
    entry = AuditLog.objects.get(action="workflow.update", target_id=str(workflow.pk))
    assert (entry.actor, entry.organization_id, entry.data["via"]) == (org_admin, organization.pk, "admin")


def test_saving_without_definition_change_keeps_the_version(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)

    response = org_admin_client.post(url(Workflow, "change", workflow.pk), workflow_form(workflow, name="Renamed"))

    assert response.status_code == 302
    assert workflow.versions.count() == 1
    workflow.refresh_from_db()
    assert workflow.name == "Renamed"


def test_adding_a_workflow_with_a_trigger(org_admin_client, organization, org_admin):
    data = {
        "organization": organization.pk,
        "name": "From the admin",
        "description": "",
        "status": "active",
        "definition": json.dumps(WEBHOOK_DEFINITION),
        "max_concurrent_executions": "3",
        "triggers-TOTAL_FORMS": "1",
        "triggers-INITIAL_FORMS": "0",
        "triggers-0-kind": "webhook",
        "triggers-0-name": "hook",
        "triggers-0-is_active": "on",
        "triggers-0-config": "{}",
        "triggers-0-signing_secret": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }

    response = org_admin_client.post(url(Workflow, "add"), data)

    assert response.status_code == 302
    workflow = Workflow.objects.get(name="From the admin")
    assert (workflow.status, workflow.max_concurrent_executions, workflow.created_by) == ("active", 3, org_admin)
    assert workflow.versions.get().number == 1
    trigger = workflow.triggers.get()
    assert (trigger.kind, trigger.organization_id) == ("webhook", organization.pk)
    assert trigger.signing_secret.startswith("whsec_")
    assert AuditLog.objects.filter(action="workflow.create", target_id=str(workflow.pk)).exists()


def test_an_invalid_graph_is_saved_as_a_draft_with_its_problems(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    definition = copy.deepcopy(SIMPLE_DEFINITION)
    definition["nodes"].append({"id": "orphan", "type": "no_such_type", "config": {}})

    response = org_admin_client.post(
        url(Workflow, "change", workflow.pk), workflow_form(workflow, definition=json.dumps(definition)), follow=True
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any(m.startswith(SAVED_AS_DRAFT.split(":")[0]) and "/nodes/2/type" in m for m in messages), messages
    workflow.refresh_from_db()
    assert workflow.definition == definition
    assert workflow.versions.count() == 1  # the draft is not a version: v1 keeps running
    page = org_admin_client.get(url(Workflow, "change", workflow.pk)).content.decode()
    assert "/nodes/2/type" in page  # the problems field of the change form


def test_an_invalid_draft_cannot_be_activated_from_the_form(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    definition = {**SIMPLE_DEFINITION, "edges": []}

    response = org_admin_client.post(
        url(Workflow, "change", workflow.pk),
        workflow_form(workflow, definition=json.dumps(definition), status="active"),
    )

    assert response.status_code == 200
    assert "/nodes/1" in response.content.decode()
    workflow.refresh_from_db()
    assert (workflow.status, workflow.definition) == ("draft", SIMPLE_DEFINITION)


def test_a_stale_save_is_refused_with_a_clear_message(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    opened = workflow_form(workflow, name="Mine")  # the form as it was opened, at revision 1
    workflow_update(workflow=workflow, name="Theirs")  # someone else saves meanwhile: revision 2

    response = org_admin_client.post(url(Workflow, "change", workflow.pk), opened)

    assert response.status_code == 200
    assert escape(STALE_ADMIN_SAVE.format(current=2, expected=1)) in response.content.decode()
    workflow.refresh_from_db()
    assert (workflow.name, workflow.revision) == ("Theirs", 2)
    page = org_admin_client.get(url(Workflow, "change", workflow.pk)).content.decode()
    assert 'name="base_revision" value="2"' in page


def test_invalid_definition_json_is_a_form_error(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)

    response = org_admin_client.post(url(Workflow, "change", workflow.pk), workflow_form(workflow, definition="{nope"))

    assert response.status_code == 200
    assert "Enter a valid JSON" in response.content.decode()
    assert workflow.versions.count() == 1


def test_workflow_definition_is_shown_indented(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)

    page = org_admin_client.get(url(Workflow, "change", workflow.pk)).content.decode()
    workflow.refresh_from_db()  # PostgreSQL's jsonb has its own key order

    assert escape(json.dumps(workflow.definition, indent=2)) in page


def test_versions_are_read_only(admin_client, organization):
    version = WorkflowFactory(organization=organization).latest_version

    page = admin_client.get(url(WorkflowVersion, "change", version.pk)).content.decode()
    response = admin_client.post(url(WorkflowVersion, "change", version.pk), {"number": "9"})

    assert '<pre class="cm-json">' in page
    assert response.status_code == 403
    assert admin_client.post(url(WorkflowVersion, "delete", version.pk), {"post": "yes"}).status_code == 403
    version.refresh_from_db()
    assert version.number == 1


def test_deleting_a_workflow_deletes_its_versions(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)

    response = org_admin_client.post(url(Workflow, "delete", workflow.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not WorkflowVersion.objects.filter(workflow_id=workflow.pk).exists()


def test_members_edit_workflows_viewers_do_not(client, organization):
    workflow = WorkflowFactory(organization=organization)
    client.force_login(staff_with_role(organization, "member"))
    assert (
        client.post(url(Workflow, "change", workflow.pk), workflow_form(workflow, name="By member")).status_code == 302
    )
    assert client.post(url(Workflow, "delete", workflow.pk), {"post": "yes"}).status_code == 403

    client.force_login(staff_with_role(organization, "viewer"))
    assert client.get(url(Workflow, "change", workflow.pk)).status_code == 200
    assert (
        client.post(url(Workflow, "change", workflow.pk), workflow_form(workflow, name="By viewer")).status_code == 403
    )
    assert client.get(url(Workflow, "add")).status_code == 403
    workflow.refresh_from_db()
    assert workflow.name == "By member"


def test_trigger_is_created_through_the_service(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)

    response = org_admin_client.post(
        url(Trigger, "add"),
        {"workflow": workflow.pk, "kind": "schedule", "name": "nightly", "config": '{"cron": "0 3 * * *"}'},
    )

    assert response.status_code == 302
    trigger = Trigger.objects.get(name="nightly")
    assert trigger.organization_id == organization.pk
    assert trigger.config == {"cron": "0 3 * * *", "timezone": "UTC"}
    assert PeriodicTask.objects.filter(name=f"trigger:{trigger.pk}").exists()


def test_trigger_config_error_is_shown_on_the_form(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)

    response = org_admin_client.post(
        url(Trigger, "add"),
        {"workflow": workflow.pk, "kind": "schedule", "name": "broken", "config": '{"cron": "every day"}'},
    )

    assert response.status_code == 200
    assert f"cron: {CRON_INVALID}" in response.content.decode()
    assert not Trigger.objects.filter(name="broken").exists()
    assert not PeriodicTask.objects.filter(name__startswith="trigger:").exists()


def test_webhook_trigger_gets_a_secret_and_rotates_it(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(WEBHOOK_DEFINITION))
    org_admin_client.post(url(Trigger, "add"), {"workflow": workflow.pk, "kind": "webhook", "config": "{}"})
    trigger = Trigger.objects.get(workflow=workflow)
    first_secret = trigger.signing_secret

    response = org_admin_client.post(
        url(Trigger, "changelist"), {"action": "rotate_secrets", "_selected_action": [trigger.pk]}
    )

    assert first_secret.startswith("whsec_")
    assert response.status_code == 302
    trigger.refresh_from_db()
    assert trigger.signing_secret.startswith("whsec_")
    assert trigger.signing_secret != first_secret
    assert AuditLog.objects.filter(action="trigger.rotate_secret", target_id=str(trigger.pk)).exists()


def test_a_trigger_that_does_not_fit_the_start_node_is_refused_in_the_admin(org_admin_client, organization):
    """A schedule on a form workflow would fire and fail every minute: the add form names the field at fault."""
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(FORM_DEFINITION))

    response = org_admin_client.post(
        url(Trigger, "add"), {"workflow": workflow.pk, "kind": "schedule", "config": '{"cron": "* * * * *"}'}
    )

    assert response.status_code == 200
    message = KIND_DOES_NOT_FIT.format(kind="schedule", wanted="schedule or manual", found="form")
    assert escape(message) in response.content.decode()
    assert not Trigger.objects.exists()


def test_publishing_a_form_workflow_from_the_admin_gives_it_a_public_url(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(FORM_DEFINITION))
    manual = WorkflowFactory(organization=organization)

    response = org_admin_client.post(
        url(Workflow, "changelist"),
        {"action": "publish_workflows", "_selected_action": [workflow.pk, manual.pk]},
        follow=True,
    )

    trigger = Trigger.objects.get()
    assert (trigger.workflow, trigger.kind, trigger.config) == (workflow, "form", {})
    page = response.content.decode()
    assert escape(PUBLISH_NOTHING) in page
    listing = org_admin_client.get(url(Trigger, "changelist")).content.decode()
    assert f'href="/forms/{trigger.webhook_token}"' in listing


def test_the_trigger_list_shows_each_triggers_state(org_admin_client, organization):
    draft = WorkflowFactory(organization=organization, definition=copy.deepcopy(FORM_DEFINITION))
    trigger_create(workflow=draft, kind="form")

    page = org_admin_client.get(url(Trigger, "changelist")).content.decode()

    assert '<strong class="cm-trigger-workflow_inactive">workflow_inactive</strong>' in page
    assert "The workflow is not active (it is draft)" in page


def test_activating_a_workflow_enables_its_schedule(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    trigger = trigger_create(workflow=workflow, kind="schedule", config={"cron": "*/5 * * * *"})
    schedule = PeriodicTask.objects.get(name=f"trigger:{trigger.pk}")
    assert schedule.enabled is False

    response = org_admin_client.post(
        url(Workflow, "changelist"), {"action": "activate_workflows", "_selected_action": [workflow.pk]}
    )

    assert response.status_code == 302
    workflow.refresh_from_db()
    schedule.refresh_from_db()
    assert (workflow.status, schedule.enabled) == ("active", True)
    assert AuditLog.objects.filter(action="workflow.activate", target_id=str(workflow.pk)).exists()


def test_status_change_on_the_form_syncs_schedules(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    trigger = trigger_create(workflow=workflow, kind="schedule", config={"cron": "*/5 * * * *"})

    response = org_admin_client.post(url(Workflow, "change", workflow.pk), workflow_form(workflow, status="active"))

    assert response.status_code == 302
    assert PeriodicTask.objects.get(name=f"trigger:{trigger.pk}").enabled is True


def test_restoring_a_version_records_a_new_one(org_admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    first = workflow.latest_version
    org_admin_client.post(
        url(Workflow, "change", workflow.pk), workflow_form(workflow, definition=json.dumps(changed_definition()))
    )

    response = org_admin_client.post(
        url(WorkflowVersion, "changelist"), {"action": "restore_versions", "_selected_action": [first.pk]}
    )

    assert response.status_code == 302
    workflow.refresh_from_db()
    assert workflow.latest_version.number == 3
    assert workflow.definition == first.definition


def test_viewers_cannot_restore_versions(client, organization):
    version = WorkflowFactory(organization=organization).latest_version
    client.force_login(staff_with_role(organization, "viewer"))

    response = client.post(
        url(WorkflowVersion, "changelist"), {"action": "restore_versions", "_selected_action": [version.pk]}
    )

    assert response.status_code == 200
    assert version.workflow.versions.count() == 1


def test_trigger_cannot_target_another_organizations_workflow(org_admin_client, other_organization):
    foreign = WorkflowFactory(organization=other_organization)

    response = org_admin_client.post(
        url(Trigger, "add"), {"workflow": foreign.pk, "kind": "manual", "name": "sneaky", "config": "{}"}
    )

    assert response.status_code == 200
    assert not Trigger.objects.filter(name="sneaky").exists()


def test_credential_pages_never_show_the_secret(org_admin_client, organization):
    credential = CredentialFactory(organization=organization, data={"token": SECRET, "user": "bot"})

    change = org_admin_client.get(url(Credential, "change", credential.pk)).content.decode()
    changelist = org_admin_client.get(url(Credential, "changelist")).content.decode()

    assert SECRET not in change
    assert SECRET not in changelist
    assert "token, user" in change


def test_credential_new_data_replaces_the_secret_and_empty_keeps_it(org_admin_client, organization):
    credential = CredentialFactory(organization=organization, data={"token": SECRET})
    change_url = url(Credential, "change", credential.pk)

    kept = org_admin_client.post(change_url, {"name": "renamed", "kind": "http_bearer", "new_data": ""})
    credential.refresh_from_db()
    assert kept.status_code == 302
    assert (credential.name, credential.data) == ("renamed", {"token": SECRET})

    replaced = org_admin_client.post(
        change_url, {"name": "renamed", "kind": "http_bearer", "new_data": '{"token": "rotated"}'}
    )
    credential.refresh_from_db()
    assert replaced.status_code == 302
    assert credential.data == {"token": "rotated"}
    assert "rotated" not in org_admin_client.get(change_url).content.decode()


@pytest.mark.parametrize(
    ("new_data", "error"), [("", NEW_DATA_REQUIRED), ("[1]", NEW_DATA_NOT_OBJECT), ("{}", NEW_DATA_NOT_OBJECT)]
)
def test_credential_add_needs_an_object(org_admin_client, organization, new_data, error):
    response = org_admin_client.post(
        url(Credential, "add"),
        {"organization": organization.pk, "name": "smtp", "kind": "smtp", "new_data": new_data},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Credential.objects.filter(name="smtp").exists()


def test_credential_add_through_the_admin(org_admin_client, organization, org_admin):
    response = org_admin_client.post(
        url(Credential, "add"),
        {
            "organization": organization.pk,
            "name": "smtp",
            "kind": "smtp",
            "new_data": f'{{"host": "mail.example.com", "password": "{SECRET}"}}',
        },
    )

    assert response.status_code == 302
    credential = Credential.objects.get(name="smtp")
    assert (credential.data, credential.created_by) == ({"host": "mail.example.com", "password": SECRET}, org_admin)


def test_credential_add_form_has_the_kinds_fields_and_hides_the_secret(org_admin_client, organization):
    page = org_admin_client.get(url(Credential, "add") + "?kind=header").content.decode()

    assert 'name="data__header"' in page
    assert 'name="data__value" type="password"' in page or 'type="password" name="data__value"' in page

    response = org_admin_client.post(
        url(Credential, "add") + "?kind=header",
        {
            "organization": organization.pk,
            "name": "api",
            "kind": "header",
            "data__header": "X-Key",
            "data__value": SECRET,
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    credential = Credential.objects.get(name="api")
    assert credential.data == {"header": "X-Key", "value": SECRET}
    change = org_admin_client.get(url(Credential, "change", credential.pk)).content.decode()
    assert SECRET not in change
    assert 'value="X-Key"' in change


def test_credential_change_form_keeps_an_empty_secret_and_refuses_bad_fields(org_admin_client, organization):
    credential = CredentialFactory(organization=organization, kind="header", data={"header": "X-Key", "value": SECRET})
    change_url = url(Credential, "change", credential.pk)

    kept = org_admin_client.post(change_url, {"name": credential.name, "kind": "header", "data__header": "X-Other"})
    credential.refresh_from_db()
    assert kept.status_code == 302
    assert credential.data == {"header": "X-Other", "value": SECRET}

    bad = org_admin_client.post(change_url, {"name": credential.name, "kind": "header", "data__header": "X Bad"})
    credential.refresh_from_db()
    assert bad.status_code == 200
    assert "data.header" in bad.content.decode()
    assert SECRET not in bad.content.decode()
    assert credential.data == {"header": "X-Other", "value": SECRET}


def test_credential_add_form_refuses_a_port_out_of_range(org_admin_client, organization):
    response = org_admin_client.post(
        url(Credential, "add") + "?kind=smtp",
        {"organization": organization.pk, "name": "mail", "kind": "smtp", "data__host": "mail", "data__port": "70000"},
    )

    assert response.status_code == 200
    assert "less than or equal to 65535" in response.content.decode()
    assert not Credential.objects.filter(name="mail").exists()


def test_credential_is_deleted_through_the_admin(org_admin_client, organization):
    credential = CredentialFactory(organization=organization)

    response = org_admin_client.post(url(Credential, "delete", credential.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Credential.objects.filter(pk=credential.pk).exists()
    assert AuditLog.objects.filter(action="credential.delete", target_id=str(credential.pk)).exists()


def test_form_submissions_are_read_only_and_deletable_by_managers(client, organization):
    submission = make_rows(organization)[FormSubmission]
    client.force_login(staff_with_role(organization, "member"))
    assert client.post(url(FormSubmission, "delete", submission.pk), {"post": "yes"}).status_code == 403

    client.force_login(staff_with_role(organization, "admin"))
    assert client.post(url(FormSubmission, "change", submission.pk), {}).status_code == 403
    assert client.post(url(FormSubmission, "delete", submission.pk), {"post": "yes"}).status_code == 302
    assert not FormSubmission.objects.filter(pk=submission.pk).exists()


def test_object_permissions_page_for_managers_of_the_workflows_organization(client, organization, other_organization):
    workflow = WorkflowFactory(organization=organization)
    member = MembershipFactory(organization=organization).user
    outsider = MembershipFactory(organization=other_organization).user
    permissions_url = url(Workflow, "permissions", workflow.pk)

    client.force_login(staff_with_role(organization, "admin"))
    assert client.get(permissions_url).status_code == 200
    manage_member = reverse("admin:workflows_workflow_permissions_manage_user", args=[workflow.pk, member.pk])
    response = client.post(manage_member, {"permissions": ["execute_workflow"]})
    assert response.status_code == 302
    assert member.has_perm("workflows.execute_workflow", workflow)
    manage_outsider = reverse("admin:workflows_workflow_permissions_manage_user", args=[workflow.pk, outsider.pk])
    assert client.get(manage_outsider).status_code == 404

    client.force_login(staff_with_role(organization, "member"))
    assert client.get(permissions_url).status_code == 403

    client.force_login(staff_with_role(other_organization, "owner"))
    assert client.get(permissions_url).status_code == 404


def test_object_permissions_are_listed(admin_client, organization):
    workflow = WorkflowFactory(organization=organization)
    member = MembershipFactory(organization=organization).user
    assign_perm("workflows.execute_workflow", member, workflow)

    page = admin_client.get(url(Workflow, "permissions", workflow.pk)).content.decode()

    assert member.username in page


def test_workflow_changelist_query_count_does_not_grow_with_rows(
    org_admin_client, organization, django_assert_max_num_queries
):
    WorkflowFactory(organization=organization)
    with django_assert_max_num_queries(20) as one_row:
        org_admin_client.get(url(Workflow, "changelist"))
    for _ in range(5):
        WorkflowFactory(organization=organization)

    with django_assert_max_num_queries(len(one_row.captured_queries)):
        org_admin_client.get(url(Workflow, "changelist"))


def test_an_admin_marks_a_credential_internal(org_admin_client, organization):
    credential = CredentialFactory(
        organization=organization, kind="database", data={"host": "db", "database": "d", "user": "u"}
    )

    response = org_admin_client.post(
        url(Credential, "change", credential.pk), {"name": credential.name, "kind": "database", "allow_private": "on"}
    )

    credential.refresh_from_db()
    assert response.status_code == 302
    assert credential.allow_private is True
    assert credential.data == {"host": "db", "database": "d", "user": "u"}
