"""Rate limits per caller and per organization, counted in the cache (Redis in production).

Fail open: while the cache raises (Redis down or timing out), every throttle lets requests through without
asking it for CONCERTMASTER_THROTTLE_FAIL_OPEN_SECONDS, logs that once per interval, and asks again after it,
so limits come back by themselves when Redis does. A request costs at most one short cache timeout
(CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS) per interval and process, not one per request.
"""

from typing import cast

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from apps.core.availability import Circuit

CACHE_FAILED = "The throttle cache is unavailable: rate limits are off"

#: What a failing cache raises: redis-py's ConnectionError and TimeoutError (RedisError), a socket's OSError.
CACHE_ERRORS = (RedisError, OSError)

cache_circuit = Circuit("throttle-cache", seconds=5.0)


class FailOpenThrottle(SimpleRateThrottle):
    """A SimpleRateThrottle that allows the request when its cache fails (see the module's docstring)."""

    def get_rate(self) -> str | None:
        # Read the rate when the throttle is built, not at import, so settings overrides apply.
        return cast(dict, settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})).get(self.scope)

    def allow_request(self, request, view) -> bool:
        if cache_circuit.is_open():
            return True
        try:
            return self.allow_counted(request, view)
        except CACHE_ERRORS as error:
            cache_circuit.seconds = settings.CONCERTMASTER_THROTTLE_FAIL_OPEN_SECONDS
            cache_circuit.trip(error, CACHE_FAILED)
            return True

    def allow_counted(self, request, view) -> bool:
        return super().allow_request(request, view)


class CallerRateThrottle(FailOpenThrottle):
    """Requests per user, per API key, or per client address when anonymous."""

    scope = "user"

    def get_cache_key(self, request, view):
        if request.auth is not None and hasattr(request.auth, "prefix"):
            ident = f"key:{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
