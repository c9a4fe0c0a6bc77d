"""Fixtures for the chat tests: the real reference communes."""

from collections.abc import Iterator

import pytest

from tests.reference_data import COMMUNE_TABLES, empty_reference, restore_reference


@pytest.fixture(scope="module")
def _committed_communes(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    """Commit the reference communes for this test module.

    The first module of the session imports them (seconds); later ones
    copy the imported rows back (a fraction of a second), too slow still
    to repeat in every test's rolled-back transaction. The rows are
    removed when the module ends, so tests elsewhere that build their own
    communes start from an empty table.
    """
    with django_db_blocker.unblock():
        filled = restore_reference("import_communes", COMMUNE_TABLES)
    yield
    if filled:
        with django_db_blocker.unblock():
            empty_reference(COMMUNE_TABLES)


@pytest.fixture
def communes(_committed_communes: None, db: None) -> None:
    """Make the reference communes available to a ``django_db`` test.

    A ``transaction=True`` test flushes every table when it ends.
    pytest-django runs those tests last, but if one has emptied the table
    anyway (another ordering plugin, say), the rows are restored inside
    this test's transaction, and rolled back with it.
    """
    restore_reference("import_communes", COMMUNE_TABLES)
