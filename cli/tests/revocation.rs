//! `updraft revoke` and `updraft revocations …` against a stand-in edge: what
//! is sent (and that nothing is sent unconfirmed), how answers and problems
//! are shown, how `watch` ends, and `verify` judging the list devices fetch
//! under a root chain it walks. The real worker is exercised by
//! tests/cli-revocation.test.mjs and tests/runbooks.test.mjs.

mod common;

use common::fake_edge::{FakeEdge, Reply};
use common::Lab;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use updraft_core::revocation::{RevocationList, Revoked};
use updraft_core::root::SignedDocument;
use updraft_core::{Sha256, UnixTime};

const TOKEN: &str = "updt_test_secret_0123456789abcdef";
const SHA: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";
/// Far enough ahead that the system clock never reaches it.
const LIST_EXPIRES: u64 = 4_000_000_000;

fn record(seq: u64, purge: &str, attempts: u32) -> Value {
    json!({
        "seq": seq, "reason": "CVE-2026-1234: bootloop on rev B boards", "created_at": 1_795_000_000u64,
        "created_by": "security person", "sha256": [SHA], "release_ids": ["rel-bad"], "min_security_version": {},
        "replacement_release_id": "rel-fix", "fix_forward_campaign_id": "cmp-fix", "halted_campaigns": ["cmp-1"],
        "purge": {"status": purge, "attempts": attempts,
                  "last_error": if purge == "succeeded" { Value::Null } else { json!("HTTP 429 rate limited") },
                  "next_attempt_at": if purge == "pending" { json!(1_795_000_060u64) } else { Value::Null },
                  "done_at": if purge == "succeeded" { json!(1_795_000_012u64) } else { Value::Null },
                  "urls": ["https://edge.example/v1/revocations.json"], "tags": ["revocations"],
                  "urls_left": [], "tags_left": if purge == "succeeded" { json!([]) } else { json!(["revocations"]) }, "log": []}
    })
}

fn run(lab: &Lab, edge: &FakeEdge, args: &[&str]) -> common::Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--server", edge.url()]);
    lab.run_env(&all, &[("UPDRAFT_TOKEN", TOKEN)])
}

fn sent(edge: &FakeEdge) -> Vec<String> {
    edge.requests().iter().map(|r| format!("{} {}", r.method, r.path())).collect()
}

#[test]
fn revoke_sends_nothing_without_a_confirmation() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(201, &json!({})));
    run(&lab, &edge, &["revoke", "--release", "rel-bad", "--reason", "bootloop"])
        .assert_code(2)
        .assert_stderr_contains("--yes")
        .assert_stderr_contains("nothing was sent");
    let v = run(&lab, &edge, &["--json", "revoke", "--release", "rel-bad", "--reason", "bootloop"]).assert_code(2).json();
    assert_eq!(v["error"]["type"], "usage");
    // Bad input is refused before the confirmation is even considered.
    for bad in [
        vec!["revoke", "--reason", "nothing named", "--yes"],
        vec!["revoke", "--release", "rel-bad", "--yes"],
        vec!["revoke", "--sha256", "not-hex", "--reason", "x", "--yes"],
        vec!["revoke", "--min-security-version", "acme-thermostat", "--reason", "x", "--yes"],
        vec!["revoke", "--release", "rel-a", "--replacement", "rel-a", "--reason", "x", "--yes"],
        vec!["revoke", "--release", "rel-a", "--fix-max-in-flight", "9", "--fix-max-starts-per-minute", "9", "--reason", "x", "--yes"],
    ] {
        run(&lab, &edge, &bad).assert_code(2);
    }
    // No token: a usage error before the network, too.
    lab.run_args(&["revoke", "--release", "rel-bad", "--reason", "x", "--yes", "--server", edge.url()]).assert_code(2);
    assert_eq!(edge.connections(), 0);
}

