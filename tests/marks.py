"""Marks that test modules share."""

import pytest

# A socket test module's ``pytestmark``: committed rows, which the
# consumers' database threads see, and the process's background work
# stopped when each test ends.
SOCKET_TESTS = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("runtime_stopped"),
]
