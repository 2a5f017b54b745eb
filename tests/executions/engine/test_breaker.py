"""The circuit breaker on the Django cache: closed, open after N failures, half-open with one probe."""

import time

import pytest
import time_machine
from django.core.cache import cache

from apps.executions.engine import breaker


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 3
    settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS = 60
    cache.clear()
    breaker._clean_until.clear()
    yield
    cache.clear()
    breaker._clean_until.clear()


def test_closed_until_the_threshold_of_consecutive_failures():
    for _ in range(2):
        breaker.record_failure("http_request")
    assert breaker.state("http_request") == breaker.CLOSED
    assert breaker.blocked_until("http_request") is None
    breaker.record_failure("http_request")
    assert breaker.state("http_request") == breaker.OPEN
    assert breaker.blocked_until("http_request") is not None


def test_a_success_resets_the_count():
    for _ in range(2):
        breaker.record_failure("http_request")
    breaker.record_success("http_request")
    breaker.record_failure("http_request")
    assert breaker.state("http_request") == breaker.CLOSED


def test_breakers_are_per_node_type():
    for _ in range(3):
        breaker.record_failure("http_request")
    assert breaker.state("email_send") == breaker.CLOSED


def test_open_blocks_until_the_cooldown_ends():
    with time_machine.travel(1_000_000, tick=False):
        for _ in range(3):
            breaker.record_failure("slack")
        until = breaker.blocked_until("slack")
        assert until.timestamp() == pytest.approx(1_000_060)


def test_half_open_lets_one_probe_through_then_closes_on_success():
    with time_machine.travel(1_000_000, tick=False) as traveller:
        for _ in range(3):
            breaker.record_failure("slack")
        traveller.shift(61)
        assert breaker.state("slack") == breaker.HALF_OPEN
        assert breaker.blocked_until("slack") is None  # the probe
        assert breaker.blocked_until("slack") is not None  # everyone else waits for its verdict
        breaker.record_success("slack")
        assert breaker.state("slack") == breaker.CLOSED
        assert breaker.blocked_until("slack") is None


def test_a_failed_probe_opens_the_breaker_again():
    with time_machine.travel(1_000_000, tick=False) as traveller:
        for _ in range(3):
            breaker.record_failure("slack")
        traveller.shift(61)
        assert breaker.blocked_until("slack") is None
        breaker.record_failure("slack")
        assert breaker.state("slack") == breaker.OPEN
        assert breaker.blocked_until("slack").timestamp() == pytest.approx(1_000_121)


def test_reset_closes_by_hand():
    for _ in range(3):
        breaker.record_failure("slack")
    breaker.reset("slack")
    assert breaker.state("slack") == breaker.CLOSED


def _failures_recorded_by_another_worker(node_type: str, count: int) -> None:
    """What another process's record_failure leaves in the cache (this process's memory is not told)."""
    cache.set(breaker._key(node_type, "failures"), count, timeout=None)
    cache.set(breaker._key(node_type, "opened"), time.time(), timeout=None)


def test_a_clean_answer_is_reused_for_the_local_seconds_then_read_again(settings):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 30
    asked = time.monotonic()
    assert breaker.admission("slack") == (None, False)
    assert asked < breaker._clean_until["slack"] <= time.monotonic() + 30
    _failures_recorded_by_another_worker("slack", 3)
    assert breaker.admission("slack") == (None, False)  # still this process's answer
    breaker._clean_until["slack"] = time.monotonic() - 0.001  # as when the local seconds have passed
    until, dirty = breaker.admission("slack")
    assert until is not None
    assert dirty


def test_a_failure_recorded_in_this_process_is_seen_at_once(settings):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 60
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 1
    assert breaker.admission("slack") == (None, False)
    breaker.record_failure("slack")
    until, dirty = breaker.admission("slack")
    assert until is not None
    assert dirty


def test_a_breaker_with_failures_is_read_every_time(settings):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = 60
    breaker.record_failure("slack")
    assert breaker.admission("slack") == (None, True)
    _failures_recorded_by_another_worker("slack", 3)
    assert breaker.admission("slack")[0] is not None


@pytest.mark.parametrize("seconds", [0, -1])
def test_zero_or_negative_local_seconds_reads_the_cache_every_time(settings, seconds):
    settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS = seconds
    assert breaker.admission("slack") == (None, False)
    _failures_recorded_by_another_worker("slack", 3)
    assert breaker.admission("slack")[0] is not None
