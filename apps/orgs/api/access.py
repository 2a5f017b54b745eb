"""The caller's Access, computed once per request."""

from rest_framework.request import Request

from apps.orgs.models import ApiKey
from apps.orgs.selectors import Access, access_for_api_key, access_for_user


def request_access(request: Request) -> Access:
    access = getattr(request, "_concertmaster_access", None)
    if access is None:
        if isinstance(request.auth, ApiKey):
            access = access_for_api_key(api_key=request.auth)
        else:
            access = access_for_user(user=request.user)
        request._concertmaster_access = access  # type: ignore[attr-defined]  # cached on the request
    return access
