"""The circuit breaker on the Django cache: closed, open after N failures, half-open with one probe; one breaker per
organization, node type and target; transitions mirrored into CircuitBreaker rows."""

import time

import pytest
import time_machine
from django.core.cache import cache

from apps.executions.engine import breaker

ORG_A, ORG_B = "7a0e6a54-0000-4000-8000-00000000000a", "7a0e6a54-0000-4000-8000-00000000000b"
HTTP = breaker.key_for(ORG_A, "http_request", "api.example.com")
SLACK = breaker.key_for(ORG_A, "slack_message")


@pytest.fixture(autouse=True)
def transitions(request, monkeypatch):
    """The transitions mirrored into CircuitBreaker rows, as (key, state) (rows are written by the `db` tests)."""
    recorded = []
    if "db" not in request.fixturenames:
        monkeypatch.setattr(breaker, "_mirror", lambda key, state, **values: recorded.append((key, state)))
    return recorded


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 3
    settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS = 60
    cache.clear()
    breaker._clean_until.clear()
    breaker._forgotten_at.clear()
    yield
    cache.clear()
    breaker._clean_until.clear()
    breaker._forgotten_at.clear()


def test_closed_until_the_threshold_of_consecutive_failures():
    for _ in range(2):
        breaker.record_failure(HTTP)
    assert breaker.state(HTTP) == breaker.CLOSED
    assert breaker.blocked_until(HTTP) is None
    breaker.record_failure(HTTP)
    assert breaker.state(HTTP) == breaker.OPEN
    assert breaker.blocked_until(HTTP) is not None


def test_a_success_resets_the_count():
    for _ in range(2):
        breaker.record_failure(HTTP)
    breaker.record_success(HTTP)
    breaker.record_failure(HTTP)
    assert breaker.state(HTTP) == breaker.CLOSED


def test_breakers_are_per_organization_node_type_and_target():
    for _ in range(3):
        breaker.record_failure(HTTP)
    assert breaker.state(HTTP) == breaker.OPEN
    assert breaker.state(breaker.key_for(ORG_A, "email_send")) == breaker.CLOSED
    assert breaker.state(breaker.key_for(ORG_A, "http_request", "other.example.com")) == breaker.CLOSED
    assert breaker.state(breaker.key_for(ORG_A, "http_request")) == breaker.CLOSED
    assert breaker.state(breaker.key_for(ORG_B, "http_request", "api.example.com")) == breaker.CLOSED
    assert breaker.admission(breaker.key_for(ORG_B, "http_request", "api.example.com")) == (None, False)


def test_open_blocks_until_the_cooldown_ends():
    with time_machine.travel(1_000_000, tick=False):
        for _ in range(3):
            breaker.record_failure(SLACK)
        until = breaker.blocked_until(SLACK)
        assert until.timestamp() == pytest.approx(1_000_060)


def test_half_open_lets_one_probe_through_then_closes_on_success():
    with time_machine.travel(1_000_000, tick=False) as traveller:
        for _ in range(3):
            breaker.record_failure(SLACK)
        traveller.shift(61)
        assert breaker.state(SLACK) == breaker.HALF_OPEN
        assert breaker.blocked_until(SLACK) is None  # the probe
        assert breaker.blocked_until(SLACK) is not None  # everyone else waits for its verdict
        breaker.record_success(SLACK)
        assert breaker.state(SLACK) == breaker.CLOSED
        assert breaker.blocked_until(SLACK) is None


def test_a_failed_probe_opens_the_breaker_again():
    with time_machine.travel(1_000_000, tick=False) as traveller:
        for _ in range(3):
            breaker.record_failure(SLACK)
        traveller.shift(61)
        assert breaker.blocked_until(SLACK) is None
        breaker.record_failure(SLACK)
        assert breaker.state(SLACK) == breaker.OPEN
        assert breaker.blocked_until(SLACK).timestamp() == pytest.approx(1_000_121)


def test_reset_closes_by_hand():
    for _ in range(3):
        breaker.record_failure(SLACK)
    breaker.reset(SLACK)
    assert breaker.state(SLACK) == breaker.CLOSED


def _failures_recorded_by_another_worker(key: breaker.Key, count: int) -> None:
    """What another process's record_failure leaves in the cache (this process's memory is not told)."""
    cache.set(breaker._key(key, "failures"), count, timeout=None)
    cache.set(breaker._key(key, "opened"), time.time(), timeout=None)


def test_a_clean_answer_is_reused_for_the_local_seconds_then_read_again(settings):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 30
    asked = time.monotonic()
    assert breaker.admission(SLACK) == (None, False)
    assert asked < breaker._clean_until[SLACK] <= time.monotonic() + 30
    _failures_recorded_by_another_worker(SLACK, 3)
    assert breaker.admission(SLACK) == (None, False)  # still this process's answer
    breaker._clean_until[SLACK] = time.monotonic() - 0.001  # as when the local seconds have passed
    until, dirty = breaker.admission(SLACK)
    assert until is not None
    assert dirty


def test_a_failure_recorded_in_this_process_is_seen_at_once(settings):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 60
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 1
    assert breaker.admission(SLACK) == (None, False)
    breaker.record_failure(SLACK)
    until, dirty = breaker.admission(SLACK)
    assert until is not None
    assert dirty


def test_a_breaker_with_failures_is_read_every_time(settings):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 60
    breaker.record_failure(SLACK)
    assert breaker.admission(SLACK) == (None, True)
    _failures_recorded_by_another_worker(SLACK, 3)
    assert breaker.admission(SLACK)[0] is not None


