"""The trigger kind registry: built-ins, declarations refused at registration, entry points, and a kind a plugin adds
without a migration (created through the API and the admin's choices, its config checked against its schema)."""

import copy
import sys
import textwrap
from importlib.metadata import entry_points

import pytest
from django.core.exceptions import ValidationError

from apps.workflows.models import Trigger
from apps.workflows.services import trigger_create
from apps.workflows.trigger_kinds import (
    BAD_KIND_NAME,
    DUPLICATE_KIND,
    ENTRY_POINT_GROUP,
    NO_START_NODES,
    TriggerKindRegistrationError,
    TriggerKindRegistry,
    TriggerKindSpec,
    UnknownTriggerKind,
    register_trigger_kind,
    trigger_kind_choices,
    trigger_kinds,
)
from apps.workflows.triggers import KIND_DOES_NOT_FIT, KIND_NOT_INSTALLED, STATE_NO_START_NODE, trigger_state
from tests.workflows.factories import SIMPLE_DEFINITION, WEBHOOK_DEFINITION, WorkflowFactory

BUILT_IN = ["manual", "webhook", "schedule", "form", "api"]
QUEUE_SCHEMA = {
    "type": "object",
    "properties": {"queue": {"type": "string", "minLength": 1}},
    "required": ["queue"],
    "additionalProperties": False,
}


class QueueKind(TriggerKindSpec):
    """A plugin's kind: a message on a queue starts the workflow."""

    name = "acme.queue"
    label = "Queue message"
    start_nodes = ("manual",)
    config_schema = QUEUE_SCHEMA

    def run_input(self, *, trigger, payload):
        return {"queue": trigger.config["queue"], "message": payload}


@pytest.fixture
def queue_kind():
    register_trigger_kind(QueueKind)
    yield trigger_kinds.get(QueueKind.name)
    trigger_kinds.unregister(QueueKind.name)


@pytest.fixture
def as_admin(api_client, organization, member_factory):
    api_client.force_authenticate(member_factory(organization, "admin"))
    return api_client


def _kind(**attributes) -> type[TriggerKindSpec]:
    base = {"name": "acme.thing", "label": "Thing", "start_nodes": ("manual",)}
    return type("ThingKind", (TriggerKindSpec,), {**base, **attributes})


# --- the registry ---------------------------------------------------------------------------------------------


def test_the_built_in_kinds_are_registered_in_the_api_order():
    assert [name for name, _label in trigger_kind_choices()][:5] == BUILT_IN
    assert [kind.name for kind in trigger_kinds.all() if kind.public] == ["webhook", "form"]


def test_registering_a_class_twice_is_a_no_op_and_another_class_under_its_name_is_refused():
    registry = TriggerKindRegistry()
    first = _kind()
    registry.register(first)
    registry.register(first)
    other = _kind()
    with pytest.raises(TriggerKindRegistrationError) as error:
        registry.register(other)
    assert str(error.value) == DUPLICATE_KIND.format(
        name="acme.thing", path=f"{other.__module__}.{other.__qualname__}", other=f"{first.__module__}.ThingKind"
    )


@pytest.mark.parametrize("name", ["", "Acme", "acme-queue", "a" * 21, None])
def test_a_bad_kind_name_is_refused(name):
    cls = _kind(name=name)
    with pytest.raises(TriggerKindRegistrationError) as error:
        TriggerKindRegistry().register(cls)
    assert str(error.value) == BAD_KIND_NAME.format(path=f"{cls.__module__}.{cls.__qualname__}", name=name)


@pytest.mark.parametrize("start_nodes", [(), ["manual"], ("",)])
def test_a_kind_must_name_its_start_nodes(start_nodes):
    cls = _kind(start_nodes=start_nodes)
    with pytest.raises(TriggerKindRegistrationError) as error:
        TriggerKindRegistry().register(cls)
    assert str(error.value) == NO_START_NODES.format(path=f"{cls.__module__}.{cls.__qualname__}")


def test_an_invalid_config_schema_is_refused_and_a_non_kind_too():
    with pytest.raises(TriggerKindRegistrationError, match="invalid config_schema at /type"):
        TriggerKindRegistry().register(_kind(config_schema={"type": "thing"}))
    with pytest.raises(TriggerKindRegistrationError, match="is not a subclass"):
        TriggerKindRegistry().register(dict)


