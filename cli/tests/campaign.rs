//! `updraft campaign`: what the CLI does on its own (the template, local
//! validation before any network, confirmations) and what it sends to and
//! reads from a stand-in edge. The real worker is exercised by
//! tests/cli-campaigns.test.mjs.

mod common;

use common::fake_edge::{FakeEdge, Reply};
use common::Lab;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use updraft_core::rollout::parse_spec;

const TOKEN: &str = "updt_test_secret_0123456789abcdef";

/// A spec as an operator would fill in the template: real release and staging group.
fn filled_template(lab: &Lab) -> String {
    let text = lab.ok("campaign template").stdout;
    text.replace("\"release_id\": \"REPLACE-ME\"", "\"release_id\": \"rel-0123abcd\"")
        .replace("\"device_ids\": [\"REPLACE-ME\"]", "\"device_ids\": [\"dev-lab-1\", \"dev-lab-2\", \"dev-lab-3\"]")
}

fn summary(state: Value) -> Value {
    json!({"id": "cmp-0123abcd", "name": "acme-thermostat 1.4.0", "release_id": "rel-0123abcd", "product": "acme-thermostat",
           "state": state, "wave": state["wave"], "created_by": "tok-operator", "created_at": 1_800_000_000u64,
           "approved_by": null, "approved_at": null, "updated_at": 1_800_000_000u64})
}

/// `GET /api/campaigns/{id}` as the worker answers it.
fn page(state: Value, canary: Value) -> Value {
    json!({
        "campaign": summary(state),
        "waves": [
            {"index": 0, "name": "staging", "percent": 0.0, "counters": {"offered": 3, "started": 3, "succeeded": 3},
             "failure_rate": 0.0, "failure_rate_upper_bound": 0.25, "gate_max_failure_rate": 0.5, "gate_min_finished": 3,
             "verdict": {"verdict": "pass"}},
            {"index": 1, "name": "canary", "percent": 1.0, "counters": canary,
             "failure_rate": null, "failure_rate_upper_bound": 0.3, "gate_max_failure_rate": 0.05, "gate_min_finished": 20,
             "verdict": {"verdict": "pending"}}
        ],
        "adoption": {"release_version": "1.4.0", "devices": 100, "on_release": 12, "percent": 12.0},
        "history": []
    })
}

#[test]
fn the_template_parses_with_parse_spec_once_the_edge_fills_the_salt() {
    let lab = Lab::new();
    let plain = lab.ok("campaign template --plain").stdout;
    assert!(!plain.contains("//"), "--plain has no comments:\n{plain}");
    let mut spec: Value = serde_json::from_str(&plain).expect("--plain is JSON");
    assert_eq!(spec["salt"], "", "the edge picks the salt");
    spec["salt"] = json!("0123456789abcdef0123");
    let parsed = parse_spec(&serde_json::to_vec(&spec).unwrap()).expect("the template is a valid campaign");
    let percents: Vec<u16> = parsed.waves.iter().map(|w| w.percent.basis_points()).collect();
    assert_eq!(percents, [0, 100, 1000, 5000, 10_000], "staging, canary 1 %, 10 %, 50 %, 100 %");
    let windows = serde_json::to_value(parsed.windows.as_ref().expect("windows")).unwrap();
    assert_eq!(windows["allowed"][0]["start"], "01:00");
    assert_eq!(windows["allowed"][0]["end"], "05:00");

    // The commented template is documented, and --json carries the same document.
    let commented = lab.ok("campaign template").stdout;
    assert!(commented.contains("// ") && commented.contains("Wilson upper bound"));
    let run = lab.ok("--json campaign template --release rel-77");
    let v = run.json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["spec"]["release_id"], "rel-77");
    assert_eq!(v["spec"]["waves"], spec["waves"]);

    // Filled in, it passes `create --dry-run` (comments and all) without a server.
    lab.write("campaign.json", filled_template(&lab));
    let run = lab.ok("campaign create --spec campaign.json --dry-run");
    assert!(run.stdout.contains("staging 0 % → canary 1 % → early 10 % → half 50 % → everyone 100 %"), "{}", run.stdout);
}

