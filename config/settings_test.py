"""Test settings: the main settings with test-only keys and fast parts."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789")
os.environ.setdefault("CHANNEL_LAYER_KEYS", "test-layer-key-0123456789abcdef")
os.environ.setdefault("MESSAGE_KEYS", "t1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
os.environ.setdefault("SECRETS_FILE", "/nonexistent")
# Audit checkpoints of test databases never land beside the demo's; child
# processes (Daphne servers of the tests) inherit the same folder.
os.environ.setdefault(
    "AUDIT_CHECKPOINT_DIR",
    os.path.join(tempfile.gettempdir(), f"ecoute-test-checkpoints-{os.getpid()}"),
)
os.environ.setdefault(
    "AUDIT_CHAIN_SEED", "dGVzdC1hdWRpdC1jaGFpbi1zZWVkLTAxMjM0NTY3ODk="
)
os.environ.setdefault(
    "AUDIT_SIGNING_KEY", "dGVzdC1hdWRpdC1zaWduaW5nLWtleS0wMTIzNDU2Nzg="
)

from config.settings import *  # noqa: F403
from config.settings import BASE_DIR, DATABASES

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A real file, so worker threads and child processes share it.
    DATABASES["default"]["NAME"] = str(BASE_DIR / "var/test-main.sqlite3")
    # One file per test run, so concurrent runs in one tree never share it.
    (BASE_DIR / "var").mkdir(exist_ok=True)  # absent from a fresh clone
    _name = os.environ.get("TEST_SQLITE_NAME") or f"var/test-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / _name)}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# In-process tests count admissions in memory too, whatever the environment
# says: a Redis client made on one test's event loop fails on the next, and
# admission then fails open. The multi-process tests give their servers
# REDIS_URL (tests/integration), and test_admission_redis sets it itself.
REDIS_URL = ""
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests send report deliveries themselves (escalation.reports.deliver_due).
ESCALATION_BACKGROUND = False
