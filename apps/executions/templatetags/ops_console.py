"""The ops dashboard on the admin index (`templates/admin/index.html`): `{% ops_dashboard %}`.

A tag rather than a custom AdminSite so the project keeps Django's default site (every app registers on it). A
superuser sees every organization and the platform's queues and workers; other staff see their organizations.
"""

from django import template
from django.http import HttpRequest

from apps.core.admin import format_duration
from apps.orgs.admin_scoping import organization_ids

from ..dashboard import dashboard

register = template.Library()


@register.inclusion_tag("executions/ops_dashboard.html", takes_context=True)
def ops_dashboard(context: template.Context) -> dict:
    request: HttpRequest = context["request"]
    platform = request.user.is_superuser
    scope = None if platform else organization_ids(request)
    return {"d": dashboard(organization_ids=scope), "admin_links": True, "platform": platform}


@register.filter
def ms(value: float | None) -> str:
    """Milliseconds as the admin shows durations (`1.25 s`, `3 min 2 s`)."""
    return format_duration(None if value is None else round(value))


@register.simple_tag
def stuck_url(key: str) -> str:
    """The admin list of one stuck category."""
    from ..admin_ops import stuck_list_url

    return stuck_list_url(key)
