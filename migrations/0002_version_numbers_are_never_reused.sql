-- The last version number given to each app name. It outlives the app: an app
-- deleted and uploaded again goes on from where it was, so a version number
-- in an old job's report never names different content.
CREATE TABLE app_version_counters (
    name         TEXT PRIMARY KEY,
    last_version INT NOT NULL CHECK (last_version > 0)
);

INSERT INTO app_version_counters (name, last_version)
SELECT app_name, max(version) FROM app_versions GROUP BY app_name;
