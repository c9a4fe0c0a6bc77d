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
    "anonymity",
    "chat",
    "console",
    "escalation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Measured in bench/: the pub/sub layer never lost a message and kept
    # p99 lowest; see docs/decisions.md.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNEL_PREFIX", default="ecoute"),
                "symmetric_encryption_keys": env.list("CHANNEL_LAYER_KEYS"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/login/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG and False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

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
SECURE_REFERRER_POLICY = "no-referrer"
X_FRAME_OPTIONS = "DENY"

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR.parent / "shared/data")))

# Protocol limits (PROTOCOL.md, "Transport").
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=16 * 1024)
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
LAYER_SEND_TIMEOUT_SECONDS = env.float("LAYER_SEND_TIMEOUT_SECONDS", default=1.0)

QUEUE_DEFAULT_WAIT_SECONDS = env.int("QUEUE_DEFAULT_WAIT_SECONDS", default=120)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
    },
}
