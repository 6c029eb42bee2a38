//! `--json`: one parseable object on stdout for every outcome, with the same
//! exit codes as human output.

mod common;

use common::Lab;

#[test]
fn every_step_of_the_flow_prints_one_json_object() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("fw.bin", vec![1u8; 4096]);
    let steps = [
        "--json keys show r1.key.pub",
        "--json root verify root_v1.json",
        "--json release create --firmware fw.bin --product acme-thermostat --hardware-id t1 \
         --version 1.0.0 --security-version 1 --out release.json",
        "--json release sign --key rel1.key release.json",
        "--json release sign --key rel2.key release.json",
        "--json verify --root root_v1.json release.json --firmware fw.bin",
    ];
    for step in steps {
        let report = lab.ok(step).json();
        assert_eq!(report["ok"], true, "{step}");
    }
    let verified = lab.ok("--json verify --root root_v1.json release.json --firmware fw.bin").json();
    assert_eq!(verified["document"], "release manifest");
    assert_eq!(verified["payload"]["version"], "1.0.0");
    assert_eq!(verified["signatures"][0]["valid"].as_array().unwrap().len(), 2);
    assert_eq!(verified["files"][0]["length"], 4096);
}

#[test]
fn failures_print_ok_false_with_a_typed_error_and_keep_their_exit_code() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    let run = lab.run("--json verify --root root_v1.json release.json");
    run.assert_code(1);
    let report = run.json();
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["type"], "signature-threshold-not-met");
    assert!(report["error"]["message"].as_str().unwrap().starts_with("release.json: "));
    assert_eq!(report["error"]["signatures"][0]["threshold"], 2);
    assert!(run.stderr.is_empty(), "JSON failures go to stdout only: {}", run.stderr);

    let run = lab.run("--json keys generate --out r1.key");
    run.assert_code(4);
    assert_eq!(run.json()["error"]["type"], "output-exists");
}

#[test]
fn usage_errors_are_json_too_when_asked() {
    let lab = Lab::new();
    let run = lab.run("--json verify");
    run.assert_code(2);
    assert_eq!(run.json()["error"]["type"], "usage");
    lab.run("verify").assert_code(2).assert_stderr_contains("--root");
}

#[test]
fn help_documents_the_exit_codes() {
    let lab = Lab::new();
    lab.ok("--help").assert_stdout_contains("Exit codes:").assert_stdout_contains("3  input error");
    lab.ok("root rotate --help").assert_stdout_contains("threshold of the OLD root's");
}
