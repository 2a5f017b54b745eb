"""ConcertMaster settings, read from the environment (django-environ).

With nothing set, the platform runs embedded: SQLite under var/, an in-memory channel layer and a
Celery worker + beat inside the server process. DATABASE_URL and REDIS_URL switch to production
services. Every CONCERTMASTER_* setting is documented in docs/operations.md.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from apps.core import mail as email_config
from apps.core.logging import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# =============================================================================
# CORE
# =============================================================================
# A laptop with nothing configured is a development machine; any service URL means a deployment.
DEBUG = env.bool("DEBUG", default=not (env("DATABASE_URL", default="") or env("REDIS_URL", default="")))
_DEV_SECRET_KEY = "django-insecure-concertmaster-dev-only-never-use-in-production"
SECRET_KEY = env("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "channels",
    "django_celery_beat",
    "apps.orgs",
    "apps.nodes",
    "apps.workflows",
    "apps.executions",
    "apps.integrations",
]

MIDDLEWARE = [
    # First, so every answer is counted and timed, a 503 of degraded mode too (apps/core/metrics.py).
    "apps.core.metrics.RequestMetricsMiddleware",
    "apps.core.logging.RequestIdMiddleware",
    # The database or the broker down: 503 with Retry-After, not 500 (apps/core/availability.py).
    "apps.core.availability.UnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "concertmaster.urls"
WSGI_APPLICATION = "concertmaster.wsgi.application"
ASGI_APPLICATION = "concertmaster.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES: dict[str, dict] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- Files between nodes (apps/nodes/files.py; docs/operations.md: files) ---
# local (the default): FileSystemStorage under CONCERTMASTER_FILES_ROOT; s3: django-storages' S3Storage on an AWS S3
# bucket or an S3-compatible server (MinIO) named by the CONCERTMASTER_FILES_S3_* variables.
CONCERTMASTER_FILES_BACKEND = env("CONCERTMASTER_FILES_BACKEND", default="local")
# Lifetime of a download link: a presigned S3 URL or a signed local download URL, in seconds.
CONCERTMASTER_FILES_URL_SECONDS = env.int("CONCERTMASTER_FILES_URL_SECONDS", default=300)
if CONCERTMASTER_FILES_BACKEND == "local":
    STORAGES["files"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": env("CONCERTMASTER_FILES_ROOT", default=str(VAR_DIR / "files"))},
    }
elif CONCERTMASTER_FILES_BACKEND == "s3":
    STORAGES["files"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("CONCERTMASTER_FILES_S3_BUCKET"),
            "endpoint_url": env("CONCERTMASTER_FILES_S3_ENDPOINT_URL", default=None),
            "region_name": env("CONCERTMASTER_FILES_S3_REGION", default=None),
            # Unset: boto3's own chain (environment, instance profile, ~/.aws).
            "access_key": env("CONCERTMASTER_FILES_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("CONCERTMASTER_FILES_S3_SECRET_ACCESS_KEY", default=None),
            # MinIO and most S3-compatible servers want path-style addressing.
            "addressing_style": env("CONCERTMASTER_FILES_S3_ADDRESSING_STYLE", default="auto"),
            "signature_version": "s3v4",
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": CONCERTMASTER_FILES_URL_SECONDS,
        },
    }
else:
    raise ImproperlyConfigured("CONCERTMASTER_FILES_BACKEND must be 'local' or 's3'.")
# Largest file a node writes or reads into memory, in bytes.
CONCERTMASTER_FILES_MAX_BYTES = env.int("CONCERTMASTER_FILES_MAX_BYTES", default=50 * 1024 * 1024)
# multipart/form-data uploads to webhooks and forms: the largest file, the largest whole body, and the content types
# accepted (anything else is a 400 naming the field).
CONCERTMASTER_UPLOAD_MAX_FILE_BYTES = env.int("CONCERTMASTER_UPLOAD_MAX_FILE_BYTES", default=10 * 1024 * 1024)
CONCERTMASTER_UPLOAD_MAX_BODY_BYTES = env.int("CONCERTMASTER_UPLOAD_MAX_BODY_BYTES", default=25 * 1024 * 1024)
CONCERTMASTER_UPLOAD_CONTENT_TYPES = env.list(
    "CONCERTMASTER_UPLOAD_CONTENT_TYPES",
    default=[
        "text/csv",
        "text/plain",
        "application/json",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "image/png",
        "image/jpeg",
    ],
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Members sign in on the product's own page (the admin's login refuses anyone without staff status).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
# Messages live in the session, not a cookie: an API key shown once must not travel in a readable cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# =============================================================================
# DATABASE
# =============================================================================
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'concertmaster.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several threads write in embedded mode (server + worker): wait for the lock instead of failing,
    # take it at BEGIN so two writers never deadlock, and let readers run beside the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Tests run a Celery worker in a thread: an in-memory shared-cache database locks whole tables and
    # ignores the busy timeout ("database table is locked"), so the test database is a file (one per process).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif env.bool("CONCERTMASTER_DB_POOL", default=sys.argv[1:2] == ["serve"]):
    # One psycopg_pool per process (docs/operations.md: sizing), on by default in web processes (`manage.py serve`,
    # and concertmaster/asgi.py for any ASGI server): under ASGI every request runs in a new thread, so CONN_MAX_AGE
    # never reused a connection and each request connected anew. Workers keep one connection per thread (their
    # threads live long) unless this is set. The pool needs CONN_MAX_AGE 0; a connection handed back is checked
    # (one empty round trip) before the next caller gets it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("CONCERTMASTER_DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("CONCERTMASTER_DB_POOL_MAX_SIZE", default=10),
        # Seconds a caller waits for a free connection before an OperationalError (a 503 for a request).
        "timeout": env.float("CONCERTMASTER_DB_POOL_TIMEOUT_SECONDS", default=10.0),
        # Idle connections above min_size are closed after this many seconds.
        "max_idle": env.float("CONCERTMASTER_DB_POOL_MAX_IDLE_SECONDS", default=300.0),
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

# =============================================================================
# REDIS: CACHE, CHANNEL LAYER, CELERY BROKER
# =============================================================================
REDIS_URL = env("REDIS_URL", default="")
EMBEDDED = not REDIS_URL


def _xdist_redis_url(url: str) -> str:
    """Under pytest-xdist (`make test` runs two test processes) each process gets a Redis database of its own:
    one shared broker queue would hand one process's tasks to the other's worker, and a test that purges or
    flushes it would take the other's. The URL is also put back in the environment, so the workers and servers
    a test starts as subprocesses use the same database (worked out from the first URL, so never twice)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker.startswith("gw") or "pytest" not in sys.modules:  # subprocesses keep what they get
        return url
    base = os.environ.setdefault("CONCERTMASTER_TEST_REDIS_BASE_URL", url)
    head, _, database = base.rpartition("/")
    if not database.isdigit():  # redis://host:port with no database: 0
        head, database = base.rstrip("/"), "0"
    url = f"{head}/{int(database) + 1 + int(worker[2:])}"
    os.environ["REDIS_URL"] = url
    return url


