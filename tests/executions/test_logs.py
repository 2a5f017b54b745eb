"""Execution logs: what the `log` node, `ctx.log` and `ctx.logger` write, bounded, read over the API, live."""

import logging

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.executions.logs import MSG_TRUNCATED, execution_log_write
from apps.executions.models import ExecutionLog
from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.registry import registry
from apps.workflows.services import workflow_create
from concertmaster.asgi import application
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.workflows.factories import WorkflowFactory


class ChattyNode(Node):
    """Logs `lines` lines through ctx.log (with metadata) and one warning through ctx.logger."""

    type_name = "test.chatty"
    category = "actions"
    config_schema = {"type": "object", "properties": {"lines": {"type": "integer"}}, "additionalProperties": False}

    def run(self, ctx: NodeContext) -> NodeResult:
        for index in range(ctx.config.get("lines", 2)):
            ctx.log("debug" if index % 2 else "info", f"line {index}", index=index)
        ctx.logger.warning("from the logger %s", "too")
        return NodeResult.single({"done": True})


DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "note", "type": "log", "config": {"message": "amount is {{ trigger.amount }}", "level": "warning"}},
        {"id": "chatty", "type": "test.chatty", "config": {"lines": 3}},
    ],
    "edges": [{"source": "start", "target": "note"}, {"source": "note", "target": "chatty"}],
}


@pytest.fixture
def chatty():
    registry.register(ChattyNode)
    yield
    registry.unregister(ChattyNode.type_name)


@pytest.fixture
def member(engine_worker, chatty):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


def _run(client, workflow, body=None) -> dict:
    response = client.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", body or {}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.slow
def test_what_nodes_log_is_stored_and_read_in_order(member, caplog):
    caplog.set_level(logging.WARNING, logger="concertmaster.node.test.chatty")
    organization, client = member
    workflow = workflow_create(organization=organization, name="logs", definition=DEFINITION)
    execution = _run(client, workflow, {"input": {"amount": 120}})

    lines = client.get(f"/api/v1/executions/{execution['id']}/logs/").json()

    assert [(line["node_id"], line["level"], line["message"]) for line in lines] == [
        ("note", "warning", "amount is 120"),
        ("chatty", "info", "line 0"),
        ("chatty", "debug", "line 1"),
        ("chatty", "info", "line 2"),
        ("chatty", "warning", "from the logger too"),
    ]
    assert lines[2]["metadata"] == {"index": 1}
    assert "from the logger too" in caplog.text  # still reaches the process's logging as configured
    url = f"/api/v1/executions/{execution['id']}/logs/"
    assert [line["message"] for line in client.get(url, {"node": "chatty", "level": "warning"}).json()] == [
        "from the logger too"
    ]
    after = client.get(url, {"after": lines[3]["id"]}).json()
    assert [line["message"] for line in after] == ["from the logger too"]


@pytest.mark.slow
def test_an_executions_log_is_bounded(member, settings):
    settings.CONCERTMASTER_EXECUTION_LOG_MAX_LINES = 4
    organization, client = member
    definition = {
        **DEFINITION,
        "nodes": [*DEFINITION["nodes"][:2], {**DEFINITION["nodes"][2], "config": {"lines": 50}}],
    }
    workflow = workflow_create(organization=organization, name="logs", definition=definition)
    execution = _run(client, workflow, {"input": {"amount": 1}})

    lines = client.get(f"/api/v1/executions/{execution['id']}/logs/").json()

    assert len(lines) == 4
    assert lines[-1]["message"] == MSG_TRUNCATED.format(limit=4)
    assert lines[-1]["metadata"] == {"truncated": True}
    assert execution["status"] == "succeeded"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "path"), [({"level": "loud"}, "/level"), ({"after": "x"}, "/after"), ({"limit": 0}, "/limit")]
)
def test_bad_log_queries_are_a_400_naming_the_field(query, path):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="viewer")
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    client = APIClient()
    client.force_authenticate(user)

    response = client.get(f"/api/v1/executions/{execution.pk}/logs/", query)

    assert response.status_code == 400
    assert [error["path"] for error in response.json()["errors"]] == [path]


@pytest.mark.django_db
def test_another_organizations_log_is_a_404():
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=OrganizationFactory()))
    stranger = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="owner")
    client = APIClient()
    client.force_authenticate(stranger)

    assert client.get(f"/api/v1/executions/{execution.pk}/logs/").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_log_line_is_streamed_live_without_a_seq(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS = 60

    def setup():
        organization = OrganizationFactory()
        user = UserFactory()
        MembershipFactory(user=user, organization=organization, role="viewer")
        execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization), status="running")
        return execution, str(AccessToken.for_user(user))

    execution, token = await database_sync_to_async(setup)()
    communicator = WebsocketCommunicator(
        application, f"/ws/executions/{execution.pk}/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    connected, _ = await communicator.connect(timeout=3)
    assert connected
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"

    await database_sync_to_async(execution_log_write)(
        execution_id=str(execution.pk),
        organization_id=str(execution.organization_id),
        workflow_id=str(execution.workflow_id),
        node_id="note",
        level="info",
        message="hello",
        metadata={"k": 1},
    )

    message = await communicator.receive_json_from(timeout=3)
    assert (message["type"], message["seq"], message["node_id"]) == ("log", None, "note")
    assert (message["data"]["message"], message["data"]["metadata"]) == ("hello", {"k": 1})
    assert message["data"]["id"] == (await database_sync_to_async(ExecutionLog.objects.get)()).pk
    await communicator.disconnect()
