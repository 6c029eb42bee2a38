-- Root history (DESIGN §2): each root version is published once and never changes.
CREATE TABLE roots (
  version      INTEGER PRIMARY KEY CHECK (version >= 1),
  envelope     TEXT    NOT NULL,           -- the DSSE envelope JSON, byte for byte as served
  sha256       TEXT    NOT NULL,           -- hex SHA-256 of `envelope`
  expires      INTEGER NOT NULL,           -- unix seconds, from the verified payload
  published_at INTEGER NOT NULL            -- unix seconds
);
