"""`/analytics`: the ops dashboard for signed-in members, over the organizations they belong to.

The same numbers as the admin index (`dashboard.dashboard`), scoped to the member's organizations; the broker's
queues and other tenants' work on the workers are platform-wide, so members see only their own nodes there.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.orgs.selectors import access_for_user

from .dashboard import dashboard


@login_required
def analytics_page(request: HttpRequest) -> HttpResponse:
    access = access_for_user(user=request.user)
    # Memberships only: a workflow shared with the member from another organization does not open its numbers.
    scope = set(access.organization_ids()) if not request.user.is_superuser else None
    context = {"title": "Analytics", "d": dashboard(organization_ids=scope), "admin_links": False, "platform": False}
    return render(request, "site/analytics.html", context)
