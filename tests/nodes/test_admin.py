"""The back office for node types: global rows every staff member sees and only superusers switch."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from apps.nodes.datastore import VALUE_IS_NULL, datarecord_put
from apps.nodes.models import NodeType
from apps.orgs.models import AuditLog
from tests.orgs.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def node_type():
    return NodeType.objects.create(
        name="admin_test_node",
        category="actions",
        display_name="Admin test node",
        config_schema={"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
        implementation="apps.nodes.builtin.actions.HttpRequest",
    )


@pytest.fixture
def staff_client(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="owner")
    client.force_login(user)
    return client


def test_every_model_of_the_app_is_registered():
    for model in apps.get_app_config("nodes").get_models():
        assert admin.site.is_registered(model), model


def test_superuser_sees_and_disables_node_types(admin_client, node_type):
    changelist = admin_client.get(reverse("admin:nodes_nodetype_changelist"))
    assert changelist.status_code == 200
    assert "Admin test node" in changelist.content.decode()
    change = admin_client.get(reverse("admin:nodes_nodetype_change", args=[node_type.pk]))
    assert change.status_code == 200
    # The schema is rendered indented and escaped.
    assert '<pre class="cm-json">{\n  &quot;properties&quot;' in change.content.decode()

    response = admin_client.post(
        reverse("admin:nodes_nodetype_changelist"),
        {"action": "disable_node_types", "_selected_action": [node_type.pk]},
    )

    assert response.status_code == 302
    node_type.refresh_from_db()
    assert node_type.is_enabled is False


def test_node_types_are_never_added_or_deleted_by_hand(admin_client, node_type):
    assert admin_client.get(reverse("admin:nodes_nodetype_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:nodes_nodetype_delete", args=[node_type.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert NodeType.objects.filter(pk=node_type.pk).exists()


def test_superuser_switches_a_node_type_on_its_change_page(admin_client, node_type):
    response = admin_client.post(reverse("admin:nodes_nodetype_change", args=[node_type.pk]), {})

    assert response.status_code == 302
    node_type.refresh_from_db()
    assert node_type.is_enabled is False


def test_staff_view_but_cannot_change_node_types(staff_client, node_type):
    assert staff_client.get(reverse("admin:nodes_nodetype_changelist")).status_code == 200
    change = staff_client.get(reverse("admin:nodes_nodetype_change", args=[node_type.pk]))
    assert change.status_code == 200
    assert 'name="is_enabled"' not in change.content.decode()

    response = staff_client.post(reverse("admin:nodes_nodetype_change", args=[node_type.pk]), {"is_enabled": ""})
    denied_action = staff_client.post(
        reverse("admin:nodes_nodetype_changelist"),
        {"action": "disable_node_types", "_selected_action": [node_type.pk]},
    )

    assert response.status_code == 403
    assert denied_action.status_code == 200
    node_type.refresh_from_db()
    assert node_type.is_enabled is True


def test_non_staff_users_cannot_reach_node_types(client, node_type):
    client.force_login(UserFactory())

    response = client.get(reverse("admin:nodes_nodetype_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.fixture
def org_admin_client(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return client


def test_data_record_pages(admin_client, org_admin_client, organization, other_organization):
    own, _ = datarecord_put(organization_id=organization.pk, collection="orders", key="own-key", value={"n": 1})
    foreign, _ = datarecord_put(organization_id=other_organization.pk, collection="orders", key="foreign-key", value=1)

    for client in (admin_client, org_admin_client):
        assert client.get(reverse("admin:nodes_datarecord_add")).status_code == 200
        assert client.get(reverse("admin:nodes_datarecord_change", args=[own.pk])).status_code == 200
    changelist = org_admin_client.get(reverse("admin:nodes_datarecord_changelist")).content.decode()
    assert "own-key" in changelist
    assert "foreign-key" not in changelist
    assert org_admin_client.get(reverse("admin:nodes_datarecord_change", args=[foreign.pk])).status_code == 302


def test_data_record_is_saved_through_the_datastore(org_admin_client, organization):
    record, _ = datarecord_put(organization_id=organization.pk, collection="orders", key="k", value={"n": 1})

    response = org_admin_client.post(reverse("admin:nodes_datarecord_change", args=[record.pk]), {"data": '{"n": 2}'})
    null_value = org_admin_client.post(reverse("admin:nodes_datarecord_change", args=[record.pk]), {"data": "null"})

    assert response.status_code == 302
    assert null_value.status_code == 200
    assert VALUE_IS_NULL in null_value.content.decode()
    record.refresh_from_db()
    assert record.data == {"n": 2}
    assert AuditLog.objects.filter(organization=organization, action="datarecord.update").count() == 1
