-- A context's own Kafka and Cassandra settings, over the server's defaults:
-- {"kafka": {"brokers": ..., "options": {...}}, "cassandra": {"nodes": [...], ...}}.
-- Credentials are kept here as given, so that they outlive restarts; the API
-- never shows them.
ALTER TABLE contexts ADD COLUMN clusters JSONB NOT NULL DEFAULT '{}';
