"""On PostgreSQL, let the web role read sealed blobs of approved requests only.

The web role cannot SELECT ``anonymity_sealedconnection.sealed``
(anonymity/sql/web_role.sql). A custodian executing an approved
disclosure from the console needs those blobs (the private key, which
only the custodian brings, still does the opening); this SECURITY
DEFINER function hands them over for one request, only while it is
approved and unexpired.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION escalation_sealed_for_disclosure(request_id uuid)
RETURNS TABLE (id bigint, conversation_id uuid, key_id varchar, sealed bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.id, s.conversation_id, s.key_id, s.sealed
    FROM anonymity_sealedconnection s
    JOIN escalation_disclosurerequest d ON d.conversation_id = s.conversation_id
    WHERE d.id = request_id AND d.state = 'approved' AND d.expires_at > now()
    ORDER BY s.sealed_at, s.id
$$;
REVOKE ALL ON FUNCTION escalation_sealed_for_disclosure(uuid) FROM PUBLIC;
"""

DROP = "DROP FUNCTION IF EXISTS escalation_sealed_for_disclosure(uuid);"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("escalation", "0002_audit_append_only_trigger")]

    operations = [migrations.RunPython(create_function, drop_function)]
