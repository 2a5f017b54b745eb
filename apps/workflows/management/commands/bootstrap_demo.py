from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.workflows.demo import (
    DEMO_MEMBER_PASSWORD,
    DEMO_MEMBER_USERNAME,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    demo_bootstrap,
)

#: Where `make run` serves (its HOST and PORT defaults).
SERVER_URL = "http://127.0.0.1:8000/"


class Command(BaseCommand):
    help = "Create the demo organization, its admin and member users and a workflow (embedded default). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Create the demo even when CONCERTMASTER_DEMO is off.")

    def handle(self, *args, force: bool, **options):
        if not (settings.CONCERTMASTER_DEMO or force):
            self.stdout.write("CONCERTMASTER_DEMO is off: no demo data created.")
            return
        organization, workflow, _ = demo_bootstrap()
        if apps.is_installed("apps.integrations"):  # a later app: named, not imported (dependency direction)
            call_command("seed_demo_integrations", organization=organization.slug, stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS(f"Demo organization '{organization}' with workflow '{workflow}'."))
        self.stdout.write(self.style.WARNING(f"Sign in at {SERVER_URL} as {DEMO_USERNAME} / {DEMO_PASSWORD} (staff)"))
        self.stdout.write(
            self.style.WARNING(f"  or as {DEMO_MEMBER_USERNAME} / {DEMO_MEMBER_PASSWORD} (a member, no staff status)")
        )
        self.stdout.write(f"The admin, for staff: {SERVER_URL}admin/")
