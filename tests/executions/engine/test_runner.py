"""The node runner's pieces without a worker: timeouts, result checks, credentials, backoff, plus the odd
node results through a worker."""

import threading
import time

import pytest

from apps.executions.engine import runner
from apps.executions.engine.runtime import retry_delay
from apps.nodes.base import NodeContext, NodeError, NodeResult, Suspend
from tests.executions.engine.helpers import chain, make_workflow, node, start, wait_finished
from tests.workflows.factories import CredentialFactory


def ctx() -> NodeContext:
    return NodeContext(node_id="n", execution_id="e", organization_id="o", config={})


def test_a_result_comes_back_as_it_is():
    result = runner.run_with_timeout(lambda c: NodeResult.single(1), ctx(), timeout=5, renew=lambda: True)
    assert result == NodeResult.single(1)


def test_a_node_error_keeps_its_message_retryability_and_data():
    def run(c):
        raise NodeError("bad input", retryable=False, data={"field": "x"})

    failure = runner.run_with_timeout(run, ctx(), timeout=5, renew=lambda: True)
    assert failure == runner.Failure(runner.ERROR_NODE, "bad input", retryable=False, data={"field": "x"})


def test_an_unexpected_exception_is_a_retryable_failure_naming_its_type():
    failure = runner.run_with_timeout(lambda c: {}["missing"], ctx(), timeout=5, renew=lambda: True)
    assert failure.type == runner.ERROR_EXCEPTION
    assert failure.message == "KeyError: 'missing'"
    assert failure.retryable


def test_anything_but_a_result_or_suspend_is_refused():
    failure = runner.run_with_timeout(lambda c: {"not": "a result"}, ctx(), timeout=5, renew=lambda: True)
    assert failure == runner.Failure(runner.ERROR_BAD_RESULT, runner.MSG_BAD_RESULT.format(kind="dict"), False)


def test_the_timeout_returns_while_the_node_still_runs(settings):
    settings.CONCERTMASTER_ENGINE_LEASE_SECONDS = 0.3
    release = threading.Event()
    started = time.monotonic()
    failure = runner.run_with_timeout(lambda c: release.wait(5), ctx(), timeout=0.2, renew=lambda: True)
    assert time.monotonic() - started < 1
    assert failure.type == runner.ERROR_TIMEOUT
    release.set()


def test_nodes_run_one_after_another_on_one_kept_thread_and_a_timed_out_one_keeps_its_own():
    def thread_of(c):
        return NodeResult.single(threading.get_ident())

    first = runner.run_with_timeout(thread_of, ctx(), timeout=5, renew=lambda: True).outputs["main"]
    second = runner.run_with_timeout(thread_of, ctx(), timeout=5, renew=lambda: True).outputs["main"]
    assert first == second != threading.get_ident()

    release = threading.Event()
    stuck = runner.run_with_timeout(lambda c: release.wait(5), ctx(), timeout=0.1, renew=lambda: True)
    assert stuck.type == runner.ERROR_TIMEOUT
    third = runner.run_with_timeout(thread_of, ctx(), timeout=5, renew=lambda: True).outputs["main"]
    assert third != first  # the stuck node still has the old thread
    release.set()


def test_a_kept_node_thread_that_is_gone_is_replaced(monkeypatch):
    def thread_of(c):
        return NodeResult.single(threading.get_ident())

    first = runner.run_with_timeout(thread_of, ctx(), timeout=5, renew=lambda: True).outputs["main"]
    kept = runner._NodeThread._local.idle
    monkeypatch.setattr(kept, "_pid", -1)  # as in a forked child, where the thread does not exist
    second = runner.run_with_timeout(thread_of, ctx(), timeout=5, renew=lambda: True).outputs["main"]
    assert runner._NodeThread._local.idle is not kept
    assert second != first


def test_the_lease_is_renewed_while_the_node_runs_and_a_lost_lease_abandons_it(settings):
    settings.CONCERTMASTER_ENGINE_LEASE_SECONDS = 0.3  # renew every 0.1 s
    renewals = []

    def renew():
        renewals.append(time.monotonic())
        return len(renewals) < 3

    outcome = runner.run_with_timeout(lambda c: time.sleep(2), ctx(), timeout=10, renew=renew)
    assert outcome is runner.ABANDONED
    assert len(renewals) == 3


def test_outputs_are_stored_as_json_data():
    assert runner._serialize(NodeResult.single({"when": __import__("datetime").date(2030, 1, 2)})) == {
        "main": {"when": "2030-01-02"}
    }
    failure = runner._serialize(NodeResult.single({1, 2}))
    assert failure.type == runner.ERROR_OUTPUT_NOT_JSON
    assert not failure.retryable


