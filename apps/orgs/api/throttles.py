"""The per-organization rate limit: it needs the caller's organizations, so it sits above `apps.core`'s throttles."""

from apps.core.api.throttles import FailOpenThrottle

from .access import request_access


class OrganizationRateThrottle(FailOpenThrottle):
    """Requests per organization: a call counts against every organization the caller acts in."""

    scope = "organization"
    num_requests: int  # set by SimpleRateThrottle.__init__ from the rate
    duration: int

    def get_cache_key(self, request, view):  # one key per organization, see allow_request
        return None

    def allow_counted(self, request, view) -> bool:
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
