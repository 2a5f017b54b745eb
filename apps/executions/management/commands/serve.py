"""`manage.py serve`: the ASGI server (HTTP + WebSockets), plus the embedded worker and beat when enabled."""

import asyncio

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from uvicorn.supervisors import Multiprocess

from concertmaster import embedded

WORKERS_NEED_SERVICES = (
    "--workers above 1 needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL): the embedded broker, worker and "
    "channel layer live in one process."
)


class Command(BaseCommand):
    help = "Serve HTTP and WebSockets; in embedded mode also run a Celery worker and beat in this process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="Do not start the embedded worker and beat.")
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="Web processes sharing the port (uvicorn's supervisor; production mode only).",
        )

    def handle(self, *args, host: str, port: int, no_worker: bool, workers: int, **options):
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        if workers > 1 and (settings.EMBEDDED or settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")):
            raise CommandError(WORKERS_NEED_SERVICES)
        if settings.CONCERTMASTER_EMBEDDED_WORKER and not no_worker:
            embedded.start()
            self.stdout.write("Embedded Celery worker and beat running in this process.")
        self.stdout.write(f"Serving on http://{host}:{port}/ (admin: http://{host}:{port}/admin/)")
        # Live events are small JSON frames sent to many sockets: compressing each one (permessage-deflate)
        # costs more server CPU than the bytes it saves.
        config = uvicorn.Config(
            "concertmaster.asgi:application",
            host=host,
            port=port,
            lifespan="off",
            log_level="info",
            ws_per_message_deflate=False,
            workers=workers,
        )
        if workers > 1:
            # Each process imports the application afresh (spawned), with its own connection pool and hub.
            self.stdout.write(f"{workers} web processes")
            Multiprocess(config, sockets=[config.bind_socket()]).run()
            return
        # Run the server through embedded.serve so its loop is registered: the embedded worker thread hands
        # its live events to that loop, which owns the in-memory channel layer.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(embedded.serve(uvicorn.Server(config)))
