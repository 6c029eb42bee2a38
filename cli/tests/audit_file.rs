//! `updraft audit verify --file`: exports edited, cut, reordered or damaged
//! on disk are refused naming the entry, with the exit codes of `error.rs`.

mod common;

use common::Lab;
use serde_json::json;
use updraft_core::audit::{AuditEntry, AuditEvent, ChainHead};
use updraft_core::UnixTime;

fn log(n: u64) -> Vec<AuditEntry> {
    let mut entries: Vec<AuditEntry> = Vec::new();
    for i in 0..n {
        let event =
            AuditEvent::new(format!("tok-{i}"), "ops", "admin", "token.create", format!("tok-new-{i}"), json!({ "role": "viewer" }))
                .expect("valid event");
        let head = entries.last().map_or(ChainHead::GENESIS, AuditEntry::head);
        entries.push(head.next(event, UnixTime(1_800_000_000 + i)));
    }
    entries
}

fn ndjson(entries: &[AuditEntry]) -> String {
    entries.iter().map(|e| serde_json::to_string(e).expect("entry json") + "\n").collect()
}

#[test]
fn an_intact_export_verifies_and_prints_its_head() {
    let lab = Lab::new();
    let entries = log(5);
    lab.write("audit.ndjson", ndjson(&entries));
    let run = lab.ok("--json audit verify --file audit.ndjson");
    let out = run.json();
    assert_eq!(out["entries"], 5);
    assert_eq!(out["head"]["seq"], 5);
    assert_eq!(out["head"]["hash"], entries[4].hash.to_hex());
    lab.ok("audit verify --file audit.ndjson").assert_stdout_contains(&format!("head  5:{}", entries[4].hash));
}

#[test]
fn edited_export_exits_1_naming_the_entry() {
    let lab = Lab::new();
    let mut entries = log(5);
    entries[1].subject = "tok-attacker".into();
    lab.write("audit.ndjson", ndjson(&entries));
    let run = lab.run("--json audit verify --file audit.ndjson");
    run.assert_code(1);
    let error = &run.json()["error"];
    assert_eq!((error["type"].as_str(), error["seq"].as_u64()), (Some("audit-entry-edited"), Some(2)));
}

#[test]
fn truncated_export_fails_only_against_an_expected_head() {
    let lab = Lab::new();
    let entries = log(6);
    lab.write("audit.ndjson", ndjson(&entries[..4]));
    lab.ok("audit verify --file audit.ndjson");
    let head = entries[5].head().to_string();
    let run = lab.run_args(&["--json", "audit", "verify", "--file", "audit.ndjson", "--expect-head", &head]);
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "audit-log-truncated");
}

#[test]
fn a_line_that_is_not_an_entry_is_named() {
    let lab = Lab::new();
    let entries = log(3);
    let mut text = ndjson(&entries);
    text = text.replacen(&entries[1].hash.to_hex(), "not-a-hash", 1);
    lab.write("audit.ndjson", &text);
    let run = lab.run("audit verify --file audit.ndjson");
    run.assert_code(1).assert_stderr_contains("entry 2 is malformed");

    lab.write("garbage.ndjson", "\nthis is not json\n");
    lab.run("audit verify --file garbage.ndjson").assert_code(3).assert_stderr_contains("line 2 is not JSON");
    lab.run("audit verify --file missing.ndjson").assert_code(3);
    lab.run("audit verify --file audit.ndjson --expect-head 5").assert_code(2);
}
