//! Talking to the edge when things go wrong: no token (2), the server refuses
//! (5, with its problem slug and detail), the server is down or failing (6),
//! and the admin token never leaks into output.

mod common;

use common::fake_edge::{FakeEdge, Reply};
use common::Lab;

const TOKEN: &str = "updt_test_secret_0123456789abcdef";

#[test]
fn admin_commands_refuse_to_run_without_updraft_token() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(200, &serde_json::json!([])));
    for command in [
        vec!["releases", "list"],
        vec!["tokens", "list"],
        vec!["enroll-tokens", "create", "--name", "line-1", "--product", "acme-thermostat"],
        vec!["approve", "rel-1"],
        vec!["root", "publish", "root_v1.json"],
    ] {
        let mut args = command.clone();
        args.extend(["--server", edge.url()]);
        let run = lab.run_args(&args);
        run.assert_code(2).assert_stderr_contains("UPDRAFT_TOKEN is not set").assert_stderr_contains("never from a flag");
    }
    let run = lab.run_env(&["--json", "releases", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", "  ")]);
    run.assert_code(2);
    assert_eq!(run.json()["error"]["type"], "usage");
    assert_eq!(edge.connections(), 0, "nothing may be sent without a token");
}

#[test]
fn an_unreachable_server_exits_6_and_says_where_it_looked() {
    let lab = Lab::new();
    let run = lab.run_env(&["releases", "list", "--server", "http://127.0.0.1:1"], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(6)
        .assert_stderr_contains("cannot reach the edge at http://127.0.0.1:1")
        .assert_stderr_contains("GET /api/releases")
        .assert_stderr_contains("UPDRAFT_SERVER");

    let run = lab.run_env(&["--json", "tokens", "list"], &[("UPDRAFT_TOKEN", TOKEN), ("UPDRAFT_SERVER", "http://127.0.0.1:1")]);
    run.assert_code(6);
    assert_eq!(run.json()["error"]["type"], "server-unreachable");
}

#[test]
fn a_refused_request_exits_5_with_the_problem_slug_and_detail() {
    let lab = Lab::new();
    let detail = "role `viewer` may not do this; it needs one of: approver, admin";
    let edge = FakeEdge::canned(Reply::problem(403, "forbidden-role", detail));
    let run = lab.run_env(&["approve", "rel-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(5)
        .assert_stderr_contains("POST /api/releases/rel-0123abcd/approve")
        .assert_stderr_contains("403 forbidden-role")
        .assert_stderr_contains(detail);

    let run = lab.run_env(&["--json", "approve", "rel-0123abcd", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(5);
    let error = &run.json()["error"];
    assert_eq!(error["type"], "forbidden-role");
    assert_eq!(error["status"], 403);
    assert!(error["message"].as_str().unwrap().contains(detail));
}

#[test]
fn a_rate_limited_request_says_how_long_to_wait() {
    let lab = Lab::new();
    let edge =
        FakeEdge::canned(Reply::problem(429, "rate-limited", "too many requests from this address").with_header("retry-after", "30"));
    let run = lab.run_env(&["tokens", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(5).assert_stderr_contains("429 rate-limited").assert_stderr_contains("retry after 30 s");

    let run = lab.run_env(&["--json", "tokens", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    assert_eq!(run.json()["error"]["retry_after_s"], 30);
}

#[test]
fn an_unavailable_server_exits_6_and_passes_on_its_retry_after() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::problem(503, "unavailable", "D1 is unavailable").with_header("retry-after", "5"));
    let run = lab.run_env(&["releases", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(6).assert_stderr_contains("503 unavailable").assert_stderr_contains("retry after 5 s");
}

#[test]
fn a_proxy_error_page_that_is_not_a_problem_still_names_the_status() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::bytes(502, "text/html", b"<html><body>Bad gateway</body></html>".to_vec()));
    let run = lab.run_env(&["--json", "releases", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(6);
    assert_eq!(run.json()["error"]["type"], "http-502");
}

#[test]
fn redirects_are_not_followed_so_the_token_stays_with_one_host() {
    let lab = Lab::new();
    let elsewhere = FakeEdge::canned(Reply::json(200, &serde_json::json!([])));
    let target = format!("{}/api/releases", elsewhere.url());
    let edge = FakeEdge::canned(Reply::bytes(301, "text/plain", Vec::new()).with_header("location", &target));
    let run = lab.run_env(&["releases", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(6).assert_stderr_contains("redirects to").assert_stderr_contains(&target);
    assert_eq!(elsewhere.connections(), 0);
}

#[test]
fn the_token_travels_as_a_bearer_header_and_is_never_printed() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::problem(401, "unauthorized", "unknown or revoked API token"));
    let run = lab.run_env(&["--json", "tokens", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(5);
    let requests = edge.requests();
    assert_eq!(requests[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    lab.run_env(&["releases", "list", "--server", "http://127.0.0.1:1"], &[("UPDRAFT_TOKEN", TOKEN)]);
    lab.run_env(&["releases", "list", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    assert!(!lab.transcript().contains(TOKEN), "the token leaked:\n{}", lab.transcript());
}

#[test]
fn ids_that_could_reshape_the_url_are_usage_errors() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(200, &serde_json::json!({})));
    for id in ["../tokens", "rel-1/approve", "rel?x=1"] {
        lab.run_env(&["approve", id, "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]).assert_code(2);
    }
    lab.run_env(&["releases", "list", "--server", "ftp://edge"], &[("UPDRAFT_TOKEN", TOKEN)]).assert_code(2);
    assert_eq!(edge.connections(), 0);
}

#[test]
fn enroll_token_durations_need_a_unit() {
    let lab = Lab::new();
    let edge = FakeEdge::canned(Reply::json(201, &serde_json::json!({})));
    let run = lab.run_env(
        &["enroll-tokens", "create", "--name", "line-1", "--product", "acme-thermostat", "--expires-in", "7", "--server", edge.url()],
        &[("UPDRAFT_TOKEN", TOKEN)],
    );
    run.assert_code(2).assert_stderr_contains("90s, 15m, 12h or 7d");
    assert_eq!(edge.connections(), 0);
}

#[test]
fn created_tokens_go_to_stdout_alone_with_a_shown_once_warning() {
    let lab = Lab::new();
    let created = serde_json::json!({
        "id": "enr-0011", "name": "line-1", "product": "acme-thermostat", "max_uses": 5, "uses": 0,
        "expires_at": 1_800_000_000u64, "created_at": 1_799_990_000u64, "created_by": "bootstrap", "revoked_at": null,
        "token": "enr_fresh_secret",
    });
    let edge = FakeEdge::canned(Reply::json(201, &created));
    let run = lab.run_env(
        &[
            "enroll-tokens",
            "create",
            "--name",
            "line-1",
            "--product",
            "acme-thermostat",
            "--max-uses",
            "5",
            "--expires-in",
            "12h",
            "--server",
            edge.url(),
        ],
        &[("UPDRAFT_TOKEN", TOKEN)],
    );
    run.assert_code(0).assert_stderr_contains("shown only once");
    assert_eq!(run.stdout, "enr_fresh_secret\n");
    let sent: serde_json::Value = serde_json::from_slice(&edge.requests()[0].body).unwrap();
    assert_eq!(sent, serde_json::json!({"name": "line-1", "product": "acme-thermostat", "max_uses": 5, "expires_in_s": 43_200}));
    assert_eq!(edge.requests()[0].path(), "/api/enroll-tokens");
}
