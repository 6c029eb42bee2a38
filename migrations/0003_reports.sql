-- Device reports (DESIGN §3, POST /v1/reports): update state changes and health
-- samples. A device numbers its reports with a seq that only grows and may send
-- a batch more than once, so (device_id, seq) is the key and a resend is an
-- INSERT OR IGNORE that changes nothing. Rollout gates count from this table.

CREATE TABLE reports (
  device_id                TEXT    NOT NULL,
  seq                      INTEGER NOT NULL CHECK (seq >= 1),
  at                       INTEGER NOT NULL,          -- unix seconds, the device's clock
  received_at              INTEGER NOT NULL,          -- unix seconds, the edge's clock (first receipt)
  state                    TEXT    NOT NULL CHECK (state IN ('downloading', 'downloaded', 'installing', 'rebooting', 'succeeded', 'failed', 'rolled_back', 'health')),
  code                     TEXT,                      -- failed / rolled_back only
  sha256                   TEXT,                      -- the image the event is about
  running_version          TEXT    NOT NULL,
  running_security_version INTEGER NOT NULL,
  campaign_id              TEXT,
  detail                   TEXT,
  uptime_s                 INTEGER,                   -- health only
  reboots                  INTEGER,                   -- health only
  crashes                  INTEGER,                   -- health only
  PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE INDEX reports_campaign ON reports (campaign_id, state) WHERE campaign_id IS NOT NULL;

-- Per-device summary of the newest report (by seq, not by arrival), so a
-- fleet listing needs no scan of reports. last_report_seq guards the update:
-- an old batch arriving late, or a resend, leaves the summary as it is.
ALTER TABLE devices ADD COLUMN last_report_seq INTEGER;
ALTER TABLE devices ADD COLUMN last_report_at INTEGER;
ALTER TABLE devices ADD COLUMN last_report_received_at INTEGER;
ALTER TABLE devices ADD COLUMN last_state TEXT;
ALTER TABLE devices ADD COLUMN running_version TEXT;
ALTER TABLE devices ADD COLUMN running_security_version INTEGER;
