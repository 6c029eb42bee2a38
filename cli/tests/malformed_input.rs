//! Inputs that are not what they claim: broken JSON, the wrong kind of file,
//! oversized documents. Each is an input error (exit 3) that names the file.

mod common;

use common::Lab;

#[test]
fn malformed_json_envelope_is_an_input_error() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("release.json", "{\"payloadType\": \"application/vnd.updraft.release+json\", ");
    lab.run("verify --root root_v1.json release.json").assert_code(3).assert_stderr_contains("release.json: not a DSSE envelope: ");
    lab.run("release sign --key rel1.key release.json").assert_code(3);
}

#[test]
fn malformed_root_is_an_input_error() {
    let lab = Lab::new();
    lab.write("root_v1.json", "not json at all");
    lab.write("release.json", "{}");
    let run = lab.run("--json verify --root root_v1.json release.json");
    run.assert_code(3);
    assert_eq!(run.json()["error"]["type"], "not-an-envelope");
    assert_eq!(run.json()["error"]["file"], "root_v1.json");
}

#[test]
fn key_file_given_as_a_document_is_named_as_such() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.run("verify --root root_v1.json r1.key.pub")
        .assert_code(3)
        .assert_stderr_contains("r1.key.pub: not a DSSE envelope: this is a key file");
}

#[test]
fn document_given_as_a_key_is_named_as_such() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.run("root sign --key root_v1.json root_v1.json").assert_code(3).assert_stderr_contains("not a key");
}

#[test]
fn release_given_where_a_root_is_expected_is_refused() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.run("verify --root release.json root_v1.json").assert_code(3).assert_stderr_contains("expected a root");
    lab.run("root sign --key r1.key release.json").assert_code(3).assert_stderr_contains("updraft release sign");
}

#[test]
fn missing_file_is_an_input_error() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.run("verify --root root_v1.json nowhere.json").assert_code(3).assert_stderr_contains("nowhere.json: cannot read");
}

#[test]
fn oversized_envelope_is_refused_before_parsing() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("huge.json", vec![b' '; 300 * 1024]);
    let run = lab.run("--json verify --root root_v1.json huge.json");
    run.assert_code(3);
    assert_eq!(run.json()["error"]["type"], "document-too-large");
}

#[test]
fn unknown_document_type_is_an_input_error() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    lab.write("odd.json", r#"{"payloadType":"text/plain","payload":"aGk=","signatures":[]}"#);
    lab.run("verify --root root_v1.json odd.json").assert_code(3).assert_stderr_contains("not an Updraft document type");
}

#[test]
fn bad_argument_values_are_usage_errors() {
    let lab = Lab::new();
    lab.write("fw.bin", b"image");
    lab.run(
        "release create --firmware fw.bin --product p --hardware-id h --version not-semver \
             --security-version 1 --out r.json",
    )
    .assert_code(2);
    lab.run(
        "release create --firmware fw.bin --product ../etc --hardware-id h --version 1.0.0 \
             --security-version 1 --out r.json",
    )
    .assert_code(2);
    lab.run(
        "release create --firmware fw.bin --product p --hardware-id h --version 1.0.0 \
             --security-version 1 --name .hidden --out r.json",
    )
    .assert_code(2)
    .assert_stderr_contains("artifact.name");
    assert!(!lab.path("r.json").exists());
}
