"""Django's PostgreSQL backend with health checks at most once a second.

``ENGINE = "config.postgresql"`` (set by ``config.settings`` for every
PostgreSQL ``DATABASE_URL``).
"""
