"""Tremor settings: one file, every deployment difference comes from the environment.

Defaults are for a laptop: SQLite under var/, a Celery broker on the local filesystem,
no email server. Production sets DEBUG=false, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL
and REDIS_URL (see .env.example); `manage.py check --deploy` is clean then.
"""

import datetime as dt
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A .env file is a convenience for development; real deployments use the process environment.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Only usable while developing: config/startup.py (WSGI, ASGI) refuses it when DEBUG is off,
# and `check --deploy` flags it (security.W009) because of the "django-insecure-" prefix.
DEV_SECRET_KEY = "django-insecure-tremor-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "accounts",
    "customers",
    "anomalies",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if not DEBUG:
    # Production serves static files from gunicorn; the development server does it itself.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"

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
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# --- Database -------------------------------------------------------------------------
# How long a SQLite connection waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 20
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tremor.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The dev server, the Celery worker and beat share one SQLite file: take the write lock
    # at BEGIN and wait for it instead of failing with "database is locked" mid-transaction.
    # WAL lets readers (beat polling its schedule, page views) carry on during a long write
    # such as a CSV import instead of queueing behind it; NORMAL sync is the safe WAL pairing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names need `collectstatic`, which only deployments run; development and tests
    # serve the plain files.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or not env.bool("STATIC_MANIFEST", default=True)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security -------------------------------------------------------------------------
# Secure by default whenever DEBUG is off; a deployment behind plain HTTP (an internal
# network) can opt out explicitly with SECURE_SSL_REDIRECT=false etc.
_secure = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_secure)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_secure)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_secure)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _secure else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_secure)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_secure)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Email ----------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Tremor <tremor@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Django REST Framework ------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous request then gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tremor API",
    "DESCRIPTION": "Usage anomalies of your customer portfolio: read them, dismiss them, "
    "trigger scans, ingest usage. Authenticate with a session or `Authorization: Token <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "AnomalyStatusEnum": "anomalies.models.AnomalyStatus",
        "ScanStatusEnum": "anomalies.models.ScanStatus",
        "DismissReasonEnum": "anomalies.models.DismissReason",
        "OutcomeEnum": "anomalies.models.Outcome",
        "ActionKindEnum": "anomalies.models.ActionKind",
        "LifecycleKindEnum": "customers.models.LifecycleKind",
        "SensitivityEnum": "anomalies.models.Sensitivity",
        "FollowUpKindEnum": "anomalies.models.FollowUpKind",
        "FollowUpStatusEnum": "anomalies.models.FollowUpStatus",
        "ClosingOutcomeEnum": "anomalies.models.ClosingOutcome",
    },
}

# --- Celery ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Without a Redis URL the broker is kombu's filesystem transport: no server to install,
# good enough for one developer's laptop (`make run`), never for production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        # Exchange tables (broadcasts, remote control): under var/ too, not ./control.
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
# acks_late alone acknowledges a task whose pool process was killed (OOM, hard time limit):
# requeue it instead. Scan chunks cap their own attempts, so a chunk that kills its worker
# every time is failed, not retried forever.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# --- Time-outs of a scan, in one place --------------------------------------------------
# A chunk task is killed after CELERY_TASK_TIME_LIMIT. With acks_late, a task whose worker
# died is redelivered by Redis after CELERY_VISIBILITY_TIMEOUT, which must exceed the time
# limit (or Redis would hand a chunk that is still running to a second worker). A run whose
# heartbeat has been silent longer than both together could still get its chunk redelivered,
# so only then is it stale (failed by the next scan start, freeing its scope):
#   SCAN_STALE_MINUTES * 60 > CELERY_VISIBILITY_TIMEOUT + CELERY_TASK_TIME_LIMIT
# anomalies.checks refuses settings that break these rules.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=25 * 60)
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=60 * 60)
SCAN_STALE_MINUTES = env.int(
    "SCAN_STALE_MINUTES",
    default=(CELERY_VISIBILITY_TIMEOUT + CELERY_TASK_TIME_LIMIT) // 60 + 5,
)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A broker that is down must not hang a web request: connect for two seconds, retry
# publishing once, then the caller is told (a scan start answers 503 and its run is failed):
# at most about 2 x 2 s + 0.5 s for an unreachable host, well under a second for a refused
# connection.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_ENQUEUE_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1.0,
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Tremor ---------------------------------------------------------------------------
# Bounds on usage at every entry point (CSV import, POST /api/usage/, the ingest task, admin):
# a value above USAGE_VALUE_MAX per day, a date before USAGE_FIRST_DATE or after tomorrow is
# refused with the row's error. See customers/limits.py.
USAGE_VALUE_MAX = env.float("USAGE_VALUE_MAX", default=1e12)
USAGE_FIRST_DATE = dt.date.fromisoformat(env.str("USAGE_FIRST_DATE", default="2000-01-01"))
# Upper bound on records in one POST /api/usage/ call: larger batches go through the CSV
# import or several calls, so a single request cannot hold a worker for minutes.
USAGE_API_MAX_RECORDS = env.int("USAGE_API_MAX_RECORDS", default=50_000)
# A batch at that limit is about 5 MB of JSON; Django's 2.5 MB default would refuse it before
# the view could answer with per-record errors.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=16 * 1024 * 1024)

