"""A WebSocket message nested too deeply is ignored like any malformed frame: the stream goes on."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.executions import consumers
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.executions.test_consumers import connections_closed_after_use, in_memory_layer, open_stream  # noqa: F401
from tests.workflows.factories import WorkflowFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def execution(organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization), status="running")
    NodeExecutionFactory(execution=execution, node_id="start", status="succeeded")
    return execution


async def test_a_deeply_nested_message_is_ignored_and_the_stream_goes_on(execution, user, settings):
    settings.CONCERTMASTER_JSON_MAX_DEPTH = 20
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=str(AccessToken.for_user(user)))
    await communicator.receive_json_from(timeout=3)  # the snapshot
    await communicator.send_to(text_data="[" * 5_000 + "]" * 5_000)
    await communicator.send_to(text_data='{"type": "ping", "x": ' + "[" * 21 + "]" * 21 + "}")
    await communicator.send_to(text_data='{"type": "ping", "x": ' + "[" * 18 + "]" * 18 + "}")  # at the limit
    assert (await communicator.receive_json_from(timeout=3))["type"] == "pong"
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_the_consumer_decodes_with_the_nesting_limit(settings):
    settings.CONCERTMASTER_JSON_MAX_DEPTH = 3
    assert await consumers.ExecutionStreamConsumer.decode_json('{"a": [[]]}') == {"a": [[]]}
    with pytest.raises(ValueError, match="nested deeper than 3 levels"):
        await consumers.ExecutionStreamConsumer.decode_json('{"a": [[[]]]}')
