from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.nodes.docs import docs_path, node_table, replace_table

STALE = "{path}: the built-in node table is out of date. Run `python manage.py node_docs --write`."


class Command(BaseCommand):
    help = "Print the table of built-in nodes, write it into docs/nodes.md (--write), or check it is current (--check)."

    def add_arguments(self, parser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--write", action="store_true", help="Replace the table in the document.")
        mode.add_argument("--check", action="store_true", help="Fail when the table in the document is stale.")
        parser.add_argument("--path", type=Path, default=None, help="The document (default: docs/nodes.md).")

    def handle(self, *args, write: bool, check: bool, path: Path | None, **options) -> None:
        table = node_table()
        if not (write or check):
            self.stdout.write(table)
            return
        path = path or docs_path()
        document = path.read_text()
        try:
            updated = replace_table(document, table, path=path)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if check:
            if updated != document:
                raise CommandError(STALE.format(path=path))
            self.stdout.write(f"{path}: up to date.")
            return
        path.write_text(updated)
        self.stdout.write(f"{path}: table written.")