@pytest.mark.parametrize("seconds", [0, -1])
def test_zero_or_negative_local_seconds_reads_the_cache_every_time(settings, seconds):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = seconds
    assert breaker.admission(SLACK) == (None, False)
    _failures_recorded_by_another_worker(SLACK, 3)
    assert breaker.admission(SLACK)[0] is not None


def test_transitions_are_mirrored_once_each(transitions):
    with time_machine.travel(1_000_000, tick=False) as traveller:
        for _ in range(3):
            breaker.record_failure(SLACK)
        assert transitions == [(SLACK, breaker.OPEN)]
        traveller.shift(61)
        assert breaker.blocked_until(SLACK) is None  # the probe
        assert breaker.blocked_until(SLACK) is not None
        breaker.record_success(SLACK)
        breaker.record_success(SLACK)  # already closed: no transition
    assert transitions == [(SLACK, breaker.OPEN), (SLACK, breaker.HALF_OPEN), (SLACK, breaker.CLOSED)]


def test_failures_below_the_threshold_and_their_reset_are_no_transition(transitions):
    breaker.record_failure(SLACK)
    breaker.record_success(SLACK)
    assert transitions == []


def test_the_clean_answers_kept_per_process_are_bounded(settings, monkeypatch):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 60
    monkeypatch.setattr(breaker, "LOCAL_MAX_KEYS", 8)
    for index in range(100):
        key = breaker.key_for(ORG_A, "http_request", f"host{index}.example.com")
        assert breaker.admission(key) == (None, False)
        breaker.record_failure(breaker.key_for(ORG_B, "http_request", f"host{index}.example.com"))
        assert len(breaker._clean_until) <= 8
        assert len(breaker._forgotten_at) <= 8
    assert breaker.admission(key) == (None, False)  # the newest answer is kept
    assert key in breaker._clean_until


def test_expired_answers_go_first_when_the_table_is_full(monkeypatch):
    monkeypatch.setattr(breaker, "LOCAL_MAX_KEYS", 4)
    table = {breaker.key_for(ORG_A, "t", str(index)): float(index) for index in range(4)}
    breaker._drop_expired(table, before=1.0)
    assert sorted(key.target for key in table) == ["2", "3"]


def test_a_target_unfit_for_a_cache_key_is_hashed():
    odd = breaker.key_for(ORG_A, "custom", "a target with spaces/and slashes")
    cache_key = breaker._key(odd, "opened")
    assert " " not in cache_key
    assert cache_key != breaker._key(breaker.key_for(ORG_A, "custom", "another target"), "opened")
    assert breaker._key(HTTP, "opened").endswith(":http_request:api.example.com:opened")
    assert len(breaker.key_for(ORG_A, "custom", "x" * 1000).target) == breaker.TARGET_MAX


def test_transitions_are_written_to_the_breaker_row_and_reset_closes_both(db, organization):
    from apps.executions.models import CircuitBreaker

    key = breaker.key_for(organization.pk, "http_request", "api.example.com")
    for _ in range(3):
        breaker.record_failure(key, "GET https://api.example.com/ failed: connection refused")
    row = CircuitBreaker.objects.get(organization=organization, node_type="http_request", target="api.example.com")
    assert row.state == breaker.OPEN
    assert row.failures == 3
    assert row.last_error.startswith("GET https://api.example.com/ failed")
    assert row.opened_until.timestamp() == pytest.approx(time.time() + 60, abs=5)
    breaker.reset(key)
    row.refresh_from_db()
    assert (row.state, row.failures, row.opened_until) == (breaker.CLOSED, 0, None)
    assert breaker.state(key) == breaker.CLOSED
    assert row.last_error  # kept for the record


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://API.Example.com/v1/items?q=1", "api.example.com"),
        ("http://user:secret@10.0.0.5:8080/x", "10.0.0.5:8080"),
        ("https://example.com:443/", "example.com"),
        ("ftp://example.com/file", None),
        ("not a url", None),
        (None, None),
    ],
)
def test_http_nodes_are_keyed_by_the_host_they_call(url, target):
    from apps.nodes.registry import registry

    assert registry.get("http_request").breaker_target({"method": "GET", "url": url}) == target
    assert registry.get("outgoing_webhook").breaker_target({"url": url, "credential": "c"}) == target


def test_a_node_without_a_target_of_its_own_is_keyed_by_its_credential_else_by_type():
    from types import SimpleNamespace

    from apps.executions.engine.runner import _breaker_target
    from apps.nodes.registry import registry

    slack, log = registry.get("slack_message"), registry.get("log")
    credential = SimpleNamespace(pk="5b0c")
    assert _breaker_target(slack, {"text": "hi", "credential": "hook"}, {"hook": credential}) == "credential:5b0c"
    assert _breaker_target(slack, {"text": "hi", "webhook_url": "https://hooks.slack.com/x"}, {}) == "hooks.slack.com"
    assert _breaker_target(log, {"message": "hi"}, {}) is None
    assert registry.get("github_issue").breaker_target({"owner": "o"}) == "api.github.com"


def test_a_failing_target_hook_keys_the_node_by_type_and_the_run_goes_on():
    from apps.executions.engine.runner import _breaker_target

    class Broken:
        @classmethod
        def breaker_target(cls, config: dict) -> str | None:
            raise KeyError("url")

    assert _breaker_target(Broken, {}, {}) is None
