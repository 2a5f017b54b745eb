from django.core.management.base import BaseCommand

from apps.nodes.services import node_type_sync


class Command(BaseCommand):
    help = "Mirror the node registry (built-ins and plugins) into NodeType rows; keeps each row's is_enabled."

    def handle(self, *args, **options) -> None:
        result = node_type_sync()
        for label, names in (("created", result.created), ("updated", result.updated), ("deleted", result.deleted)):
            self.stdout.write(f"{label}: {len(names)}" + (f" ({', '.join(names)})" if names else ""))
