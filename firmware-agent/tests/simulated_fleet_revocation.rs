//! The fleet simulator on a revoked release: simulated devices run the same
//! agent code, so a fleet that took a release which is then revoked goes
//! back to its previous image where rule 3 allows it, or waits for and
//! takes the fix-forward release, and the summary says how many devices
//! run which version and how many still run a revoked image. (A benchmark
//! runs the same with 200 devices against the real edge.)

mod support;

use firmware_agent::sim::{self, SimArgs, StopReason};
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::*;
use updraft_core::directive::Action;
use updraft_core::dsse::Envelope;
use updraft_core::Sha256;

const DEVICES: u64 = 4;
const FACTORY_SV: u64 = 1;

fn args(dir: &Path, anchor: &Path, server: &str) -> SimArgs {
    SimArgs {
        devices: DEVICES,
        server: server.to_owned(),
        trust_anchor: anchor.to_owned(),
        enroll_token: Some("tok-123".into()),
        enroll_token_file: None,
        hardware_id: HARDWARE.into(),
        factory_version: "1.0.0".into(),
        factory_security_version: FACTORY_SV,
        dir: Some(dir.to_owned()),
        threads: Some(4),
        duration_s: None,
        until_version: None,
        until_unrevoked: false,
        progress_json: true,
        max_seconds: 60,
        poll_s: 1,
        time_scale: 1.0,
        bad_boot_rate: 0.0,
        battery: false,
        no_battery: true,
        flaky_network: 0.0,
        seed: Some(1),
        key_seed: Some(7),
        json: true,
    }
}

/// What the edge offers: `offers` maps a device's current image to a
/// release (and its bytes), under revocation seq `seq`.
#[derive(Clone, Default)]
struct Catalog {
    seq: u64,
    offers: Vec<(Sha256, Envelope, Sha256)>,
}

fn edge_with(catalog: &Arc<Mutex<Catalog>>) -> HostileEdge {
    let edge = HostileEdge::start(&Keys::trusted());
    let catalog = catalog.clone();
    edge.answer_checks(move |seen| {
        let c = catalog.lock().unwrap().clone();
        let action = c
            .offers
            .iter()
            .find(|(from, _, _)| *from == seen.request.current.sha256)
            .map_or(Action::None, |(_, release, sha)| offer(release.clone(), *sha));
        let mut d = directive(seen, action);
        d.revocation_seq = c.seq;
        Keys::trusted().sign_as_edge(&d)
    });
    edge
}

/// Runs the fleet of `dir` on `edge` with `tweak` applied to the arguments.
fn run(dir: &Path, edge: &HostileEdge, tweak: impl FnOnce(&mut SimArgs)) -> sim::summary::Summary {
    let anchor = dir.join("root.json");
    std::fs::write(&anchor, Keys::trusted().anchor().to_json()).unwrap();
    let mut a = args(&dir.join("fleet"), &anchor, &edge.url);
    tweak(&mut a);
    sim::simulate(&a).unwrap()
}

/// The fleet takes `release` (from the factory image) and then `release`
/// is revoked.
fn fleet_on_revoked_release(dir: &Path, image: &Image) -> (HostileEdge, Arc<Mutex<Catalog>>) {
    let factory = Sha256::digest(&sim::factory_image("1.0.0"));
    let catalog = Arc::new(Mutex::new(Catalog { seq: 0, offers: vec![(factory, image.release(), image.sha256())] }));
    let edge = edge_with(&catalog);
    edge.serve_artifact(image.bytes.clone());
    let summary = run(dir, &edge, |a| a.until_version = Some(image.manifest.version.to_string()));
    assert_eq!(summary.versions.get(&image.manifest.version.to_string()), Some(&(DEVICES as usize)), "{summary:#?}");
    assert_eq!(summary.running_revoked, 0);
    // Revoked: list seq 1, announced by every directive; nothing offered to
    // the factory image any more.
    edge.serve_revocations(edge_list(1, &[image.sha256()], None));
    *catalog.lock().unwrap() = Catalog { seq: 1, offers: Vec::new() };
    (edge, catalog)
}

#[test]
fn simulated_fleet_leaves_a_revoked_release_for_the_previous_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = Image::new("2.0.0", FACTORY_SV);
    let (edge, _catalog) = fleet_on_revoked_release(dir.path(), &image);
    let summary = run(dir.path(), &edge, |a| a.until_unrevoked = true);
    assert_eq!(summary.stopped_because, StopReason::UntilUnrevoked, "{summary:#?}");
    assert_eq!(summary.versions.get("1.0.0"), Some(&(DEVICES as usize)), "{summary:#?}");
    assert_eq!(summary.running_revoked, 0);
    assert_eq!(summary.rolled_back.get("revoked"), Some(&DEVICES));
    assert_eq!(summary.until_unrevoked_reached, Some(true));
    assert_eq!(summary.revocation_seqs.get(&1), Some(&(DEVICES as usize)), "every device holds list seq 1");
    let devices: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary.devices_file).unwrap()).unwrap();
    for d in devices.as_array().unwrap() {
        assert_eq!(d["version"], "1.0.0");
        let since = d["version_since_s"].as_f64();
        assert!(since.is_some_and(|t| t >= 0.0 && t <= summary.elapsed_s), "when it got back is recorded: {d}");
    }
}

#[test]
fn simulated_fleet_waits_for_the_fix_when_the_floor_forbids_going_back() {
    let dir = tempfile::tempdir().unwrap();
    let image = Image::new("2.0.0", FACTORY_SV + 1);
    let (edge, catalog) = fleet_on_revoked_release(dir.path(), &image);

    // No fix yet: every device stays on the revoked image and says so once.
    let summary = run(dir.path(), &edge, |a| a.duration_s = Some(3));
    assert_eq!(summary.versions.get("2.0.0"), Some(&(DEVICES as usize)), "{summary:#?}");
    assert_eq!(summary.running_revoked, DEVICES as usize);
    assert_eq!(summary.failed.get("running-revoked-no-safe-slot"), Some(&DEVICES));

    // The fix-forward release, offered to devices on the revoked image.
    let fix = Image::new("2.0.1", FACTORY_SV + 1);
    edge.serve_artifact(fix.bytes.clone());
    catalog.lock().unwrap().offers = vec![(image.sha256(), fix.release(), fix.sha256())];
    let summary = run(dir.path(), &edge, |a| a.until_unrevoked = true);
    assert_eq!(summary.stopped_because, StopReason::UntilUnrevoked, "{summary:#?}");
    assert_eq!(summary.versions.get("2.0.1"), Some(&(DEVICES as usize)), "{summary:#?}");
    assert_eq!(summary.running_revoked, 0);
    assert_eq!(summary.succeeded, DEVICES);
    assert_eq!(summary.failed.get("running-revoked-no-safe-slot"), None, "reported again: {summary:#?}");
}
