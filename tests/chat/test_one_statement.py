"""Which databases store a guessed message in one statement.

The statement itself is tested on PostgreSQL in
tests/integration/test_pg_one_statement.py; here, the switch the sockets
read from the event loop, without a connection.
"""

from django.db import connection

from chat.services import writes_in_one_statement
from chat.services.messages import _vendor


def test_sqlite_keeps_the_transaction_and_postgresql_takes_one_statement():
    # The settings' answer is the connection's, without opening one.
    assert writes_in_one_statement() is (connection.vendor == "postgresql")
    assert _vendor("config.postgresql") == "postgresql"
    assert _vendor("django.db.backends.sqlite3") == "sqlite"
