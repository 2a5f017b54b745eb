"""The circuit breaker through a real worker: one breaker per organization, node type and target (the host of an
HTTP call), listed in the admin and reset from there."""

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from apps.executions.admin import BREAKERS_RESET
from apps.executions.engine import breaker
from apps.executions.models import CircuitBreaker, ExecutionEvent
from apps.orgs.models import AuditLog
from tests.executions.engine.helpers import TRIGGER, event_types, make_workflow, node, start, wait_finished, wait_node
from tests.nodes.fakeserver import FakeHTTPServer
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:executions_circuitbreaker_changelist"


@pytest.fixture(autouse=True)
def _breakers(settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 2
    settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def live():
    with FakeHTTPServer() as server:
        server.reply("GET", "/ok", json_body={"ok": True})
        yield server


@pytest.fixture
def dead_url() -> str:
    """The address of a server that has stopped: connections to it are refused."""
    with FakeHTTPServer() as server:
        url = server.url
    return url


def calling(organization, url: str):
    """A workflow whose one node GETs `url`; its failure is continued past, so the execution succeeds."""
    call = {"id": "call", "type": "http_request", "config": {"method": "GET", "url": url}, "on_error": "continue"}
    return make_workflow(
        [TRIGGER, call],
        [("start", "call")],
        organization=organization,
    )


def state_becomes(key: breaker.Key, expected: str, timeout: float = 10.0) -> bool:
    """The worker records an outcome just after the completion commits, so the state may lag a moment."""
    deadline = time.monotonic() + timeout
    while breaker.state(key) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return breaker.state(key) == expected


def admin_of(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return client


def test_a_dead_host_opens_one_organizations_breaker_for_that_host_only(engine_worker, live, dead_url, client):
    org_a, org_b = OrganizationFactory(), OrganizationFactory()
    dead_host = dead_url.removeprefix("http://")
    a_calls_dead = calling(org_a, f"{dead_url}/down")
    for _ in range(2):
        assert node(wait_finished(start(a_calls_dead)), "call").status == "failed"
    key = breaker.key_for(org_a.pk, "http_request", dead_host)
    assert state_becomes(key, breaker.OPEN)

    parked = wait_node(start(a_calls_dead), "call", "retrying")
    assert parked.attempt == 0
    event = ExecutionEvent.objects.get(execution_id=parked.execution_id, node_id="call", type="node_retrying")
    assert (event.data["reason"], event.data["breaker_target"]) == ("circuit_open", dead_host)

    # Another organization calling the same host still runs (and fails on its own).
    b_run = wait_finished(start(calling(org_b, f"{dead_url}/down")))
    b_call = node(b_run, "call")
    assert (b_call.status, b_call.attempt) == ("failed", 1)
    assert b_call.error["message"].startswith(f"Request to {dead_url}/down failed")
    assert "node_retrying" not in event_types(b_run, "call")
    # The same organization calling another host still runs.
    a_other = wait_finished(start(calling(org_a, f"{live.url}/ok")))
    assert node(a_other, "call").output["body"] == {"ok": True}

    row = CircuitBreaker.objects.get(organization=org_a)
    assert (row.node_type, row.target, row.state, row.failures) == ("http_request", dead_host, breaker.OPEN, 2)
    assert row.last_error.startswith(f"Request to {dead_url}/down failed")
    assert not CircuitBreaker.objects.filter(organization=org_b).exists()

    # Reset from the admin: the cache and the row close, the action is audited, the node it parked runs now and
    # new runs call the host again.
    client = admin_of(client, org_a)
    assert dead_host in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(
        reverse(CHANGELIST), {"action": "reset_circuit_breakers", "_selected_action": [str(row.pk)]}, follow=True
    )
    assert BREAKERS_RESET.format(count=1, woken=1) in response.content.decode()
    assert breaker.state(key) == breaker.CLOSED
    row.refresh_from_db()
    assert row.state == breaker.CLOSED
    audit = AuditLog.objects.get(organization=org_a, action="circuit_breaker.reset")
    assert audit.data["target"] == dead_host
    woken = node(wait_finished(parked.execution), "call")
    assert (woken.status, woken.attempt) == ("failed", 1)
    assert "breaker_target" not in woken.state
    again = wait_finished(start(a_calls_dead))
    assert (node(again, "call").status, node(again, "call").attempt) == ("failed", 1)


def test_the_breaker_admin_shows_only_the_members_organizations(engine_worker, client):
    org_a, org_b = OrganizationFactory(), OrganizationFactory()
    for _ in range(2):
        breaker.record_failure(breaker.key_for(org_a.pk, "http_request", "a.example.com"), "down")
    row = CircuitBreaker.objects.get(organization=org_a)
    client = admin_of(client, org_b)
    assert "a.example.com" not in client.get(reverse(CHANGELIST)).content.decode()
    client.post(reverse(CHANGELIST), {"action": "reset_circuit_breakers", "_selected_action": [str(row.pk)]})
    assert CircuitBreaker.objects.get(pk=row.pk).state == breaker.OPEN
    assert client.get(reverse("admin:executions_circuitbreaker_change", args=[row.pk])).status_code in (302, 404)