#[test]
fn a_bad_spec_fails_naming_the_field_with_exit_3_before_any_network() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(201, &summary(json!({"state": "draft"}))));
    let good = filled_template(&lab);
    let cases: Vec<(&str, String, &str)> = vec![
        ("typo", good.replacen("\"max_failure_rate\": 0.05", "\"max_failure_rat\": 0.05", 1), "waves[1].gate.max_failure_rat"),
        ("percents go down", good.replacen("\"percent\": 10,", "\"percent\": 0.5,", 1), "waves[2].percent"),
        ("bad window", good.replacen("\"start\": \"01:00\"", "\"start\": \"25:00\"", 1), "windows.allowed[0].start"),
        ("not a rate", good.replacen("\"max_failure_rate\": 0.03", "\"max_failure_rate\": 3", 1), "waves[2].gate.max_failure_rate"),
        ("placeholder left", good.replacen("\"dev-lab-2\"", "\"REPLACE-ME\"", 1), "selector.device_ids[1]"),
        ("release left", good.replacen("rel-0123abcd", "REPLACE-ME", 1), "release_id"),
    ];
    for (what, text, field) in cases {
        assert_ne!(text, good, "{what}: the edit must apply");
        lab.write("bad.json", &text);
        let args = ["campaign", "create", "--spec", "bad.json", "--server", edge.url()];
        let run = lab.run_env(&args, &[("UPDRAFT_TOKEN", TOKEN)]);
        run.assert_code(3).assert_stderr_contains(&format!("`{field}`")).assert_stderr_contains("bad.json");
        let run = lab.run_env(&["--json", "campaign", "create", "--spec", "bad.json", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
        run.assert_code(3);
        let v = run.json();
        assert_eq!(v["error"]["type"], "invalid-campaign", "{what}");
        assert!(v["error"]["message"].as_str().unwrap().contains(field), "{what}: {v}");
    }
    lab.write("broken.json", "{\"name\": \"x\",\n  \"waves\": [}\n");
    lab.run_env(&["campaign", "create", "--spec", "broken.json", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)])
        .assert_code(3)
        .assert_stderr_contains("line 2");
    lab.run_env(&["campaign", "create", "--spec", "missing.json", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]).assert_code(3);
    assert_eq!(edge.connections(), 0, "a bad spec never reaches the network");
}

#[test]
fn create_sends_plain_json_with_the_release_override_and_leaves_the_salt_to_the_edge() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(201, &summary(json!({"state": "draft"}))));
    lab.write("campaign.json", filled_template(&lab));
    let run = lab.run_env(
        &["campaign", "create", "--spec", "campaign.json", "--release", "rel-99", "--server", edge.url()],
        &[("UPDRAFT_TOKEN", TOKEN)],
    );
    run.assert_code(0)
        .assert_stdout_contains("created campaign cmp-0123abcd")
        .assert_stdout_contains("updraft campaign approve cmp-0123abcd");
    let requests = edge.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!((sent.method.as_str(), sent.path()), ("POST", "/api/campaigns"));
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    let body: Value = serde_json::from_slice(&sent.body).expect("the edge gets plain JSON");
    assert_eq!(body["release_id"], "rel-99");
    assert_eq!(body["salt"], "");
    assert_eq!(body["selector"]["device_ids"][2], "dev-lab-3");

    let run =
        lab.run_env(&["--json", "campaign", "create", "--spec", "campaign.json", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    let v = run.assert_code(0).json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["id"], "cmp-0123abcd");
    assert_eq!(v["state"]["state"], "draft");

    // No token: a usage error, after validation, before the network.
    let before = edge.connections();
    lab.run_args(&["campaign", "create", "--spec", "campaign.json", "--server", edge.url()]).assert_code(2);
    assert_eq!(edge.connections(), before);
}