#[test]
fn revoke_posts_the_contracts_body_and_shows_what_to_watch() {
    let lab = Lab::new();
    let answer = json!({
        "seq": 3, "revocation": record(3, "pending", 1),
        "list": {"payloadType": "application/vnd.updraft.revocations+json", "payload": "e30=", "signatures": []},
        "halted_campaigns": ["cmp-1"], "fix_forward_campaign_id": "cmp-fix"
    });
    let edge = FakeEdge::canned(Reply::json(201, &answer));
    let args = [
        "revoke",
        "--release",
        "rel-bad",
        "--sha256",
        SHA,
        "--min-security-version",
        "acme-thermostat=7",
        "--reason",
        "CVE-2026-1234: bootloop on rev B boards",
        "--replacement",
        "rel-fix",
        "--fix-max-starts-per-minute",
        "60",
        "--fix-max-in-flight",
        "200",
        "--yes",
    ];
    run(&lab, &edge, &args)
        .assert_code(0)
        .assert_stdout_contains("revoked: the signed revocation list is now seq 3")
        .assert_stdout_contains("halted       cmp-1")
        .assert_stdout_contains("campaign cmp-fix offers rel-fix")
        .assert_stdout_contains("pending after 1 attempt; last error: HTTP 429 rate limited")
        .assert_stdout_contains("updraft revocations watch 3");
    let request = &edge.requests()[0];
    assert_eq!((request.method.as_str(), request.path()), ("POST", "/api/revocations"));
    assert_eq!(request.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"reason": "CVE-2026-1234: bootloop on rev B boards", "sha256": [SHA], "release_ids": ["rel-bad"],
               "min_security_version": {"acme-thermostat": 7}, "replacement_release_id": "rel-fix",
               "fix_forward": {"max_starts_per_minute": 60, "max_in_flight": 200}, "rollback_campaigns": true})
    );

    let mut args = args.to_vec();
    args.insert(0, "--json");
    let v = run(&lab, &edge, &args).assert_code(0).json();
    let mut expected = answer.clone();
    expected["ok"] = json!(true);
    assert_eq!(v, expected, "--json is the edge's answer next to ok");
}

#[test]
fn a_refused_revocation_exits_5_with_the_problems_slug() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::problem(409, "replacement-not-approved", "rel-fix is pending approval"));
    run(&lab, &edge, &["revoke", "--release", "rel-bad", "--replacement", "rel-fix", "--reason", "x", "-y"])
        .assert_code(5)
        .assert_stderr_contains("POST /api/revocations: 409 replacement-not-approved: rel-fix is pending approval");
    let v = run(&lab, &edge, &["--json", "revoke", "--release", "rel-bad", "--reason", "x", "-y"]).assert_code(5).json();
    assert_eq!(v["error"]["type"], "replacement-not-approved");
    assert_eq!(v["error"]["status"], 409);
    let forbidden = FakeEdge::canned(Reply::problem(403, "forbidden-role", "needs the security role"));
    run(&lab, &forbidden, &["revoke", "--sha256", SHA, "--reason", "x", "-y"]).assert_code(5).assert_stderr_contains("forbidden-role");
}

