import pytest

from tests.factories import make_commune, make_service


@pytest.fixture
def bordeaux(db):
    return make_commune()


@pytest.fixture
def national(db):
    return make_service("national", name="Plateforme nationale")
