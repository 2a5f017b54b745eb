from django.conf import settings
from django.core.management.base import BaseCommand

from apps.workflows.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_bootstrap


class Command(BaseCommand):
    help = "Create the demo organization, admin user and workflow (embedded default only). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Create the demo even when CONCERTMASTER_DEMO is off.")

    def handle(self, *args, force: bool, **options):
        if not (settings.CONCERTMASTER_DEMO or force):
            self.stdout.write("CONCERTMASTER_DEMO is off: no demo data created.")
            return
        organization, workflow, _ = demo_bootstrap()
        self.stdout.write(self.style.SUCCESS(f"Demo organization '{organization}' with workflow '{workflow}'."))
        self.stdout.write(self.style.WARNING(f"Log in at /admin/ as {DEMO_USERNAME} / {DEMO_PASSWORD}"))
