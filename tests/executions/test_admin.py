"""The back office for executions, node executions, events and webhook deliveries: read-only, scoped."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from apps.executions.models import CircuitBreaker, ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution
from apps.orgs.models import Organization
from tests.executions.factories import ExecutionEventFactory, NodeExecutionFactory, WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import TriggerFactory, WorkflowFactory

pytestmark = pytest.mark.django_db

MODELS = [WorkflowExecution, NodeExecution, ExecutionEvent, WebhookDelivery, CircuitBreaker]


@pytest.fixture
def org_admin_client(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return client


def make_rows(organization: Organization) -> dict[type, object]:
    workflow = WorkflowFactory(organization=organization, name=f"flow-of-{organization.slug}")
    execution = WorkflowExecutionFactory(
        workflow=workflow, status="running", correlation_id=f"corr-{organization.slug}"
    )
    trigger = TriggerFactory(workflow=workflow, kind="webhook")
    return {
        WorkflowExecution: execution,
        NodeExecution: NodeExecutionFactory(execution=execution, node_id=f"node-of-{organization.slug}"),
        ExecutionEvent: ExecutionEventFactory(execution=execution, type=f"event.of.{organization.slug}"),
        WebhookDelivery: WebhookDelivery.objects.create(
            organization=organization,
            trigger=trigger,
            idempotency_key=f"key-of-{organization.slug}",
            outcome="accepted",
            status_code=202,
            execution=execution,
        ),
        CircuitBreaker: CircuitBreaker.objects.create(
            organization=organization,
            node_type="http_request",
            target=f"host-of-{organization.slug}-{workflow.pk.hex[:8]}",
            state="open",
        ),
    }


def listed_as(row) -> str:
    if isinstance(row, WorkflowExecution):
        return row.workflow.name
    if isinstance(row, NodeExecution):
        return row.node_id
    if isinstance(row, ExecutionEvent):
        return row.type
    if isinstance(row, CircuitBreaker):
        return row.target
    return row.idempotency_key


def url(model: type, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_of_the_app_is_registered():
    for model in apps.get_app_config("executions").get_models():
        assert admin.site.is_registered(model), model


@pytest.mark.parametrize("model", MODELS)
def test_superuser_sees_every_page_and_adds_nothing(admin_client, organization, model):
    rows = make_rows(organization)

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "change", rows[model].pk)).status_code == 200
    # The engine writes these rows; the admin only reads them.
    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "change", rows[model].pk), {}).status_code == 403
    assert admin_client.post(url(model, "delete", rows[model].pk), {"post": "yes"}).status_code == 403


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


def test_node_executions_inline_in_run_order_with_durations(admin_client, organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    start = timezone.now()
    NodeExecutionFactory(execution=execution, node_id="not-started")
    NodeExecutionFactory(
        execution=execution,
        node_id="second",
        status="succeeded",
        started_at=start + timedelta(seconds=1),
        finished_at=start + timedelta(seconds=3, milliseconds=500),
    )
    NodeExecutionFactory(execution=execution, node_id="first", status="succeeded", started_at=start, duration_ms=250)

    page = admin_client.get(url(WorkflowExecution, "change", execution.pk)).content.decode()

    assert page.index(">first<") < page.index(">second<") < page.index(">not-started<")
    assert "250 ms" in page
    assert "2.50 s" in page
    assert '<span class="cm-badge cm-badge--succeeded">Succeeded</span>' in page


def test_node_times_show_seconds_and_the_wait_beside_the_compute_time(admin_client, organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    queued = timezone.localtime(timezone.now()).replace(microsecond=0)
    row = NodeExecutionFactory(
        execution=execution,
        node_id="slept",
        status="succeeded",
        queued_at=queued,
        started_at=queued + timedelta(seconds=6, milliseconds=100),
        finished_at=queued + timedelta(seconds=6, milliseconds=250),
        duration_ms=17,
    )
    started = (queued + timedelta(seconds=6)).strftime("%Y-%m-%d %H:%M:%S")

    for page_url in (url(WorkflowExecution, "change", execution.pk), url(NodeExecution, "change", row.pk)):
        page = admin_client.get(page_url).content.decode()
        assert "17 ms" in page
        assert "6.23 s" in page  # waited: 6.25 s from first queued to finished, less the 17 ms computed
        assert started in page
    changelist = admin_client.get(url(NodeExecution, "changelist")).content.decode()
    assert "6.23 s" in changelist and started in changelist


def test_execution_json_is_pretty_and_escaped(admin_client, organization):
    execution = WorkflowExecutionFactory(
        workflow=WorkflowFactory(organization=organization),
        status="failed",
        error={"message": "<script>alert(1)</script>", "node": "fetch"},
    )

    page = admin_client.get(url(WorkflowExecution, "change", execution.pk)).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<pre class="cm-json">{\n  &quot;message&quot;' in page
    assert '<span class="cm-badge cm-badge--failed">Failed</span>' in page


def test_events_link_filters_the_event_list(admin_client, organization):
    rows = make_rows(organization)
    ExecutionEventFactory(
        execution=WorkflowExecutionFactory(workflow=rows[WorkflowExecution].workflow), type="event.elsewhere"
    )

    page = admin_client.get(
        url(ExecutionEvent, "changelist"), {"execution__id__exact": str(rows[WorkflowExecution].pk)}
    )

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [rows[ExecutionEvent]]


def test_search_finds_an_execution_by_its_full_id(org_admin_client, organization):
    rows = make_rows(organization)
    other = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization, name="unrelated-flow"))

    page = org_admin_client.get(url(WorkflowExecution, "changelist"), {"q": str(rows[WorkflowExecution].pk)})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [rows[WorkflowExecution]]
    assert other in WorkflowExecution.objects.filter(organization=organization)


def test_viewers_see_executions(client, organization):
    rows = make_rows(organization)
    viewer = UserFactory(is_staff=True)
    MembershipFactory(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)

    assert client.get(url(WorkflowExecution, "change", rows[WorkflowExecution].pk)).status_code == 200
    assert client.get(url(NodeExecution, "changelist")).status_code == 200


@pytest.mark.parametrize("model", [WorkflowExecution, NodeExecution, ExecutionEvent, CircuitBreaker])
def test_changelist_queries_do_not_grow_with_rows(org_admin_client, organization, django_assert_max_num_queries, model):
    make_rows(organization)
    with django_assert_max_num_queries(30) as one_row:
        org_admin_client.get(url(model, "changelist"))
    for _ in range(4):
        make_rows(organization)

    with django_assert_max_num_queries(len(one_row.captured_queries)):
        org_admin_client.get(url(model, "changelist"))


def test_deleting_a_workflow_with_executions_never_half_deletes(admin_client, organization):
    """Executions pin versions with PROTECT: the admin either deletes everything or explains why it cannot."""
    execution = make_rows(organization)[WorkflowExecution]
    delete_url = reverse("admin:workflows_workflow_delete", args=[execution.workflow_id])

    confirmation = admin_client.get(delete_url)
    response = admin_client.post(delete_url, {"post": "yes"})

    assert confirmation.status_code == 200
    assert response.status_code in (200, 302)
    workflow_left = execution.workflow._meta.model.objects.filter(pk=execution.workflow_id).exists()
    assert workflow_left == WorkflowExecution.objects.filter(pk=execution.pk).exists()