#[test]
fn rollback_and_cancel_need_yes_when_no_one_can_be_asked() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(200, &summary(json!({"state": "halted", "wave": 1, "rollback": true}))));
    for action in ["rollback", "cancel"] {
        let run = lab.run_env(&["campaign", action, "cmp-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
        run.assert_code(2).assert_stderr_contains("--yes").assert_stderr_contains("nothing was sent");
        let run = lab.run_env(&["--json", "campaign", action, "cmp-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
        assert_eq!(run.assert_code(2).json()["error"]["type"], "usage");
    }
    assert_eq!(edge.connections(), 0, "nothing is sent without a confirmation");

    let run = lab.run_env(&["campaign", "rollback", "cmp-0123abcd", "--yes", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0).assert_stdout_contains("rollback ordered: campaign cmp-0123abcd").assert_stdout_contains("rollback ordered");
    let run = lab.run_env(&["campaign", "cancel", "-y", "cmp-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0);
    let paths: Vec<String> = edge.requests().iter().map(|r| format!("{} {}", r.method, r.path())).collect();
    assert_eq!(paths, ["POST /api/campaigns/cmp-0123abcd/rollback", "POST /api/campaigns/cmp-0123abcd/cancel"]);
}

#[test]
fn each_action_posts_to_its_route() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(200, &summary(json!({"state": "running", "wave": 0, "since": 1_800_000_000u64}))));
    for action in ["approve", "start", "pause", "resume", "advance"] {
        let run = lab.run_env(&["--json", "campaign", action, "cmp-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
        assert_eq!(run.assert_code(0).json()["id"], "cmp-0123abcd");
    }
    let paths: Vec<String> = edge.requests().iter().map(|r| format!("{} {}", r.method, r.path())).collect();
    let expected: Vec<String> =
        ["approve", "start", "pause", "resume", "advance"].iter().map(|a| format!("POST /api/campaigns/cmp-0123abcd/{a}")).collect();
    assert_eq!(paths, expected);
    lab.run_env(&["campaign", "start", "../tokens", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]).assert_code(2);

    let refused = FakeEdge::canned(Reply::problem(409, "illegal-campaign-transition", "cannot start a campaign that is draft"));
    lab.run_env(&["campaign", "start", "cmp-0123abcd", "--server", refused.url()], &[("UPDRAFT_TOKEN", TOKEN)])
        .assert_code(5)
        .assert_stderr_contains("illegal-campaign-transition")
        .assert_stderr_contains("cannot start a campaign that is draft");
}

#[test]
fn status_shows_each_wave_against_its_gate_and_json_is_the_raw_record() {
    let lab = Lab::new();
    let served = page(
        json!({"state": "running", "wave": 1, "since": 1_800_000_000u64}),
        json!({"offered": 15, "started": 14, "succeeded": 10, "failed": 2, "in_flight": 2}),
    );
    let edge = FakeEdge::canned(Reply::json(200, &served));
    let run = lab.run_env(&["campaign", "status", "cmp-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0)
        .assert_stdout_contains("running, wave 1 (canary)")
        .assert_stdout_contains("12 of 100 devices (12.0 %)")
        .assert_stdout_contains("UPPER BOUND / GATE")
        .assert_stdout_contains("30.0 % > 5.0 %")
        .assert_stdout_contains("12/20");
    let v = lab.run_env(&["--json", "campaign", "status", "cmp-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]).json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["campaign"], served["campaign"]);
    assert_eq!(v["waves"], served["waves"]);
    assert_eq!(edge.requests()[0].path(), "/api/campaigns/cmp-0123abcd");
}

/// An edge whose campaign moves on each poll: running, running, then `last`.
fn moving_edge(last: Value) -> FakeEdge {
    let polls = Arc::new(AtomicUsize::new(0));
    FakeEdge::start(move |_| {
        let n = polls.fetch_add(1, Ordering::SeqCst);
        let state = if n < 2 { json!({"state": "running", "wave": 1, "since": 1_800_000_000u64}) } else { last.clone() };
        let canary = json!({"offered": 10 + n * 5, "started": 10 + n * 5, "succeeded": 8 + n * 5, "failed": 1});
        Reply::json(200, &page(state, canary))
    })
}

#[test]
fn watch_exits_0_when_the_campaign_completes_and_1_when_it_halts() {
    let lab = Lab::new();
    let edge = moving_edge(json!({"state": "completed"}));
    let run = lab.run_env(
        &["campaign", "status", "cmp-0123abcd", "--watch", "--interval", "1", "--server", edge.url()],
        &[("UPDRAFT_TOKEN", TOKEN)],
    );
    run.assert_code(0).assert_stdout_contains("completed").assert_stderr_contains("running, wave 1 (canary)");
    assert_eq!(edge.requests().len(), 3, "it polls until the campaign is final");

    let edge = moving_edge(json!({"state": "halted", "wave": 1, "rollback": true}));
    let run = lab.run_env(
        &["campaign", "status", "cmp-0123abcd", "--watch", "--interval", "1", "--server", edge.url()],
        &[("UPDRAFT_TOKEN", TOKEN)],
    );
    run.assert_code(1).assert_stdout_contains("halted at wave 1 (canary), rollback ordered").assert_stderr_contains("did not complete");

    let edge = moving_edge(json!({"state": "cancelled"}));
    let run = lab.run_env(
        &["--json", "campaign", "status", "cmp-0123abcd", "--watch", "--interval", "1", "--server", edge.url()],
        &[("UPDRAFT_TOKEN", TOKEN)],
    );
    let v = run.assert_code(1).json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["error"]["type"], "campaign-cancelled");
    assert_eq!(v["error"]["campaign"]["campaign"]["state"]["state"], "cancelled", "the final record rides along");
    assert!(run.stderr.is_empty(), "--json prints no progress: {}", run.stderr);

    lab.run_args(&["campaign", "status", "cmp-1", "--interval", "5"]).assert_code(2);
}

#[test]
fn list_shows_a_table_and_json_the_records() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(200, &json!([summary(json!({"state": "paused", "wave": 2}))])));
    let run = lab.run_env(&["campaign", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0).assert_stdout_contains("cmp-0123abcd").assert_stdout_contains("paused");
    let v = lab.run_env(&["--json", "campaign", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]).json();
    assert_eq!(v["campaigns"][0]["id"], "cmp-0123abcd");
}
