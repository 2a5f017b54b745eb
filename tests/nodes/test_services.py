"""The registry is mirrored into NodeType rows: after migrate, by the command, keeping the admin's switch."""

import pytest
from django.core.management import call_command

from apps.nodes import selectors
from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.models import NodeType
from apps.nodes.registry import NodeRegistry, class_path, registry
from apps.nodes.services import node_type_set_enabled, node_type_sync

pytestmark = pytest.mark.django_db


class Echo(Node):
    type_name = "echo"
    category = "transforms"
    display_name = "Echo"
    description = "Outputs its input."
    config_schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single(ctx.input)


def test_migrate_left_one_row_per_registered_type():
    rows = {row.name: row for row in NodeType.objects.all()}
    assert set(rows) == {cls.type_name for cls in registry.all()}
    webhook = rows["webhook"]
    assert webhook.category == "triggers"
    assert webhook.inputs == [] and webhook.outputs == ["main"]
    assert webhook.implementation == "apps.nodes.builtin.triggers.WebhookTrigger"
    assert webhook.config_schema == registry.get("webhook").config_schema
    assert webhook.is_enabled


def test_a_second_sync_changes_nothing():
    result = node_type_sync()
    assert (result.created, result.updated, result.deleted) == ((), (), ())


def test_sync_creates_updates_and_deletes_and_keeps_is_enabled():
    nodes = NodeRegistry()
    nodes.register(Echo)
    nodes.register(registry.get("webhook"))
    webhook = NodeType.objects.get(name="webhook")
    node_type_set_enabled(node_type=webhook, is_enabled=False)
    NodeType.objects.filter(name="webhook").update(description="stale")

    result = node_type_sync(node_registry=nodes)

    assert result.created == ("echo",)
    assert result.updated == ("webhook",)
    assert "manual" in result.deleted and "webhook" not in result.deleted
    assert set(NodeType.objects.values_list("name", flat=True)) == {"echo", "webhook"}
    webhook.refresh_from_db()
    assert webhook.description == registry.get("webhook").description
    assert webhook.is_enabled is False
    assert NodeType.objects.get(name="echo").implementation == class_path(Echo)


def test_the_command_syncs_and_reports(capsys):
    NodeType.objects.filter(name="manual").delete()
    call_command("sync_node_types")
    assert "created: 1 (manual)" in capsys.readouterr().out
    assert NodeType.objects.filter(name="manual").exists()


def test_migrate_resyncs_through_post_migrate():
    NodeType.objects.filter(name__in=["filter", "map"]).delete()
    call_command("migrate", verbosity=0)
    assert NodeType.objects.filter(name__in=["filter", "map"]).count() == 2


def test_disabling_a_type_is_stored():
    node_type_set_enabled(node_type=NodeType.objects.get(name="split"), is_enabled=False)
    assert set(NodeType.objects.filter(is_enabled=False).values_list("name", flat=True)) == {"split"}


def test_the_version_fingerprint_moves_with_any_change():
    before = selectors.node_types_version()
    assert selectors.node_types_version() == before
    node_type_set_enabled(node_type=NodeType.objects.get(name="limit"), is_enabled=False)
    after_disable = selectors.node_types_version()
    assert after_disable != before
    NodeType.objects.filter(name="limit").delete()
    assert selectors.node_types_version() not in (before, after_disable)
