"""Fixtures for the chat tests: the real reference communes."""

from collections.abc import Iterator

import pytest

from django.core.management import call_command

from chat.models import Commune, PostalCode


@pytest.fixture(scope="module")
def _committed_communes(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    """Import the reference communes once per test module, committed.

    Importing takes a few seconds, too slow to repeat in every test's
    rolled-back transaction. The rows are removed when the module ends, so
    tests elsewhere that build their own communes start from an empty table.
    """
    with django_db_blocker.unblock():
        imported = not Commune.objects.exists()
        if imported:
            call_command("import_communes", verbosity=0)
    yield
    if imported:
        with django_db_blocker.unblock():
            PostalCode.objects.all().delete()
            Commune.objects.all().delete()


@pytest.fixture
def communes(_committed_communes: None, db: None) -> None:
    """Make the reference communes available to a ``django_db`` test.

    A ``transaction=True`` test flushes every table when it ends.
    pytest-django runs those tests last, but if one has emptied the table
    anyway (another ordering plugin, say), the data is imported again inside
    this test's transaction, and rolled back with it.
    """
    if not Commune.objects.exists():
        call_command("import_communes", verbosity=0)