# Links in emails and Slack messages point here.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# A Slack webhook that does not answer in this long counts as a failed attempt.
SLACK_TIMEOUT_SECONDS = env.float("SLACK_TIMEOUT_SECONDS", default=5.0)
# Who gets the critical alerts of an account without a CSM: usernames or email addresses of
# active users, comma-separated; empty (the default) means every active staff user.
TREMOR_UNOWNED_ALERTS_TO = env.list("TREMOR_UNOWNED_ALERTS_TO", default=[])
# Where a Slack webhook may point (notifications/webhooks.py): host names, each with an
# optional port other than 443 (`relay.example.com:8443`); empty for any public host on 443.
SLACK_WEBHOOK_HOSTS = env.list("SLACK_WEBHOOK_HOSTS", default=["hooks.slack.com"])
# Networks a webhook may reach although they are not public, e.g. a relay at 10.20.0.0/24.
# Empty (the default): public addresses only.
SLACK_WEBHOOK_ALLOWED_NETWORKS = env.list("SLACK_WEBHOOK_ALLOWED_NETWORKS", default=[])

# The nightly scan (UTC; config/schedule.py). Ops can change it in admin afterwards; a new
# value here reaches an existing schedule with `manage.py setup_schedule --force`.
SCAN_SCHEDULE_HOUR = env.int("SCAN_SCHEDULE_HOUR", default=2)
SCAN_SCHEDULE_MINUTE = env.int("SCAN_SCHEDULE_MINUTE", default=0)
# Tuning proposals (anomalies/services/tuning.py): a scope whose share of judged anomalies
# dismissed as false positives exceeds this gets a proposed threshold change each week.
TUNING_TARGET_FALSE_POSITIVE_RATE = env.float("TUNING_TARGET_FALSE_POSITIVE_RATE", default=0.20)
# Customers per scan task: one usage read and one engine call each. A worker's peak memory
# is one chunk's (bench/scan_scale.py, 10k accounts x 10 metrics x 180 days: 486 MB per
# worker at 1,000, 369 MB at 500, the same 8.3 s wall time): 500 keeps a worker under 400 MB
# and still gives the portfolio guard hundreds of accounts to compare.
SCAN_CHUNK_CUSTOMERS = env.int("SCAN_CHUNK_CUSTOMERS", default=500)
# Days of usage a scan reads: two years back, so recurring patterns are judged on every past
# year the engine gets (two, here; its two-week search either side and a six-week look back
# included), plus its 12-week window and 6-week replay.
SCAN_HISTORY_DAYS = env.int("SCAN_HISTORY_DAYS", default=2 * 364 + 14 + 42 + 84 + 42)
# The learning loop: a lifecycle change (churn, contraction, renewal, expansion) up to this
# many days after an anomaly started becomes that anomaly's derived outcome. 90 days is one
# quarter: long enough for a usage drop to show up as a lost renewal, short enough that an
# unrelated change a year later is not blamed on it.
ANOMALY_OUTCOME_WINDOW_DAYS = env.int("ANOMALY_OUTCOME_WINDOW_DAYS", default=90)