#[test]
fn list_show_and_purge_use_their_routes() {
    let lab = Lab::new();
    let edge = FakeEdge::start(|r| match (r.method.as_str(), r.path()) {
        ("GET", "/api/revocations") => {
            Reply::json(200, &json!({"seq": 3, "revocations": [record(3, "failed", 8), record(2, "succeeded", 1)]}))
        }
        ("GET", "/api/revocations/3") => Reply::json(200, &record(3, "failed", 8)),
        ("POST", "/api/revocations/3/purge") => Reply::json(200, &record(3, "succeeded", 9)),
        _ => Reply::problem(404, "revocation-not-found", "no such revocation"),
    });
    run(&lab, &edge, &["revocations", "list"])
        .assert_code(0)
        .assert_stdout_contains("revocation list seq 3")
        .assert_stdout_contains("FAILED (8)")
        .assert_stdout_contains("1 release, 1 image");
    let v = run(&lab, &edge, &["--json", "revocations", "list"]).assert_code(0).json();
    assert_eq!(v["seq"], 3);
    assert_eq!(v["revocations"][1], record(2, "succeeded", 1));
    run(&lab, &edge, &["revocations", "show", "3"])
        .assert_code(0)
        .assert_stdout_contains("FAILED: gave up after 8 attempts; last error: HTTP 429 rate limited")
        .assert_stdout_contains("retry it now: updraft revocations purge 3");
    run(&lab, &edge, &["revocations", "purge", "3"])
        .assert_code(0)
        .assert_stdout_contains("purge of revocation seq 3 retried")
        .assert_stdout_contains("succeeded at ");
    let v = run(&lab, &edge, &["--json", "revocations", "show", "9"]).assert_code(5).json();
    assert_eq!(v["error"]["type"], "revocation-not-found");
    assert_eq!(
        sent(&edge),
        [
            "GET /api/revocations",
            "GET /api/revocations",
            "GET /api/revocations/3",
            "POST /api/revocations/3/purge",
            "GET /api/revocations/9"
        ]
    );
}

/// A revocation whose purge is pending for two polls, then `last`.
fn purging_edge(last: &'static str) -> FakeEdge {
    let polls = Arc::new(AtomicUsize::new(0));
    FakeEdge::start(move |_| {
        let n = polls.fetch_add(1, Ordering::SeqCst);
        let attempts = u32::try_from(n).unwrap() + 1;
        Reply::json(200, &record(5, if n < 2 { "pending" } else { last }, attempts))
    })
}

#[test]
fn watch_exits_0_when_the_purge_succeeds_and_1_when_it_fails_or_times_out() {
    let lab = Lab::new();
    let edge = purging_edge("succeeded");
    run(&lab, &edge, &["revocations", "watch", "5", "--interval", "1"])
        .assert_code(0)
        .assert_stdout_contains("succeeded at ")
        .assert_stderr_contains("revocation seq 5: purge pending after 1 attempt");
    assert_eq!(edge.requests().len(), 3, "it polls until the purge is done");

    let edge = purging_edge("failed");
    let run_failed = run(&lab, &edge, &["--json", "revocations", "watch", "5", "--interval", "1"]);
    let v = run_failed.assert_code(1).json();
    assert_eq!(v["error"]["type"], "purge-failed");
    assert!(v["error"]["message"].as_str().unwrap().contains("updraft revocations purge 5"), "{v}");
    assert!(run_failed.stderr.is_empty(), "--json prints no progress: {}", run_failed.stderr);

    let edge = FakeEdge::canned(Reply::json(200, &record(5, "not-configured", 0)));
    run(&lab, &edge, &["revocations", "watch", "5"]).assert_code(0).assert_stdout_contains("not configured");

    let edge = FakeEdge::canned(Reply::json(200, &record(5, "pending", 1)));
    run(&lab, &edge, &["revocations", "watch", "5", "--interval", "1", "--timeout", "1"])
        .assert_code(1)
        .assert_stderr_contains("still pending");
}

/// Serves `list` (signed by `signer`) at /v1/revocations.json and the given roots at /v1/root/{n}.json.
fn list_edge(lab: &Lab, list: &RevocationList, signer: &str, roots: Vec<(u64, String)>) -> FakeEdge {
    let envelope = serde_json::to_value(list.sign(&[&lab.signing_key(signer)])).unwrap();
    FakeEdge::start(move |r| {
        if r.path() == "/v1/revocations.json" {
            return Reply::json(200, &envelope);
        }
        match roots.iter().find(|(n, _)| r.path() == format!("/v1/root/{n}.json")) {
            Some((_, text)) => Reply::bytes(200, "application/json", text.clone().into_bytes()),
            None => Reply::problem(404, "root-not-found", "no such root"),
        }
    })
}

