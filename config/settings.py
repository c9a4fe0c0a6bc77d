"""Settings, read from the environment.

Defaults give the demo: SQLite in ``var/`` and the in-memory channel layer.
``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` switch to production parts.
Every variable is documented in ``.env.example``.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_secrets_file = Path(env.str("SECRETS_FILE", default=str(BASE_DIR / "var/secrets.env")))
if _secrets_file.exists():
    # Only fills variables the environment does not set.
    env.read_env(str(_secrets_file), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# With DEBUG off a missing secret fails at start-up (ImproperlyConfigured).
SECRET_KEY = env.str("SECRET_KEY")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=[f"http://{host}:8000" for host in ALLOWED_HOSTS],
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "anonymity",
    "chat",
    "console",
    "directory",
    "escalation",
    "receipts",
    "attachments",
    "stats",
]

MIDDLEWARE = [
    # First: probes answer before host checks, redirects and sessions.
    "config.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend/templates"],
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

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var/ecoute.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead
    # of failing half-way with "database is locked".
    # WAL lets readers run beside the writer; NORMAL syncs at checkpoints,
    # not at each commit (the demo's choice, docs/decisions.md).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, health-checking a connection once a second rather
    # than before every database call of a socket (config/postgresql).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    # Parameters bound by the server, and a statement run five times on a
    # connection prepared once: PostgreSQL then neither parses nor plans a
    # message's UPDATE and INSERT again (docs/decisions.md). Django turns
    # psycopg's preparing off unless ``prepare_threshold`` is given.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Measured in bench/: the pub/sub layer never lost a message and kept
    # p99 lowest; see docs/decisions.md.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.PipelinedRedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNEL_PREFIX", default="ecoute"),
                "symmetric_encryption_keys": env.list("CHANNEL_LAYER_KEYS"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "realtime.layers.RationedInMemoryChannelLayer"}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"

# Staff login: password and TOTP code (django-otp), throttled and locked
# out by username only (django-axes). No client address is ever stored:
# the address callable returns None, and the anonymity layer strips the
# client from the scope anyway (docs/security.md §B7).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username"]
# Locking by address is impossible by design: there is none to lock by.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_CLIENT_IP_CALLABLE = "console.auth.get_no_client_ip"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "console/locked_out.html"
AXES_SENSITIVE_PARAMETERS = ["username", "password", "code", "csrfmiddlewaretoken"]
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Ecoute")
OTP_TOTP_THROTTLE_FACTOR = 1
# The staff socket re-reads user, session and two-factor state this often.
CONSOLE_AUTH_RECHECK_SECONDS = env.float("CONSOLE_AUTH_RECHECK_SECONDS", default=60.0)
# Operators may opt in to receive the next waiting conversation by itself.
CONSOLE_AUTO_ASSIGN = env.bool("CONSOLE_AUTO_ASSIGN", default=True)
# A console with an open socket stays signed in, idle or not, for at most
# this long after login (a night shift waiting on an empty queue); it warns
# CONSOLE_SHIFT_WARNING_SECONDS before the end.
CONSOLE_SHIFT_SECONDS = env.int("CONSOLE_SHIFT_SECONDS", default=12 * 3600)
CONSOLE_SHIFT_WARNING_SECONDS = env.int("CONSOLE_SHIFT_WARNING_SECONDS", default=900)
# A conversation the visitor ended waits this long for the operator's outcome.
CONSOLE_WRAP_UP_HOURS = env.int("CONSOLE_WRAP_UP_HOURS", default=12)

SESSION_COOKIE_HTTPONLY = True
# Strict: no other site can make a staff browser send the session cookie.
SESSION_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SAMESITE = "Strict"
# The CSRF cookie dies with the browser session, like the staff session.
CSRF_COOKIE_AGE = None
# Staff sessions end after this much inactivity: every request (the console
# page posts a keep-alive while someone is using it) pushes expiry forward.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
# On behind TLS in production; off for the plain-HTTP local demo.
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if SESSION_COOKIE_SECURE:
    # __Host-: the browser keeps them only if Secure, host-only, Path=/;
    # a sibling subdomain cannot plant or overwrite them.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"

# The language choice dies with the browser session, like everything else.
LANGUAGE_COOKIE_AGE = None
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var/static"
STATICFILES_DIRS = [BASE_DIR / "frontend/static"]

SECURE_CONTENT_TYPE_NOSNIFF = True
# HTTPS from the environment (docs/deployment.md gives production values).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The probes are answered before the redirect anyway; said again here.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Only behind a proxy that overwrites X-Forwarded-Proto (deploy/nginx) and
# with Daphne reachable from that proxy alone: a client could set it too.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Powerful browser features the pages never use are denied to every origin.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}
# same-origin: no referrer ever leaves for another host, and form POSTs
# keep a real Origin for the CSRF check (no-referrer sends "null").
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp) on every page: nothing from another
# host, no inline script or style, no framing (docs/security.md §B9).
# "'self'" in connect-src covers the same host's ws:// and wss://.
MIDDLEWARE += ["csp.middleware.CSPMiddleware"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # blob: the visitor page shows previews it fetched with its token.
        "img-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Reference data shipped in the repository (data/README.md says where each
# file comes from); a relative override is read from the project's folder.
DATA_DIR = BASE_DIR / env.str("DATA_DIR", default="data")

# Protocol limits (docs/protocol.md, "Transport").
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=16 * 1024)
# Beyond this the transport closes the socket with 1009 (realtime/transport.py).
CHAT_TRANSPORT_MAX_BYTES = env.int("CHAT_TRANSPORT_MAX_BYTES", default=64 * 1024)
CHAT_MAX_TEXT_CHARS = env.int("CHAT_MAX_TEXT_CHARS", default=4000)
CHAT_RATE_PER_SECOND = env.float("CHAT_RATE_PER_SECOND", default=10.0)
# Staff sockets multiplex several conversations.
CHAT_STAFF_RATE_PER_SECOND = env.float("CHAT_STAFF_RATE_PER_SECOND", default=30.0)
CHAT_RATE_BURST = env.int("CHAT_RATE_BURST", default=20)
CHAT_FLOOD_CLOSE_AFTER = env.int("CHAT_FLOOD_CLOSE_AFTER", default=100)

# Presence and grace periods; decided from the database by any process.
PRESENCE_HEARTBEAT_SECONDS = env.float("PRESENCE_HEARTBEAT_SECONDS", default=5.0)
PRESENCE_STALE_SECONDS = env.float("PRESENCE_STALE_SECONDS", default=20.0)
SWEEP_INTERVAL_SECONDS = env.float("SWEEP_INTERVAL_SECONDS", default=2.0)
OPERATOR_GRACE_SECONDS = env.float("OPERATOR_GRACE_SECONDS", default=60.0)
VISITOR_GRACE_SECONDS = env.float("VISITOR_GRACE_SECONDS", default=180.0)
# How often a socket re-reads its conversations' last seq, as the safety net
# behind lost channel-layer events.
RECONCILE_SECONDS = env.float("RECONCILE_SECONDS", default=15.0)
# A channel-layer send fails after this long, counting only the time the
# process's event loop was on time (realtime/lag.py); whatever the lag, it
# fails after LAYER_SEND_MAX_SECONDS (issue 14, docs/decisions.md).
LAYER_SEND_TIMEOUT_SECONDS = env.float("LAYER_SEND_TIMEOUT_SECONDS", default=1.0)
LAYER_SEND_MAX_SECONDS = env.float("LAYER_SEND_MAX_SECONDS", default=10.0)
# Past this event-loop lag a process refuses new conversations (`overloaded`,
# with retry_after); open conversations go on (docs/decisions.md).
OVERLOAD_LAG_SECONDS = env.float("OVERLOAD_LAG_SECONDS", default=1.0)
OVERLOAD_RETRY_AFTER_SECONDS = env.int("OVERLOAD_RETRY_AFTER_SECONDS", default=10)
# Opening handlers (start, resume, claim, release) run at most this many
# at a time per process, so a surge of arrivals cannot starve everybody's
# messages (realtime.frames.setup_slot). One: two let a surge of 100
# arrivals cost the others 1-3 s of p99 instead of 0.4-0.5 s, for no
# faster arrival (docs/decisions.md).
SETUP_CONCURRENCY = env.int("SETUP_CONCURRENCY", default=1)
# The same while none of the process's conversations has talked for a
# second (realtime.frames.setup_slot): nobody's messages wait for openings
# then, and two at once opened 1,000 conversations in 18.3-18.7 s instead
# of 20.6-23.4 (docs/decisions.md).
SETUP_CONCURRENCY_QUIET = env.int("SETUP_CONCURRENCY_QUIET", default=2)
# On PostgreSQL, how many connections each process's event loop may hold
# for the writes of one statement (realtime/loopdb.py): each sends one
# batch of them at a time, and the writes that come meanwhile wait for
# the next batch. Opened as needed, closed after a minute idle; count them
# in max_connections (docs/deployment.md). Two: fewer connections make
# bigger batches, so fewer commits; at 1,000 messages a second, two kept
# p99 at 0.3–1.2 s where eight let it reach 1.7–3.3 s, and one did no
# better than two while a row lock could stall all of a process's
# messages (bench/README.md, "Twelfth pass").
LOOP_DB_CONNECTIONS = env.int("LOOP_DB_CONNECTIONS", default=2)
# On SQLite (one writer thread), how long the holder of an opening slot
# waits for the writer to have nothing under way before each write
# (realtime.frames._writer_call, docs/decisions.md), and the event loop
# before it writes a message itself (realtime/loop_sqlite.py).
WRITER_IDLE_WAIT_MAX_SECONDS = env.float("WRITER_IDLE_WAIT_MAX_SECONDS", default=0.1)
# The share of a process's time its queue feed may take: after a flush that
# took t, the next waits at least t / this (console.queue_feed._spacing).
QUEUE_FLUSH_SHARE = env.float("QUEUE_FLUSH_SHARE", default=0.25)
# The garbage collector's thresholds in a server process, set with the
# freeze of the start-up heap at its first socket (realtime/heap.py).
SERVER_GC_THRESHOLDS = env.list(
    "SERVER_GC_THRESHOLDS", cast=int, default=[20_000, 20, 20]
)

# Anonymity layer (anonymity/, docs/security.md).
# Key ring for message data keys, newest first: "id:base64(32 bytes)".
MESSAGE_KEYS = env.list("MESSAGE_KEYS")
# Forwarding headers are believed only from these peers (addresses/CIDRs).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
# Names this server in sealed connection records.
SERVER_NAME = env.str("SERVER_NAME", default="web")
# Retention in days (docs/security.md §B6; confirm against the platform's decree).
RETENTION_SEALED_CONNECTION_DAYS = env.int(
    "RETENTION_SEALED_CONNECTION_DAYS", default=365
)
RETENTION_TRANSCRIPT_DAYS = env.int("RETENTION_TRANSCRIPT_DAYS", default=365)
RETENTION_TRANSCRIPT_NO_REPORT_DAYS = env.int(
    "RETENTION_TRANSCRIPT_NO_REPORT_DAYS", default=90
)
RETENTION_PRESENCE_HOURS = env.int("RETENTION_PRESENCE_HOURS", default=24)
DEFAULT_EXCEPTION_REPORTER_FILTER = "anonymity.logs.AddressHidingReporterFilter"
ADMINS: list[tuple[str, str]] = []  # no error e-mails: they would carry requests

# Escalations (escalation/, docs/security.md).
# Day-0 key of the audit chain, base64 of 32 bytes. The web tier needs it
# only to start the chain; whoever verifies needs it to re-derive each
# day's key. AUDIT_SIGNING_KEY is the Ed25519 private key (raw 32 bytes,
# base64) that signs checkpoints of the chain head and exported files.
# Offline tools (the custodians' key ceremony) run without them; the web
# tier refuses any audited action without them, and `check --deploy`
# reports them missing (escalation/checks.py).
AUDIT_CHAIN_SEED = env.str("AUDIT_CHAIN_SEED", default="")
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
# Checkpoints are written here, outside the database (ideally a mount the
# database server cannot write, copied off-host).
AUDIT_CHECKPOINT_DIR = Path(
    env.str("AUDIT_CHECKPOINT_DIR", default=str(BASE_DIR / "var/audit-checkpoints"))
)
AUDIT_CHECKPOINT_SECONDS = env.float("AUDIT_CHECKPOINT_SECONDS", default=600.0)
# Reports to local units: retries with backoff, alert after this many.
REPORT_RETRY_BASE_SECONDS = env.float("REPORT_RETRY_BASE_SECONDS", default=30.0)
REPORT_RETRY_MAX_SECONDS = env.float("REPORT_RETRY_MAX_SECONDS", default=3600.0)
REPORT_ALERT_AFTER_FAILURES = env.int("REPORT_ALERT_AFTER_FAILURES", default=3)
REPORT_DELIVERY_SECONDS = env.float("REPORT_DELIVERY_SECONDS", default=15.0)
REPORT_WEBHOOK_TIMEOUT_SECONDS = env.float(
    "REPORT_WEBHOOK_TIMEOUT_SECONDS", default=10.0
)
# Plain-http webhooks only for the local demo and tests.
REPORT_WEBHOOK_ALLOW_HTTP = env.bool("REPORT_WEBHOOK_ALLOW_HTTP", default=False)
REPORT_SENDER = env.str("REPORT_SENDER", default="signalements@ecoute.invalid")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# Each server process sends due reports and writes checkpoints itself.
ESCALATION_BACKGROUND = env.bool("ESCALATION_BACKGROUND", default=True)
# An approved disclosure must be executed within this many hours.
DISCLOSURE_APPROVAL_HOURS = env.int("DISCLOSURE_APPROVAL_HOURS", default=72)

QUEUE_DEFAULT_WAIT_SECONDS = env.int("QUEUE_DEFAULT_WAIT_SECONDS", default=120)

# Receipt codes (receipts/, issue 16). A visitor back with a code queues
# "ahead" of or "behind" new arrivals.
RECEIPT_FOLLOW_UP_PRIORITY = env.str("RECEIPT_FOLLOW_UP_PRIORITY", default="ahead")
RECEIPT_ATTEMPTS_PER_SOCKET = env.int("RECEIPT_ATTEMPTS_PER_SOCKET", default=5)
RECEIPT_GLOBAL_FAILURES_PER_MINUTE = env.int(
    "RECEIPT_GLOBAL_FAILURES_PER_MINUTE", default=60
)

# Attachments (attachments/, issue 16): size limit, decoded image size
# limit, PDF pages, upload token lifetime, and the folder of encrypted files.
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
ATTACHMENT_MAX_PIXELS = env.int("ATTACHMENT_MAX_PIXELS", default=40_000_000)
ATTACHMENT_MAX_PDF_PAGES = env.int("ATTACHMENT_MAX_PDF_PAGES", default=200)
ATTACHMENT_TOKEN_SECONDS = env.int("ATTACHMENT_TOKEN_SECONDS", default=300)
ATTACHMENTS_DIR = BASE_DIR / env.str("ATTACHMENTS_DIR", default="var/attachments")

# Admission control (chat/admission.py, docs/decisions.md "Admission
# control"). Counted per client key, a keyed hash of the address under a
# random key rotated every CLIENT_KEY_ROTATE_MINUTES and never stored.
# Loose per-client limits because carrier-grade NAT puts many people
# behind one address; the per-service ceiling protects the queue.
ADMISSION_PREFIX = env.str("CHANNEL_PREFIX", default="ecoute") + "-adm"
CLIENT_KEY_ROTATE_MINUTES = env.float("CLIENT_KEY_ROTATE_MINUTES", default=360.0)
ADMISSION_SOCKETS_PER_CLIENT = env.int("ADMISSION_SOCKETS_PER_CLIENT", default=30)
# A crashed process's socket counts are forgotten after this.
ADMISSION_SOCKET_TTL_SECONDS = env.int("ADMISSION_SOCKET_TTL_SECONDS", default=3600)
ADMISSION_STARTS_PER_CLIENT = env.int("ADMISSION_STARTS_PER_CLIENT", default=10)
ADMISSION_START_WINDOW_SECONDS = env.int("ADMISSION_START_WINDOW_SECONDS", default=600)
ADMISSION_WRONG_TOKENS_PER_CLIENT = env.int(
    "ADMISSION_WRONG_TOKENS_PER_CLIENT", default=20
)
# At most this many conversations wait in one service's queue.
QUEUE_CEILING_PER_SERVICE = env.int("QUEUE_CEILING_PER_SERVICE", default=50)
# An operator's "abusive" mark refuses the client key this long (at most
# one key rotation: the previous period's hash is checked too).
ABUSE_BLOCK_MINUTES = env.float("ABUSE_BLOCK_MINUTES", default=60.0)
# A closed conversation's token still replays the transcript this long.
VISITOR_TOKEN_GRACE_SECONDS = env.int("VISITOR_TOKEN_GRACE_SECONDS", default=600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "filters": {
        "redact": {"()": "anonymity.logs.RedactAddressesFilter"},
        "one_line": {"()": "config.log_filters.OneLineFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        # A foreign Host header (scanners send them all day): one line.
        "django.security.DisallowedHost": {"filters": ["one_line"]},
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
    },
}