REDIS_URL = _xdist_redis_url(REDIS_URL)

# Seconds a cache call may wait on Redis (connect and read): a Redis that is down must not cost every request
# a long socket timeout (throttles then fail open for CONCERTMASTER_THROTTLE_FAIL_OPEN_SECONDS at a time).
CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS = env.float("CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS", default=1.0)
# Messages one server process's live-event channel may hold before channels-redis drops new ones (its default, 100,
# dropped finish events when a burst of runs outpaced a busy server).
CONCERTMASTER_WS_CHANNEL_CAPACITY = env.int("CONCERTMASTER_WS_CHANNEL_CAPACITY", default=20_000)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS,
                "socket_timeout": CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS,
            },
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # The read timeout must exceed channels-redis's 5 s blocking pop (redis-py 8's default is 5 s:
                # the two raced, the receive loop failed every ~6 s, and a message popped as the read gave up
                # was lost). A connect still fails fast when Redis is down.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 2}],
                # The hub's channel ("specific.*") carries every watched group of a server process.
                "channel_capacity": {"specific.*": CONCERTMASTER_WS_CHANNEL_CAPACITY},
            },
        }
    }
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, float] = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
    # kombu's in-memory transport polls once a second by default: every node hop would wait for it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.01}

# =============================================================================
# CELERY
# =============================================================================
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The queue tasks go to unless routed elsewhere (Celery's own setting): workers and beat of one deployment agree on it.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Keep the worker's database connection between tasks (Celery's Django fixup would reconnect around every
# task); the engine's tasks drop broken or CONN_MAX_AGE-expired connections as Django does per request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# The engine's periodic work (django-celery-beat's DatabaseScheduler copies these into PeriodicTask rows):
# re-queue nodes whose lease ran out and wake due retries, delays and approval timeouts; prune old executions.
CELERY_BEAT_SCHEDULE = {
    "concertmaster-engine-recover": {
        "task": "concertmaster.engine.recover",
        "schedule": env.float("CONCERTMASTER_ENGINE_RECOVERY_INTERVAL_SECONDS", default=5.0),
    },
    "concertmaster-engine-prune": {"task": "concertmaster.engine.prune", "schedule": 3600.0},
    # Alert rules (digests of failures, failure rates, stuck runs) and error workflow starts the broker lost.
    "concertmaster-alerts": {
        "task": "concertmaster.alerts.evaluate",
        "schedule": env.float("CONCERTMASTER_ALERTS_INTERVAL_SECONDS", default=60.0),
    },
    # Audit log, webhook deliveries, form submissions, execution logs and files, datastore rows (retention.py).
    "concertmaster-retention-prune": {"task": "concertmaster.retention.prune", "schedule": 3600.0},
}

# =============================================================================
# REST FRAMEWORK, OPENAPI
# =============================================================================
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.orgs.api.authentication.ApiKeyAuthentication",
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["apps.core.api.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.ApiAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.ApiCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.api_exception_handler",
    # JSON only: definitions and configs are nested JSON, which form encodings cannot carry.
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.LimitedJSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.api.throttles.CallerRateThrottle",
        "apps.orgs.api.throttles.OrganizationRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("CONCERTMASTER_THROTTLE_USER", default="600/min"),
        "organization": env("CONCERTMASTER_THROTTLE_ORGANIZATION", default="3000/min"),
        "webhook": env("CONCERTMASTER_THROTTLE_WEBHOOK", default="120/min"),
        "form": env("CONCERTMASTER_THROTTLE_FORM", default="30/min"),
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=1)),
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# Deepest nesting of arrays and objects accepted in a JSON body or message (API, webhooks, forms, WebSocket,
# imports); deeper is a 400 (Python's json module would otherwise fail with a RecursionError near 1,000).
CONCERTMASTER_JSON_MAX_DEPTH = env.int("CONCERTMASTER_JSON_MAX_DEPTH", default=100)
# Largest API request body, and largest webhook body, in bytes (413 beyond).
CONCERTMASTER_API_MAX_BODY_BYTES = env.int("CONCERTMASTER_API_MAX_BODY_BYTES", default=1024 * 1024)
CONCERTMASTER_WEBHOOK_MAX_BODY_BYTES = env.int("CONCERTMASTER_WEBHOOK_MAX_BODY_BYTES", default=256 * 1024)
# Webhook signatures older or newer than this many seconds are refused (replay window).
CONCERTMASTER_WEBHOOK_TOLERANCE_SECONDS = env.int("CONCERTMASTER_WEBHOOK_TOLERANCE_SECONDS", default=300)
# How long a webhook `Idempotency-Key` deduplicates deliveries.
CONCERTMASTER_WEBHOOK_IDEMPOTENCY_HOURS = env.int("CONCERTMASTER_WEBHOOK_IDEMPOTENCY_HOURS", default=24)
# The webhook inbox keeps every delivery (headers without secrets, body up to the cap) this many days; the hourly
# prune task deletes older ones. A GitHub signature has no timestamp: its replay is refused for this long.
CONCERTMASTER_WEBHOOK_INBOX_DAYS = env.int("CONCERTMASTER_WEBHOOK_INBOX_DAYS", default=7)
CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES = env.int("CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES", default=64 * 1024)
# Longest `?wait=` of the execute action and synchronous webhook response, in seconds.
CONCERTMASTER_MAX_WAIT_SECONDS = env.int("CONCERTMASTER_MAX_WAIT_SECONDS", default=30)
SPECTACULAR_SETTINGS = {
    "TITLE": "ConcertMaster API",
    "DESCRIPTION": "Workflow automation and data orchestration.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: Swagger UI would send the schema's URL to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    # The system's fonts (drf-spectacular's Redoc page would load Montserrat and Roboto from Google Fonts).
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
                "headings": {"fontFamily": 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'},
                "code": {"fontFamily": "ui-monospace, SFMono-Regular, Menlo, monospace"},
            }
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "apps.executions.choices.ExecutionStatus",
        "NodeStatusEnum": "apps.executions.choices.NodeStatus",
        "WorkflowStatusEnum": "apps.workflows.choices.WorkflowStatus",
        "TriggerKindEnum": "apps.workflows.choices.TriggerKind",
        "RoleEnum": "apps.orgs.choices.Role",
    },
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.api.schema.strip_database_integer_bounds",
    ],
}

