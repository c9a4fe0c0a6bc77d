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


def dump_sqlite(path: str) -> str:
    """Return every table and column of a SQLite file as text, hex for blobs."""
    import sqlite3

    connection = sqlite3.connect(path)
    lines = []
    for (table,) in connection.execute(
        "select name from sqlite_master where type='table'"
    ):
        for row in connection.execute(f'select * from "{table}"'):  # noqa: S608
            lines.append(
                table
                + " "
                + " ".join(
                    value.hex() if isinstance(value, bytes) else str(value)
                    for value in row
                )
            )
            lines.append(
                table
                + " "
                + " ".join(
                    value.decode("latin-1") if isinstance(value, bytes) else ""
                    for value in row
                )
            )
    connection.close()
    return "\n".join(lines)


__all__ = ["dump_sqlite", "private_key_for", "subprocess", "sys"]
