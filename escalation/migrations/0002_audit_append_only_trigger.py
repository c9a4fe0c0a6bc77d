"""On PostgreSQL, refuse UPDATE and DELETE on the audit trail (docs/security.md §B5).

The trigger holds even for the table's owner; the web role also lacks
the rights (anonymity/sql/web_role.sql). SQLite (the demo) has no such
guard: ``verify_audit`` shows any change there.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION escalation_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the audit trail is append-only: '
        || TG_OP || ' refused';
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS escalation_auditevent_append_only ON escalation_auditevent;
CREATE TRIGGER escalation_auditevent_append_only
    BEFORE UPDATE OR DELETE ON escalation_auditevent
    FOR EACH ROW EXECUTE FUNCTION escalation_audit_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS escalation_auditevent_append_only ON escalation_auditevent;
DROP FUNCTION IF EXISTS escalation_audit_append_only();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("escalation", "0001_escalation_models")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
