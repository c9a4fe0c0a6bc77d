"""Fixtures of the directory tests: the real communes and competence."""

from tests.chat.conftest import _committed_communes, communes  # noqa: F401
from tests.reference_data import _committed_competence, competence  # noqa: F401
