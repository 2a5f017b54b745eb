"""Rate limits per caller and per organization, counted in the cache (Redis in production)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .access import request_access


class _SettingsRate:
    """Read the rate when the throttle is built, not at import, so settings overrides apply."""

    def get_rate(self) -> str | None:
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


class CallerRateThrottle(_SettingsRate, SimpleRateThrottle):
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


class OrganizationRateThrottle(_SettingsRate, SimpleRateThrottle):
    """Requests per organization: a call counts against every organization the caller acts in."""

    scope = "organization"

    def get_cache_key(self, request, view):  # one key per organization, see allow_request
        return None

    def allow_request(self, request, view) -> bool:
        if self.rate is None or not request.user or not request.user.is_authenticated:
            return True
        organization_ids = sorted(str(pk) for pk in request_access(request).organization_ids())
        self.now = self.timer()
        histories = {}
        for organization_id in organization_ids:
            key = self.cache_format % {"scope": self.scope, "ident": organization_id}
            history = [t for t in self.cache.get(key, []) if t > self.now - self.duration]
            if len(history) >= self.num_requests:
                self.history = history
                return False
            histories[key] = history
        for key, history in histories.items():
            history.insert(0, self.now)
            self.cache.set(key, history, self.duration)
        return True
