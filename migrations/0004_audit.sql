-- Audit log (DESIGN §4): every admin action that changes state, hash-chained.
-- An entry's hash covers every other column (core/src/audit.rs defines the
-- encoding), and prev is the hash of entry seq - 1 (64 zeros for seq 1), so an
-- edited, removed or reordered row breaks the chain where `updraft audit verify`
-- can point at it.
--
-- Appends are compare-and-swap on seq: the worker reads the head, computes
-- entry head + 1 and inserts it in the same D1 batch (one transaction) as the
-- change it records. If another append took that seq first, the PRIMARY KEY
-- refuses the insert, the batch rolls back and the worker retries from the new
-- head (worker/src/audit.rs). Rows are never updated or deleted by the edge.

CREATE TABLE audit_log (
  seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
  at         INTEGER NOT NULL,                  -- unix seconds, the edge's clock
  actor      TEXT    NOT NULL,                  -- API token id, or bootstrap
  actor_name TEXT    NOT NULL,                  -- the token's name
  role       TEXT    NOT NULL,                  -- the token's role when it acted
  action     TEXT    NOT NULL,                  -- e.g. release.approve
  subject    TEXT    NOT NULL,                  -- the id or digest acted on
  details    TEXT    NOT NULL,                  -- canonical JSON object
  prev       TEXT    NOT NULL,                  -- hex SHA-256 of entry seq - 1
  hash       TEXT    NOT NULL UNIQUE            -- hex SHA-256 of this entry
);
