-- Rollout campaigns (DESIGN §4, issue 5). A campaign binds one approved release
-- to a validated CampaignSpec (core/src/rollout/spec.rs) and moves through the
-- core state machine (core/src/rollout/state.rs). The spec is stored as the
-- JSON the worker validated, salt included, and never changes after creation.
-- The state is the CampaignState JSON, with its name and wave copied into
-- columns for listing. Every state change is a compare-and-swap on the state
-- JSON, appended to the audit log in the same D1 batch (worker/src/campaigns.rs).
--
-- Per-device attempts, budgets and per-wave counters live in the campaign's
-- Durable Object (worker/src/budget_object.rs), which is the strongly
-- consistent counter: D1 keeps only what people read (the per-minute series).

CREATE TABLE campaigns (
  id          TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL,
  release_id  TEXT    NOT NULL REFERENCES releases (id),
  product     TEXT    NOT NULL,                       -- the release's product
  spec        TEXT    NOT NULL,                       -- validated CampaignSpec JSON
  salt        TEXT    NOT NULL,                       -- cohort salt (also inside spec)
  state       TEXT    NOT NULL,                       -- CampaignState JSON
  state_name  TEXT    NOT NULL CHECK (state_name IN ('draft', 'approved', 'running', 'paused', 'halted', 'completed', 'cancelled')),
  wave        INTEGER,                                -- current wave, when the state has one
  pace        INTEGER NOT NULL,                       -- starts per minute until the next tick
  created_by  TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  approved_by TEXT,
  approved_at INTEGER,
  updated_at  INTEGER NOT NULL,
  status      TEXT                                    -- last tick's verdicts and waiting reason (JSON)
);
CREATE INDEX campaigns_live ON campaigns (state_name) WHERE state_name <> 'draft';

-- Per-minute time series of a campaign, by the edge's clock (minute = unix s / 60).
-- Incremented only for what the Durable Object counted (a first offer, a start,
-- a first or changed outcome), so a resent report never counts twice.
CREATE TABLE campaign_series (
  campaign_id TEXT    NOT NULL,
  minute      INTEGER NOT NULL,
  offered     INTEGER NOT NULL DEFAULT 0,
  started     INTEGER NOT NULL DEFAULT 0,
  succeeded   INTEGER NOT NULL DEFAULT 0,
  failed      INTEGER NOT NULL DEFAULT 0,
  rolled_back INTEGER NOT NULL DEFAULT 0,
  expired     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, minute)
) WITHOUT ROWID;

-- Where a device is, from request.cf at enrollment (regionCode, country,
-- timezone): the fleet distribution by U.S. region reads these. Checks take
-- their location from the request itself, never from this row.
ALTER TABLE devices ADD COLUMN us_state TEXT;
ALTER TABLE devices ADD COLUMN country TEXT;
ALTER TABLE devices ADD COLUMN timezone TEXT;
CREATE INDEX devices_fleet ON devices (running_version, hardware_id);
