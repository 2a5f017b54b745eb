from django.core.management.base import BaseCommand

from apps.orgs.variables import org_secret_rotate_all
from apps.workflows.services import credential_rotate_all


class Command(BaseCommand):
    help = "Re-encrypt every credential and organization secret with the first key of CONCERTMASTER_CREDENTIAL_KEYS."

    def handle(self, *args, **options):
        count = credential_rotate_all()
        secrets = org_secret_rotate_all()
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {count} credential(s) and {secrets} organization secret(s).")
        )
