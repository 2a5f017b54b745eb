"""The demo organization's n8n integration: the product's seed row (http://localhost:5678, inactive, no key)."""

from django.db import transaction

from apps.orgs.models import Organization

from .choices import Service
from .models import Integration
from .services import integration_create

DEMO_N8N_URL = "http://localhost:5678"


@transaction.atomic
def demo_integration_seed(*, organization: Organization) -> Integration:
    """The demo's n8n row, created once. A local n8n is a private address: the seed allows it, as an admin would."""
    existing = Integration.objects.filter(organization=organization, service=Service.N8N, service_url=DEMO_N8N_URL)
    integration = existing.first()
    if integration is None:
        integration = integration_create(
            organization=organization, service_url=DEMO_N8N_URL, name="Local n8n", allow_private=True
        )
    return integration
