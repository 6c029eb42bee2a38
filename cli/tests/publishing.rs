//! `updraft publish` and `updraft root publish` against a stand-in edge: the
//! image is checked locally before anything is sent, then streamed with a
//! Content-Length (never chunked), then the manifest is registered.

mod common;

use common::fake_edge::{FakeEdge, Reply};
use common::Lab;
use serde_json::{json, Value};
use updraft_core::dsse::Envelope;
use updraft_core::Sha256;

const TOKEN: &str = "updt_uploader_secret";

fn signed_release(lab: &Lab) {
    lab.with_signed_root_v1();
    lab.with_unsigned_release();
    lab.ok("release sign --key rel1.key release.json");
    lab.ok("release sign --key rel2.key release.json");
}

fn release_view(sha: &str) -> Value {
    json!({
        "id": "rel-00112233aabbccdd", "product": "acme-thermostat", "version": "2.4.0", "security_version": 7,
        "artifact_sha256": sha, "envelope": "{}", "status": "pending", "uploaded_by": "tok-up", "uploaded_at": 1_800_000_000u64,
        "approved_by": null, "approved_at": null, "signers": [], "manifest": null,
    })
}

#[test]
fn refuses_a_firmware_that_does_not_match_the_manifest_before_any_network_call() {
    let lab = Lab::new();
    signed_release(&lab);
    let edge = FakeEdge::canned(Reply::json(201, &json!({})));
    let mut other = std::fs::read(lab.path("fw.bin")).unwrap();
    other[1000] ^= 1;
    lab.write("other.bin", &other);
    let run = lab.run_env(&["publish", "release.json", "--firmware", "other.bin", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(1).assert_stderr_contains("other.bin: does not match the release manifest: SHA-256");
    lab.write("short.bin", &other[..100]);
    let run =
        lab.run_env(&["--json", "publish", "release.json", "--firmware", "short.bin", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(1);
    assert_eq!(run.json()["error"]["type"], "artifact-length-mismatch");
    assert_eq!(edge.connections(), 0, "a wrong image must never leave the machine");
}

#[test]
fn streams_the_image_with_a_content_length_then_registers_the_manifest() {
    let lab = Lab::new();
    signed_release(&lab);
    let image = std::fs::read(lab.path("fw.bin")).unwrap();
    let sha = Sha256::digest(&image).to_hex();
    let (length, view) = (image.len(), release_view(&sha));
    let put_answer = json!({ "sha256": sha, "length": length, "created": true });
    let edge = FakeEdge::start(move |req| match (req.method.as_str(), req.path()) {
        ("PUT", _) => Reply::json(201, &put_answer),
        ("POST", "/api/releases") => Reply::json(201, &view),
        _ => Reply::problem(404, "not-found", "no such route"),
    });
    let run = lab.run_env(&["publish", "release.json", "--firmware", "fw.bin", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0)
        .assert_stdout_contains("published release rel-00112233aabbccdd")
        .assert_stdout_contains("status            pending")
        .assert_stdout_contains("uploaded");

    let requests = edge.requests();
    assert_eq!(requests.len(), 2);
    let put = &requests[0];
    assert_eq!(put.target, format!("/api/artifacts/{}", Sha256::digest(&image)));
    assert_eq!(put.header("content-length"), Some(image.len().to_string().as_str()));
    assert_eq!(put.header("transfer-encoding"), None, "the edge needs the length up front, not chunks");
    assert_eq!(put.body, image);
    let post = &requests[1];
    let sent = Envelope::from_slice(&post.body).unwrap();
    let on_disk = Envelope::from_slice(lab.read("release.json").as_bytes()).unwrap();
    assert_eq!(sent, on_disk);
    assert_eq!(post.header("content-type"), Some("application/json"));
}

#[test]
fn an_image_the_edge_already_has_is_fine() {
    let lab = Lab::new();
    signed_release(&lab);
    let image = std::fs::read(lab.path("fw.bin")).unwrap();
    let sha = Sha256::digest(&image).to_hex();
    let (length, view) = (image.len(), release_view(&sha));
    let edge = FakeEdge::start(move |req| match req.method.as_str() {
        "PUT" => Reply::json(200, &json!({ "sha256": sha, "length": length, "created": false })),
        _ => Reply::json(201, &view),
    });
    let run =
        lab.run_env(&["--json", "publish", "release.json", "--firmware", "fw.bin", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["artifact"]["created"], false);
    assert_eq!(report["release"]["id"], "rel-00112233aabbccdd");
}

#[test]
fn a_refused_upload_reports_the_problem_instead_of_a_broken_connection() {
    let lab = Lab::new();
    signed_release(&lab);
    let edge = FakeEdge::canned(Reply::problem(403, "forbidden-role", "role `viewer` may not do this; it needs one of: uploader, admin"));
    let run = lab.run_env(&["publish", "release.json", "--firmware", "fw.bin", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(5).assert_stderr_contains("PUT /api/artifacts/").assert_stderr_contains("403 forbidden-role");
    assert!(edge.requests()[0].body.is_empty(), "the body waits for 100 Continue");
}

#[test]
fn a_root_publishes_as_its_envelope() {
    let lab = Lab::new();
    lab.with_signed_root_v1();
    let edge = FakeEdge::canned(Reply::json(201, &json!({ "version": 1, "expires": 1_900_000_000u64, "product": "acme-*" })));
    let run = lab.run_env(&["root", "publish", "root_v1.json", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]);
    run.assert_code(0).assert_stdout_contains("published root v1").assert_stdout_contains("/v1/root/1.json");
    let request = &edge.requests()[0];
    assert_eq!((request.method.as_str(), request.path()), ("POST", "/api/roots"));
    assert_eq!(Envelope::from_slice(&request.body).unwrap(), Envelope::from_slice(lab.read("root_v1.json").as_bytes()).unwrap());

    lab.with_unsigned_release();
    lab.run_env(&["root", "publish", "release.json", "--server", edge.url()], &[("UPDRAFT_TOKEN", TOKEN)]).assert_code(3);
}
