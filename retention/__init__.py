"""Retention across the apps: the daily purge composes what each app deletes."""