def test_an_unknown_kind_is_a_lookup_error_naming_it():
    with pytest.raises(UnknownTriggerKind, match='Unknown trigger kind "nope"'):
        trigger_kinds.get("nope")
    with pytest.raises(UnknownTriggerKind):
        trigger_kinds.unregister("nope")


def test_a_kind_from_an_entry_point_is_registered(tmp_path, monkeypatch):
    """A package's `concertmaster.triggers` entry point, found in its installed metadata, registers its kind."""
    (tmp_path / "acme_triggers.py").write_text(
        textwrap.dedent(
            """
            from apps.workflows.trigger_kinds import TriggerKindSpec

            class PagerKind(TriggerKindSpec):
                name = "acme.pager"
                label = "Pager alert"
                start_nodes = ("manual",)
            """
        )
    )
    dist = tmp_path / "acme_triggers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-triggers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\npager = acme_triggers:PagerKind\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)] == ["pager"]
    registry = TriggerKindRegistry()
    try:
        loaded = registry.load_entry_points()
        assert [cls.name for cls in loaded] == ["acme.pager"]
        assert registry.get("acme.pager").label == "Pager alert"
    finally:
        sys.modules.pop("acme_triggers", None)


def test_a_broken_entry_point_stops_startup_with_its_name(tmp_path, monkeypatch):
    dist = tmp_path / "broken_triggers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-triggers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module_here:Kind\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TriggerKindRegistrationError, match=r'Entry point "broken" of group "concertmaster\.triggers"'):
        TriggerKindRegistry().load_entry_points()


# --- a plugin's kind, without a migration ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_plugin_kind_is_created_through_the_api_with_its_config_checked(as_admin, organization, queue_kind):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    body = {"workflow": str(workflow.pk), "kind": "acme.queue", "config": {"queue": "orders"}}
    response = as_admin.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 201, response.json()
    trigger = Trigger.objects.get(pk=response.json()["id"])
    assert (trigger.kind, trigger.config, trigger.signing_secret) == ("acme.queue", {"queue": "orders"}, "")
    assert response.json()["public_url"] is None
    assert str(trigger) == f"Queue message trigger of {workflow.name}"
    listed = as_admin.get("/api/v1/triggers/", {"kind": "acme.queue"})
    assert [row["id"] for row in listed.json()["results"]] == [str(trigger.pk)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        ({}, "/config", "'queue' is a required property"),
        ({"queue": ""}, "/config/queue", "'' should be non-empty"),
        ({"queue": "orders", "extra": 1}, "/config", "Additional properties are not allowed ('extra' was unexpected)"),
    ],
)
def test_a_plugin_kind_config_against_its_schema_is_a_400_naming_the_field(
    as_admin, organization, queue_kind, config, path, message
):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    body = {"workflow": str(workflow.pk), "kind": "acme.queue", "config": config}
    response = as_admin.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": path, "message": message}]
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_a_plugin_kind_must_fit_the_workflow_start_node(organization, queue_kind):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(WEBHOOK_DEFINITION))
    with pytest.raises(ValidationError) as error:
        trigger_create(workflow=workflow, kind="acme.queue", config={"queue": "orders"})
    message = KIND_DOES_NOT_FIT.format(kind="acme.queue", wanted="manual", found="webhook")
    assert error.value.message_dict == {"kind": [message]}


@pytest.mark.django_db
def test_an_unregistered_kind_is_refused_by_the_api(as_admin, organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    body = {"workflow": str(workflow.pk), "kind": "acme.queue", "config": {"queue": "orders"}}
    response = as_admin.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/kind", "message": '"acme.queue" is not a valid choice.'}]


@pytest.mark.django_db
def test_a_row_whose_plugin_was_uninstalled_says_it_starts_nothing(organization, queue_kind):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    trigger = trigger_create(workflow=workflow, kind="acme.queue", config={"queue": "orders"})
    workflow.status = "active"
    trigger_kinds.unregister("acme.queue")
    try:
        assert trigger_state(trigger=trigger) == (STATE_NO_START_NODE, KIND_NOT_INSTALLED.format(kind="acme.queue"))
    finally:
        register_trigger_kind(QueueKind)
