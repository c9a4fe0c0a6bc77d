-- The web tier's PostgreSQL role: it may store sealed connection records
-- but never read them back (docs/security.md §B1).
-- Run as the owner of the schema after `migrate`. :web is the role name,
-- e.g. psql -v web=ecoute_web -f anonymity/sql/web_role.sql
GRANT USAGE ON SCHEMA public TO :web;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :web;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :web;

REVOKE ALL ON anonymity_sealedconnection FROM PUBLIC;
REVOKE ALL ON anonymity_sealedconnection FROM :web;
GRANT INSERT ON anonymity_sealedconnection TO :web;
GRANT SELECT (id, conversation_id, key_id, sealed_at, expires_at)
    ON anonymity_sealedconnection TO :web;
-- Retention deletes expired rows by their expiry date.
GRANT DELETE ON anonymity_sealedconnection TO :web;

-- The audit trail is append-only (escalation/audit.py): the web role may
-- add and read entries, never change or remove one. A trigger refuses
-- UPDATE and DELETE for every role as well.
REVOKE UPDATE, DELETE, TRUNCATE ON escalation_auditevent FROM :web;
-- A custodian executing an approved disclosure from the console gets the
-- sealed blobs of that request only, while it is approved and unexpired.
GRANT EXECUTE ON FUNCTION escalation_sealed_for_disclosure(uuid) TO :web;
