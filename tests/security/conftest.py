import pytest

# The browser test here reuses the browser suite's server and accounts.
from tests.browser.conftest import (  # noqa: F401
    browser_env,
    chromium,
    context_factory,
    server,
)
from tests.browser.test_console_shift import shift_accounts  # noqa: F401
from tests.factories import make_commune, make_service


@pytest.fixture
def bordeaux(db):
    return make_commune()


@pytest.fixture
def national(db):
    return make_service("national", name="Plateforme nationale")
