"""``.env.example`` names every setting that ``config/settings.py`` reads.

The README sends operators there for "every setting": one added to the
settings and forgotten there would be a setting nobody finds.
"""

import re

from django.conf import settings

READ = re.compile(r"\benv\.[a-z]+\(\s*\"([A-Z][A-Z0-9_]*)\"")
LISTED = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def test_every_setting_read_from_the_environment_is_in_the_example():
    read = set(READ.findall((settings.BASE_DIR / "config/settings.py").read_text()))
    listed = set(LISTED.findall((settings.BASE_DIR / ".env.example").read_text()))

    assert len(read) > 50
    assert read - listed == set()