# --- Accounts: login lockout and password-reset limits ----------------------------------
# django-axes counts failed logins in the database (no shared cache needed across gunicorn
# workers) and gives ops its admin pages and `manage.py axes_reset*` to see and lift
# lockouts. It guards every login that goes through django.contrib.auth.authenticate() with
# the request: /accounts/login/ and /admin/login/. API tokens do not go through it.
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username or address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # axes wants to be last
# Separately: LOGIN_FAILURE_LIMIT failures for one username (from any address) lock that
# username, and as many from one address (whatever the usernames) lock that address.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
# Off on purpose: axes' reset on success deletes every failure from the address that just
# logged in, the failures against other usernames included, so an attacker with any account
# of their own could clear their count against a victim's username by logging in as themselves.
# Failures then age out after the cool-off.
AXES_RESET_ON_SUCCESS = False
# No start-up banner in every management command's output.
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.network.client_ip"
# Proxies in front of the app that append the client's address to X-Forwarded-For (0: none,
# REMOTE_ADDR is the client). Used by the login lockout and the password-reset limits.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Password-reset emails: at most this many per email address and per client address within
# the window; past either, the same "if an account exists" page and no email.
PASSWORD_RESET_LIMIT_PER_EMAIL = env.int("PASSWORD_RESET_LIMIT_PER_EMAIL", default=3)
PASSWORD_RESET_LIMIT_PER_ADDRESS = env.int("PASSWORD_RESET_LIMIT_PER_ADDRESS", default=10)
PASSWORD_RESET_WINDOW_MINUTES = env.int("PASSWORD_RESET_WINDOW_MINUTES", default=60)

# --- Content-Security-Policy ------------------------------------------------------------
# django-csp (see pyproject.toml for why). Every page loads its scripts, styles, images and
# fonts from this site only; Swagger UI at /api/docs/ loads its start-up script from a URL of
# its own (SpectacularSwaggerSplitView), so no page needs an inline script.
INSTALLED_APPS.append("csp")
# Outside axes' middleware, so the lockout page axes swaps in gets the header too.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Inline styles stay allowed: the pages keep their CSS in <style> blocks and a few
        # style attributes, admin and Swagger UI set style attributes too, and CSS cannot run
        # script. Scripts, the part an injected tag would use, stay strict.
        "style-src": ["'self'", "'unsafe-inline'"],
        # data: for the icons Swagger UI's and admin's stylesheets embed.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Abuse limits ---------------------------------------------------------------------
# The cache holds the throttle counts, so every gunicorn worker and every host must share
# it: Redis whenever there is one. Local memory (one per process) only without Redis, i.e.
# `make run` and tests run without REDIS_URL. Point CACHE_URL at another Redis database
# than the broker's to keep a cache.clear() (FLUSHDB) away from Celery's queues.
CACHE_URL = env.str("CACHE_URL", default=REDIS_URL)
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Several deployments (staging, production) may share one Redis.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tremor"),
            # A Redis that is down or unreachable costs a request half a second, never a
            # hang; the throttle then lets the request through (anomalies/throttles.py).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Scans per user, through the API and the customer page's Rescan together (DRF's rate
# syntax). Scans are heavy: a client may ask for a few an hour, not one per page view.
SCAN_THROTTLE_RATE = env.str("SCAN_THROTTLE_RATE", default="30/hour")

# PostgreSQL text cannot hold NUL: a request with one in its path, query string or form
# fields is answered 400 before any view (or the admin) puts it in a query.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.csrf.CsrfViewMiddleware"),
    "config.middleware.RejectNulMiddleware",
)