fn a_list(seq: u64) -> RevocationList {
    RevocationList {
        seq,
        issued_at: UnixTime(1_795_000_000),
        expires: UnixTime(LIST_EXPIRES),
        revoked: vec![Revoked { sha256: Sha256::parse_hex(SHA).unwrap(), reason: "bootloop".into(), at: UnixTime(1_795_000_000) }],
        min_security_version: [(updraft_core::ProductName::parse("acme-thermostat").unwrap(), updraft_core::SecurityVersion(7))].into(),
        revoked_keyids: vec![],
    }
}

#[test]
fn verify_judges_the_list_devices_fetch_under_the_edge_role() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    let edge = list_edge(&lab, &a_list(3), "edge", vec![]);
    let verify = |extra: &[&str]| {
        let mut args = vec!["revocations", "verify", "--root", "root_v1.json", "--server", edge.url()];
        args.extend_from_slice(extra);
        lab.run_args(&args)
    };
    verify(&["--min-seq", "3", "--revoked", SHA])
        .assert_code(0)
        .assert_stdout_contains("verifies under root v1")
        .assert_stdout_contains("seq 3, issued")
        .assert_stdout_contains(&format!("revoked  sha256 {SHA}"))
        .assert_stdout_contains("floor    acme-thermostat security_version ≥ 7");
    let v = verify(&["--json"]).assert_code(0).json();
    assert_eq!(
        (v["seq"].clone(), v["root_version"].clone(), v["list"]["revoked"][0]["reason"].clone()),
        (json!(3), json!(1), json!("bootloop"))
    );
    let low = verify(&["--json", "--min-seq", "4"]).assert_code(1).json();
    assert_eq!(low["error"]["type"], "revocation-seq-too-low");
    let other = "00".repeat(32);
    let missing = verify(&["--json", "--revoked", &other]).assert_code(1).json();
    assert_eq!(missing["error"]["type"], "not-revoked");
    assert!(missing["error"]["message"].as_str().unwrap().contains(&other));
    // No token is needed: the list is public.
    assert!(edge.requests().iter().all(|r| r.header("authorization").is_none()));
}

#[test]
fn rejects_a_list_signed_by_a_key_outside_the_edge_role() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    let edge = list_edge(&lab, &a_list(3), "rel1", vec![]);
    let v = lab.run_args(&["--json", "revocations", "verify", "--root", "root_v1.json", "--server", edge.url()]).assert_code(1).json();
    assert_eq!(v["error"]["type"], "signature-threshold-not-met", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("/v1/revocations.json"), "{v}");
}

#[test]
fn walks_the_edges_newer_roots_before_judging_the_list() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.key("edge2");
    lab.ok("root rotate --from root_v1.json --edge-key edge2.key.pub --out root_v2.json");
    lab.ok("root sign --key r1.key root_v2.json");
    lab.ok("root sign --key r2.key root_v2.json");
    let edge = list_edge(&lab, &a_list(4), "edge2", vec![(2, lab.read("root_v2.json"))]);
    let v = lab.run_args(&["--json", "revocations", "verify", "--root", "root_v1.json", "--server", edge.url()]).assert_code(0).json();
    assert_eq!(v["root_version"], 2);
    assert_eq!(v["roots_walked"], json!([2]));
    assert_eq!(sent(&edge), ["GET /v1/root/2.json", "GET /v1/root/3.json", "GET /v1/revocations.json"]);

    // A root v2 the old root keys did not sign stops the walk: exit 1.
    lab.ok("root rotate --from root_v1.json --edge-key edge2.key.pub --root-key edge2.key.pub --root-threshold 1 --out forged_v2.json");
    lab.ok("root sign --key edge2.key forged_v2.json");
    let forged = list_edge(&lab, &a_list(4), "edge2", vec![(2, lab.read("forged_v2.json"))]);
    lab.run_args(&["revocations", "verify", "--root", "root_v1.json", "--server", forged.url()])
        .assert_code(1)
        .assert_stderr_contains("GET /v1/root/2.json");
}
