"""Settings of the seeding worker: the servers' settings, a fast hasher.

Everything else (database, keys) comes from the same environment as the
Daphne children, so sessions created here are valid there.
"""

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