# =============================================================================
# EMAIL
# =============================================================================
# EMAIL_URL (smtp+tls://user:password@host:587, smtp+ssl://...:465, smtp://host:25, consolemail://,
# filemail:///path) or the EMAIL_* variables. With neither, the embedded default writes each message as a file
# under var/mail (an email_send node succeeds after `make run`); production sends through SMTP on EMAIL_HOST.
EMAIL_URL = env("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(email_config.email_url_settings(EMAIL_URL, base_dir=BASE_DIR))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default=email_config.FILE_BACKEND if EMBEDDED else email_config.SMTP_BACKEND)
    EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
    EMAIL_HOST = env("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# Seconds an SMTP connection may block (Django's default is forever).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ConcertMaster <concertmaster@localhost>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# =============================================================================
# SECURITY (production)
# =============================================================================
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]

# =============================================================================
# LOGGING
# =============================================================================
# Structured logs (structlog): JSON lines in production, readable text when DEBUG; LOG_FORMAT overrides.
LOG_FORMAT = env("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}.")
LOGGING = logging_config(json=LOG_FORMAT == "json", level=env("LOG_LEVEL", default="INFO"))
configure_structlog()

# =============================================================================
# CONCERTMASTER
# =============================================================================
# Fernet keys for credentials at rest, newest first; older keys still decrypt (rotation).
_DEV_CREDENTIAL_KEY = "Y29uY2VydG1hc3Rlci1kZXYtb25seS1rZXktMDAwMDA="
CONCERTMASTER_CREDENTIAL_KEYS = env.list(
    "CONCERTMASTER_CREDENTIAL_KEYS", default=[_DEV_CREDENTIAL_KEY] if DEBUG or EMBEDDED else []
)
# Start a Celery worker and beat inside the server process (embedded mode only).
CONCERTMASTER_EMBEDDED_WORKER = env.bool("CONCERTMASTER_EMBEDDED_WORKER", default=EMBEDDED)
# Create the demo organization, admin user and workflow at `make run`.
CONCERTMASTER_DEMO = env.bool("CONCERTMASTER_DEMO", default=EMBEDDED)
# Let network nodes (http_request, webhooks, Slack, GitHub) reach private, loopback and link-local addresses.
CONCERTMASTER_ALLOW_PRIVATE_HTTP = env.bool("CONCERTMASTER_ALLOW_PRIVATE_HTTP", default=False)
# Where people reach this server (https://concertmaster.example.com): makes the execution links in alerts and in
# error workflows' input absolute. Empty: the links are paths.
CONCERTMASTER_PUBLIC_URL = env("CONCERTMASTER_PUBLIC_URL", default="")

# --- Execution engine ---
# A running node renews its lease every third of this; when a lease runs out (a killed worker) the
# reaper re-queues the node. Keep it well above a worker's longest pause (GC, a blocked database).
CONCERTMASTER_ENGINE_LEASE_SECONDS = env.int("CONCERTMASTER_ENGINE_LEASE_SECONDS", default=60)
# A queued node whose task has not started after this long is sent again, whatever the broker says (the last resort
# when the broker cannot be read: see the recovery settings below).
CONCERTMASTER_ENGINE_REDISPATCH_SECONDS = env.int("CONCERTMASTER_ENGINE_REDISPATCH_SECONDS", default=900)
# Recovery in seconds (engine/presence.py): every worker records the tasks it holds every HEARTBEAT seconds; one not
# heard from for WORKER_TIMEOUT seconds is gone. A queued node sent LOST_MESSAGE seconds ago whose message is neither
# waiting in the broker nor held by a live worker is sent again (the same task id: a duplicate is a no-op claim). A
# running node renews its lease every LEASE_RENEW seconds (at most a third of the lease); one whose worker is gone and
# whose lease was not renewed for three times that is re-queued without waiting for the lease to run out. The reaper
# reads broker queues up to BROKER_SCAN_LIMIT messages long (a longer backlog is left to REDISPATCH_SECONDS).
CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS = env.float("CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS", default=2.0)
CONCERTMASTER_ENGINE_WORKER_TIMEOUT_SECONDS = env.float("CONCERTMASTER_ENGINE_WORKER_TIMEOUT_SECONDS", default=6.0)
CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS = env.float("CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS", default=5.0)
CONCERTMASTER_ENGINE_LEASE_RENEW_SECONDS = env.float("CONCERTMASTER_ENGINE_LEASE_RENEW_SECONDS", default=3.0)
CONCERTMASTER_ENGINE_BROKER_SCAN_LIMIT = env.int("CONCERTMASTER_ENGINE_BROKER_SCAN_LIMIT", default=20_000)
# Waits up to this long are also scheduled as a task countdown; longer ones are woken by beat only. Keep it
# far below the Redis broker's visibility timeout (3600 s), past which a countdown is delivered twice.
CONCERTMASTER_ENGINE_MAX_COUNTDOWN_SECONDS = env.int("CONCERTMASTER_ENGINE_MAX_COUNTDOWN_SECONDS", default=60)
# How often a node waiting for child executions re-checks them (a safety net for a lost notification).
CONCERTMASTER_ENGINE_CHILDREN_RECHECK_SECONDS = env.int("CONCERTMASTER_ENGINE_CHILDREN_RECHECK_SECONDS", default=60)
# PostgreSQL: the engine's hot statements (claim, lock, completion) are prepared once per connection. Turn off behind
# a pooler in transaction mode that cannot keep prepared statements (PgBouncer before 1.21).
CONCERTMASTER_ENGINE_PREPARED_STATEMENTS = env.bool("CONCERTMASTER_ENGINE_PREPARED_STATEMENTS", default=True)
# The engine's persistence path (engine/store.py): "auto" = the hand-written statements on PostgreSQL and the ORM
# elsewhere; "orm" = the ORM everywhere; "sql" = the statements (PostgreSQL only). Tests run both and compare the rows.
CONCERTMASTER_ENGINE_STORE = env.str("CONCERTMASTER_ENGINE_STORE", default="auto")
# A node without `timeout_seconds` fails after this many seconds.
CONCERTMASTER_NODE_DEFAULT_TIMEOUT_SECONDS = env.int("CONCERTMASTER_NODE_DEFAULT_TIMEOUT_SECONDS", default=300)
# Operations (loop steps, calls, lookups, operators, per-item filters) the expressions of one node run may take:
# its config's render and its per-item evaluations (map, filter, sort, ...) share them. Past it the node fails with
# "The expression is too expensive". The node's timeout_seconds bounds their time as well.
CONCERTMASTER_EXPRESSION_MAX_OPERATIONS = env.int("CONCERTMASTER_EXPRESSION_MAX_OPERATIONS", default=1_000_000)
# Largest node output stored, in bytes of JSON; a larger output fails the node with a clear error.
CONCERTMASTER_NODE_OUTPUT_MAX_BYTES = env.int("CONCERTMASTER_NODE_OUTPUT_MAX_BYTES", default=1024 * 1024)
# Execution logs (ctx.log, ctx.logger, the log node): lines kept per execution, characters kept per message.
CONCERTMASTER_EXECUTION_LOG_MAX_LINES = env.int("CONCERTMASTER_EXECUTION_LOG_MAX_LINES", default=1000)
CONCERTMASTER_EXECUTION_LOG_MAX_MESSAGE_CHARS = env.int("CONCERTMASTER_EXECUTION_LOG_MAX_MESSAGE_CHARS", default=8000)
# Pinned data of a workflow's draft (test runs use it instead of running the pinned nodes), in bytes of JSON.
CONCERTMASTER_PINS_MAX_BYTES = env.int("CONCERTMASTER_PINS_MAX_BYTES", default=1024 * 1024)

# --- Code steps (apps/nodes/sandbox, docs/security.md) ---
# code_python and code_js run in a bubblewrap sandbox: without bwrap they fail (never run unsandboxed).
CONCERTMASTER_SANDBOX_BWRAP = env("CONCERTMASTER_SANDBOX_BWRAP", default="bwrap")
# The interpreter sandboxes run (only its binary, standard library and libpython are mounted); default: this one's.
CONCERTMASTER_SANDBOX_PYTHON = env("CONCERTMASTER_SANDBOX_PYTHON", default="")
# Extra package folders mounted read-only on the sandbox's sys.path, and the module names code may import from
# them or from the standard library beyond the curated list.
CONCERTMASTER_SANDBOX_PYTHON_PATHS = env.list("CONCERTMASTER_SANDBOX_PYTHON_PATHS", default=[])
CONCERTMASTER_SANDBOX_PYTHON_MODULES = env.list("CONCERTMASTER_SANDBOX_PYTHON_MODULES", default=[])
# Let a code step whose config asks for it (`network: true`) use the worker's network (no private-address rule).
CONCERTMASTER_SANDBOX_ALLOW_NETWORK = env.bool("CONCERTMASTER_SANDBOX_ALLOW_NETWORK", default=False)
# Limits of one run: memory (Python: address space; JS: V8 heap), CPU seconds, wall seconds (also cut by the node's
# timeout), printed log kept, scratch /tmp size, threads. The answer is bounded by CONCERTMASTER_NODE_OUTPUT_MAX_BYTES.
CONCERTMASTER_SANDBOX_MEMORY_MB = env.int("CONCERTMASTER_SANDBOX_MEMORY_MB", default=256)
CONCERTMASTER_SANDBOX_CPU_SECONDS = env.int("CONCERTMASTER_SANDBOX_CPU_SECONDS", default=10)
CONCERTMASTER_SANDBOX_WALL_SECONDS = env.float("CONCERTMASTER_SANDBOX_WALL_SECONDS", default=30.0)
CONCERTMASTER_SANDBOX_LOG_MAX_BYTES = env.int("CONCERTMASTER_SANDBOX_LOG_MAX_BYTES", default=64 * 1024)
CONCERTMASTER_SANDBOX_SCRATCH_MB = env.int("CONCERTMASTER_SANDBOX_SCRATCH_MB", default=16)
CONCERTMASTER_SANDBOX_MAX_THREADS = env.int("CONCERTMASTER_SANDBOX_MAX_THREADS", default=64)
# Warm sandboxes kept ready per worker process and language (each serves one run, then a new one starts).
CONCERTMASTER_SANDBOX_POOL_SIZE = env.int("CONCERTMASTER_SANDBOX_POOL_SIZE", default=1)
# Finished executions older than this many days are deleted by the hourly prune task.
CONCERTMASTER_EXECUTION_RETENTION_DAYS = env.int("CONCERTMASTER_EXECUTION_RETENTION_DAYS", default=30)
# Retention of other rows, in days (0: keep forever); an organization's RetentionPolicy overrides each one. The
# hourly task concertmaster.retention.prune deletes them RETENTION_BATCH_SIZE rows per transaction. Webhook
# deliveries follow CONCERTMASTER_WEBHOOK_INBOX_DAYS.
CONCERTMASTER_RETENTION_AUDIT_LOG_DAYS = env.int("CONCERTMASTER_RETENTION_AUDIT_LOG_DAYS", default=365)
CONCERTMASTER_RETENTION_FORM_SUBMISSION_DAYS = env.int("CONCERTMASTER_RETENTION_FORM_SUBMISSION_DAYS", default=90)
# Log lines of a node; by default as long as their execution (whose deletion takes them anyway).
CONCERTMASTER_RETENTION_EXECUTION_LOG_DAYS = env.int(
    "CONCERTMASTER_RETENTION_EXECUTION_LOG_DAYS", default=CONCERTMASTER_EXECUTION_RETENTION_DAYS
)
# Datastore rows not written for this many days (0: kept until a workflow deletes them).
CONCERTMASTER_RETENTION_DATASTORE_DAYS = env.int("CONCERTMASTER_RETENTION_DATASTORE_DAYS", default=0)
# Files executions received or wrote (their stored bytes too); by default as long as their execution.
CONCERTMASTER_RETENTION_FILE_DAYS = env.int(
    "CONCERTMASTER_RETENTION_FILE_DAYS", default=CONCERTMASTER_EXECUTION_RETENTION_DAYS
)
CONCERTMASTER_RETENTION_BATCH_SIZE = env.int("CONCERTMASTER_RETENTION_BATCH_SIZE", default=1000)
# Circuit breaker per organization, node type and target (a host, a credential): open after this many consecutive
# failures, probe again after the cool-down.
CONCERTMASTER_BREAKER_THRESHOLD = env.int("CONCERTMASTER_BREAKER_THRESHOLD", default=5)
CONCERTMASTER_BREAKER_COOLDOWN_SECONDS = env.int("CONCERTMASTER_BREAKER_COOLDOWN_SECONDS", default=60)
# A worker reuses a breaker's "closed, no failures" answer for this long instead of asking the cache before every
# node; failures recorded by other workers are seen this much later (0: ask every time).
CONCERTMASTER_BREAKER_LOCAL_SECONDS = env.float("CONCERTMASTER_BREAKER_LOCAL_SECONDS", default=1.0)

# --- Ops console (the admin index's dashboard, /analytics, the stuck-run views: docs/operations.md) ---
# An execution running longer than this is listed as "running too long".
CONCERTMASTER_OPS_RUNNING_MINUTES = env.int("CONCERTMASTER_OPS_RUNNING_MINUTES", default=60)
# A node queued this long without starting is listed as "queued, never started".
CONCERTMASTER_OPS_QUEUED_MINUTES = env.int("CONCERTMASTER_OPS_QUEUED_MINUTES", default=5)
# A waiting or retrying node this long past its wake-up time is listed as "overdue" (the waker runs every few seconds).
CONCERTMASTER_OPS_OVERDUE_SECONDS = env.int("CONCERTMASTER_OPS_OVERDUE_SECONDS", default=60)
# The dashboard's numbers are kept this long in the cache, per set of organizations (0: computed at every load).
CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS = env.int("CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS", default=30)

# --- Degraded mode (apps/core/availability.py) ---
# Retry-After of a 503 answered while the database or the broker is down.
CONCERTMASTER_RETRY_AFTER_SECONDS = env.int("CONCERTMASTER_RETRY_AFTER_SECONDS", default=5)
# After a cache failure, throttles let requests through without asking Redis for this many seconds, then ask again.
CONCERTMASTER_THROTTLE_FAIL_OPEN_SECONDS = env.float("CONCERTMASTER_THROTTLE_FAIL_OPEN_SECONDS", default=5.0)

# --- Live updates (WebSockets) ---
# Messages waiting to be written to one slow client; past this the server closes with 4008 and the
# client reconnects with ?since=<last seq> (the database keeps every event).
CONCERTMASTER_WS_SEND_QUEUE = env.int("CONCERTMASTER_WS_SEND_QUEUE", default=500)
# Seconds between server pings on an open stream; each ping also resends events a full channel dropped.
CONCERTMASTER_WS_HEARTBEAT_SECONDS = env.float("CONCERTMASTER_WS_HEARTBEAT_SECONDS", default=20.0)
# Seconds between an open stream's checks that its caller may still watch it (a membership, role, share or API key
# change also makes it check at once); a caller who may not is closed with 4403.
CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS = env.float("CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS", default=60.0)