@pytest.mark.parametrize(
    ("retry", "attempt", "low", "high"),
    [
        ({}, 1, 0.5, 1.0),
        ({"backoff_seconds": 2}, 3, 4.0, 8.0),
        ({"backoff_seconds": 10, "max_delay_seconds": 15}, 5, 7.5, 15.0),
        ({"backoff_seconds": 1, "backoff_factor": 3, "jitter": False}, 3, 9.0, 9.0),
    ],
)
def test_retry_delay_is_exponential_capped_and_jittered(retry, attempt, low, high):
    for _ in range(50):
        assert low <= retry_delay(retry, attempt) <= high


@pytest.mark.django_db
def test_credentials_named_in_the_config_are_decrypted_for_the_node(organization):
    CredentialFactory(organization=organization, name="api", data={"token": "t0k"})
    found = runner._credentials(str(organization.pk), ("credential",), {"credential": "api", "other": "x"})
    assert {name: credential.data for name, credential in found.items()} == {"api": {"token": "t0k"}}
    missing = runner._credentials(str(organization.pk), ("credential",), {"credential": "nope"})
    assert missing.message == runner.MSG_CREDENTIAL_MISSING.format(name="nope")
    assert runner._credentials(str(organization.pk), (), {"credential": "api"}) == {}


@pytest.mark.django_db
def test_another_organizations_credential_is_not_found(organization, other_organization):
    CredentialFactory(organization=other_organization, name="api")
    assert isinstance(runner._credentials(str(organization.pk), ("credential",), {"credential": "api"}), runner.Failure)


def test_an_unknown_node_type_fails_without_retrying():
    claim = runner.Claim(
        execution_id="e",
        node_execution_id="n",
        task_id="t",
        organization_id="o",
        node_id="n",
        node_type="no.such.type",
        attempt=1,
        spec={"config": {}},
        inputs={},
        expression_context={},
        resume=None,
    )
    failure, config, gate = runner.execute(claim)
    assert failure.type == runner.ERROR_UNKNOWN_TYPE
    assert config is None
    assert gate is None  # a run that never asked the circuit breaker records nothing in it
    assert not failure.retryable


@pytest.mark.django_db(transaction=True)
def test_a_suspend_of_an_unknown_kind_fails_the_node(engine_worker):
    workflow = make_workflow(*chain({"id": "w", "type": "test.wait", "config": {"kind": "nap", "seconds": 1}}))
    execution = wait_finished(start(workflow))
    assert node(execution, "w").error["message"] == runner.MSG_BAD_SUSPEND.format(kind="nap")


@pytest.mark.django_db(transaction=True)
def test_a_delay_without_a_wake_up_time_fails_the_node(engine_worker):
    workflow = make_workflow(*chain({"id": "w", "type": "test.wait", "config": {"kind": "delay"}}))
    execution = wait_finished(start(workflow))
    assert node(execution, "w").error["type"] == runner.ERROR_BAD_RESULT


def test_suspend_is_accepted_as_a_result():
    request = Suspend(kind="delay")
    assert runner.run_with_timeout(lambda c: request, ctx(), timeout=5, renew=lambda: True) is request


def test_node_error_data_that_is_not_json_is_kept_as_text():
    def run(c):
        raise NodeError("bad", data={"when": object()})

    failure = runner.run_with_timeout(run, ctx(), timeout=5, renew=lambda: True)
    assert failure.data["unserializable"].startswith("{'when': <object object")


@pytest.mark.django_db(transaction=True)
def test_a_suspend_with_data_that_is_not_json_fails_the_node(engine_worker, monkeypatch):
    from tests.executions.engine.testnodes import WaitNode

    monkeypatch.setattr(WaitNode, "run", lambda self, c: Suspend(kind="approval", data={"x": object()}))
    workflow = make_workflow(*chain({"id": "w", "type": "test.wait", "config": {"kind": "delay"}}))
    execution = wait_finished(start(workflow))
    assert node(execution, "w").error["message"] == runner.MSG_BAD_SUSPEND_DATA


def test_a_recorded_value_is_json_data_or_a_note_saying_why_not(settings):
    settings.CONCERTMASTER_NODE_OUTPUT_MAX_BYTES = 20
    assert runner._recorded({"main": [1, 2]}) == {"main": [1, 2]}
    assert runner._recorded({1, 2})["omitted"].startswith("not JSON data: ")
    # The limit counts the JSON text: 30 characters and their quotes.
    assert runner._recorded("x" * 30) == {"omitted": "32 bytes of JSON, over CONCERTMASTER_NODE_OUTPUT_MAX_BYTES (20)"}
