import subprocess
import sys
from pathlib import Path

import pytest

from django.core.management import call_command

PASSPHRASE = "custodian-passphrase-for-tests"


@pytest.fixture
def custodian_dir(tmp_path, db):
    """Create this month's and next month's sealing keys, installed."""
    folder = tmp_path / "custodian"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE)
    call_command(
        "create_sealing_keys",
        out=str(folder),
        passphrase_file=str(passphrase),
        install=True,
        verbosity=0,
    )
    return folder


def private_key_for(folder: Path, key_id: str):
    from anonymity.unsealing import load_private_key

    return load_private_key(folder / f"sealing-{key_id}.key.pem", PASSPHRASE.encode())


def dump_database() -> str:
    """Return every row of every table as text, hex and Latin-1 for bytes.

    Through Django's connection, so on SQLite and PostgreSQL alike: a
    search of it for an address finds one stored anywhere. (It read the
    SQLite file by its path before, and on PostgreSQL opened an empty
    SQLite file of the database's name instead: nothing could be found.)
    """
    from django.db import connection

    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                values = [
                    bytes(value) if isinstance(value, memoryview) else value
                    for value in row
                ]
                as_hex = " ".join(
                    value.hex() if isinstance(value, bytes) else str(value)
                    for value in values
                )
                as_text = " ".join(
                    value.decode("latin-1") if isinstance(value, bytes) else ""
                    for value in values
                )
                lines += [f"{table} {as_hex}", f"{table} {as_text}"]
    return "\n".join(lines)


__all__ = ["dump_database", "private_key_for", "subprocess", "sys"]
