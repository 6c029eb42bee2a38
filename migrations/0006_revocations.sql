-- Emergency revocation (DESIGN §2, §5; issue 6). One row per revocation: seq
-- 1, 2, 3… is the signed list's sequence after it, so every revocation raises
-- it by exactly one. The insert is guarded (`WHERE ?seq = MAX(seq) + 1`) and
-- runs with its audit entry in one D1 batch: seq, revocation and audit entry
-- commit together or not at all. (DESIGN §5 first placed the sequence in a
-- Durable Object; D1's single primary already serialises this write, and one
-- store keeps the seq and what it revoked in the same transaction.)
--
-- `sha256` holds the images revoked, release ids already resolved to their
-- artifacts; `min_security_version` a JSON object product -> floor. The list
-- devices fetch (GET /v1/revocations.json) is built from every row and signed
-- on demand (core::revocation::build_list). Rows are never deleted:
-- revocation is one-way.
--
-- `purge` is the JSON core::purge::PurgeState of the CDN purge: status,
-- attempts, last error, next attempt, what is left; the cron retries pending
-- purges whose next attempt is due.

CREATE TABLE revocations (
  seq                     INTEGER PRIMARY KEY CHECK (seq >= 1),
  reason                  TEXT    NOT NULL,
  created_at              INTEGER NOT NULL,
  created_by              TEXT    NOT NULL,
  sha256                  TEXT    NOT NULL,              -- JSON array of hex SHA-256
  release_ids             TEXT    NOT NULL,              -- JSON array, as asked
  min_security_version    TEXT    NOT NULL,              -- JSON object
  replacement_release_id  TEXT,
  fix_forward_campaign_id TEXT,
  halted_campaigns        TEXT    NOT NULL DEFAULT '[]', -- JSON array of campaign ids
  purge                   TEXT    NOT NULL,              -- JSON core::purge::PurgeState
  purge_status            TEXT    NOT NULL,              -- copy of purge.status, for the cron's query
  purge_next_at           INTEGER                        -- copy of purge.next_attempt_at
);
CREATE INDEX revocations_purge_due ON revocations (purge_next_at) WHERE purge_status = 'pending';
