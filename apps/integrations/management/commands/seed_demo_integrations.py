from django.core.management.base import BaseCommand, CommandError

from apps.integrations.demo import demo_integration_seed
from apps.orgs.models import Organization


class Command(BaseCommand):
    help = "Add the demo organization's n8n integration (http://localhost:5678, inactive). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--organization", default="demo", help="Slug of the organization (default: demo).")

    def handle(self, *args, organization: str, **options):
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            raise CommandError(f"No organization with slug {organization!r}.")
        integration = demo_integration_seed(organization=found)
        self.stdout.write(f"Integration '{integration.name}' at {integration.service_url} ({integration.status}).")
