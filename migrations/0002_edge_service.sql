-- Edge service (issue 3): admin tokens, enrollment, devices, artifacts, releases.
-- Secrets are never stored: tokens are kept as the hex SHA-256 of their text.

CREATE TABLE api_tokens (
  id           TEXT    PRIMARY KEY,
  name         TEXT    NOT NULL,
  role         TEXT    NOT NULL CHECK (role IN ('uploader', 'approver', 'operator', 'security', 'viewer', 'admin')),
  token_sha256 TEXT    NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  created_by   TEXT    NOT NULL,
  revoked_at   INTEGER
);

CREATE TABLE enroll_tokens (
  id           TEXT    PRIMARY KEY,
  name         TEXT    NOT NULL,
  product      TEXT    NOT NULL,
  token_sha256 TEXT    NOT NULL UNIQUE,
  max_uses     INTEGER NOT NULL CHECK (max_uses >= 1),
  uses         INTEGER NOT NULL DEFAULT 0,
  expires_at   INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  created_by   TEXT    NOT NULL,
  revoked_at   INTEGER
);

CREATE TABLE devices (
  id              TEXT    PRIMARY KEY,
  public_key      TEXT    NOT NULL,
  product         TEXT    NOT NULL,
  hardware_id     TEXT    NOT NULL,
  serial          TEXT    NOT NULL,
  enrolled_at     INTEGER NOT NULL,
  enroll_token_id TEXT    NOT NULL,
  revoked_at      INTEGER
);
CREATE INDEX devices_revoked ON devices (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE artifacts (
  sha256      TEXT    PRIMARY KEY,
  length      INTEGER NOT NULL,
  uploaded_at INTEGER NOT NULL,
  uploaded_by TEXT    NOT NULL
);

CREATE TABLE releases (
  id               TEXT    PRIMARY KEY,
  product          TEXT    NOT NULL,
  version          TEXT    NOT NULL,
  security_version INTEGER NOT NULL,
  artifact_sha256  TEXT    NOT NULL REFERENCES artifacts (sha256),
  envelope         TEXT    NOT NULL,
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'approved')),
  uploaded_by      TEXT    NOT NULL,
  uploaded_at      INTEGER NOT NULL,
  approved_by      TEXT,
  approved_at      INTEGER,
  UNIQUE (product, version)
);
CREATE INDEX releases_approved ON releases (status) WHERE status = 'approved';
