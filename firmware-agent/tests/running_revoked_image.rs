//! Device rule 4 for the image that already runs: a device committed to an
//! image that is later revoked (DESIGN §5) goes back to the image in its
//! other slot when that one is safe — passed a health check here, not
//! revoked, not below either floor (the stored floor wins: rule 3), bytes
//! intact — and otherwise stays, says so once, and takes the fix-forward
//! release the edge offers. An attacker who revokes with a stolen edge key
//! can make a device leave an image, never boot one it must not.

mod support;

use firmware_agent::boot::BootOutcome;
use firmware_agent::bootenv::Slot;
use firmware_agent::{Agent, Next};
use support::*;
use updraft_core::directive::Action;
use updraft_core::report::Event;

const ROLLED_BACK: fn() -> Event = || Event::RolledBack { code: "revoked".into() };
const NO_SAFE_SLOT: fn() -> Event = || Event::Failed { code: "running-revoked-no-safe-slot".into() };

/// A device running `image` (committed in slot B; the factory image,
/// confirmed, stays in slot A).
fn running(device: &Device, edge: &HostileEdge, image: &Image) -> Agent {
    let agent = assert_honest_update_installs(device, edge, image);
    answer_at_seq(edge, 0, Action::None);
    agent
}

/// The edge revokes: list `seq`, announced by every directive, nothing offered.
fn revoke(edge: &HostileEdge, seq: u64, revoked: &[updraft_core::Sha256], floor: Option<u64>) {
    edge.serve_revocations(edge_list(seq, revoked, floor));
    answer_at_seq(edge, seq, Action::None);
}

fn factory_sha() -> updraft_core::Sha256 {
    updraft_core::Sha256::digest(&factory_bytes())
}

/// The device stayed on `image` in slot B, floor `floor`, nothing armed.
fn assert_stayed(agent: &Agent, image: &Image, floor: u64) {
    let env = agent.boot_env();
    assert_eq!((env.good, env.trial), (Slot::B, None));
    assert_eq!(env.image(Slot::B).map(|i| i.sha256), Some(image.sha256()));
    assert_eq!(env.security_floor.0, floor);
    assert_eq!(agent.booted(), Slot::B);
}

#[test]
fn rolls_back_from_revoked_running_image_to_the_previous_good_one() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    // Same security version as the factory image: going back keeps rule 3.
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = running(&device, &edge, &image);
    revoke(&edge, 1, &[image.sha256()], None);
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    let env = agent.boot_env().clone();
    assert_eq!((env.good, env.trial, env.boot_count), (Slot::A, None, 0));
    assert_eq!(env.security_floor.0, FACTORY_SECURITY_VERSION);
    assert_eq!(env.image(Slot::B).map(|i| i.sha256), Some(image.sha256()), "the revoked image's record is kept (it was verified)");
    let report = agent.journal().pending.last().cloned().unwrap();
    assert_eq!(report.event, ROLLED_BACK());
    assert_eq!(report.sha256, Some(image.sha256()), "the report names the image left");
    assert_eq!(report.running.to_string(), "1.0.0", "the report names the image that runs after the reboot");
    assert_eq!(report.campaign_id.as_deref(), Some("c-1"), "the campaign that brought the image counts the recovery");
    drop(agent);

    // The reboot: an ordinary power-on into the good slot.
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::Normal);
    assert_eq!(agent.booted(), Slot::A);
    assert!(agent.status().running_revoked.is_none());
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    // Offered again (a lagging campaign): refused before a byte is fetched.
    let artifact_requests = edge.artifact_requests();
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    assert_eq!(edge.artifact_requests(), artifact_requests);
    assert_eq!(agent.boot_env().good, Slot::A);
    agent.flush_reports().unwrap();
    assert_eq!(times_reported(&edge, &agent, &ROLLED_BACK()), 1);
}

#[test]
fn keeps_running_image_the_list_does_not_revoke() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = running(&device, &edge, &image);
    let next_seq = agent.journal().next_seq;
    revoke(&edge, 1, &[Image::new("1.9.0", 3).sha256()], Some(FACTORY_SECURITY_VERSION));
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_eq!(agent.status().revocation_seq, 1);
    assert_stayed(&agent, &image, FACTORY_SECURITY_VERSION);
    assert!(agent.status().running_revoked.is_none());
    assert!(agent.journal().pending.iter().all(|r| r.seq < next_seq || matches!(r.event, Event::Health { .. })));
}

#[test]
fn waits_when_the_previous_image_is_below_the_stored_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    // Committing it raised the floor to 5, above the factory image's 3.
    let image = Image::new("2.0.0", 5);
    let mut agent = running(&device, &edge, &image);
    revoke(&edge, 1, &[image.sha256()], None);
    for _ in 0..3 {
        assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)), "it must stay and keep polling");
        assert_stayed(&agent, &image, 5);
    }
    assert!(agent.status().running_revoked.is_some_and(|why| why.contains("revoked")));
    assert_eq!(times_reported(&edge, &agent, &NO_SAFE_SLOT()), 1, "reported once, not at every poll");
    let report = agent.journal().pending.iter().chain(edge.reports_stored().iter()).find(|r| r.event == NO_SAFE_SLOT()).cloned();
    let report = report.unwrap();
    assert_eq!(report.sha256, Some(image.sha256()));
    assert!(report.detail.as_deref().is_some_and(|d| d.contains("below the device's floor 5")), "{:?}", report.detail);

    // The fix-forward release is taken as usual.
    let fix = Image::new("2.0.1", 5);
    edge.serve_artifact(fix.bytes.clone());
    answer_at_seq(&edge, 1, offer(fix.release(), fix.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.boot_env().trial, Some(Slot::A));
    drop(agent);
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::Committed);
    assert_eq!(agent.boot_env().good, Slot::A);
    assert_eq!(agent.boot_env().image(Slot::A).map(|i| i.sha256), Some(fix.sha256()));
    assert!(agent.status().running_revoked.is_none());
    answer_at_seq(&edge, 1, Action::None);
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_eq!(times_reported(&edge, &agent, &NO_SAFE_SLOT()), 1);
}

#[test]
fn waits_on_running_image_below_the_lists_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = running(&device, &edge, &image);
    // The floor condemns both slots: only a fix forward helps.
    revoke(&edge, 1, &[], Some(FACTORY_SECURITY_VERSION + 1));
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_stayed(&agent, &image, FACTORY_SECURITY_VERSION);
    assert!(agent.status().running_revoked.is_some_and(|why| why.contains("below the floor")));
    assert_eq!(times_reported(&edge, &agent, &NO_SAFE_SLOT()), 1);
}

#[test]
fn waits_when_the_previous_image_is_revoked_too() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = running(&device, &edge, &image);
    revoke(&edge, 1, &[image.sha256(), factory_sha()], None);
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_stayed(&agent, &image, FACTORY_SECURITY_VERSION);
    assert_eq!(times_reported(&edge, &agent, &NO_SAFE_SLOT()), 1);
}

#[test]
fn refuses_to_roll_back_onto_a_tampered_slot() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = running(&device, &edge, &image);
    // Slot A no longer holds the factory image the boot env records.
    let mut bytes = std::fs::read(device.slot_path(Slot::A)).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(device.slot_path(Slot::A), bytes).unwrap();
    revoke(&edge, 1, &[image.sha256()], None);
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_stayed(&agent, &image, FACTORY_SECURITY_VERSION);
    let detail = agent.journal().pending.iter().find(|r| r.event == NO_SAFE_SLOT()).and_then(|r| r.detail.clone());
    assert!(detail.is_some_and(|d| d.contains("no longer holds")));
}

#[test]
fn rolls_back_through_the_installer_hook() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let mut device = Device::new(&edge, &keys.anchor());
    // An external installer (RAUC-like) decides what boots: the agent must
    // hand it the previous image again, not only flip its own boot env.
    let staging = device.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("staged-a.img"), factory_bytes()).unwrap();
    let installed = device.path().join("installed.img");
    device.config.slots =
        firmware_agent::config::SlotConfig::Hook { staging_dir: staging, install_command: format!("cp {{}} '{}'", installed.display()) };
    device.config.factory.sha256 = Some(factory_sha());
    device.config.factory.length = Some(factory_bytes().len() as u64);
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = device.enrolled();
    edge.serve_artifact(image.bytes.clone());
    answer_at_seq(&edge, 0, offer(image.release(), image.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(std::fs::read(&installed).unwrap(), image.bytes, "the installer got the update");
    drop(agent);
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::Committed);

    revoke(&edge, 1, &[image.sha256()], None);
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.boot_env().good, Slot::A);
    assert_eq!(std::fs::read(&installed).unwrap(), factory_bytes(), "the installer was not handed the previous image");
}

#[test]
fn leaves_revoked_image_even_when_the_check_fails() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = running(&device, &edge, &image);
    // The list arrives (e.g. just before a power cut) ...
    edge.serve_revocations(edge_list(1, &[image.sha256()], None));
    assert!(agent.fetch_revocations(1).unwrap());
    drop(agent);
    // ... and after the restart every check fails (a forged answer).
    let mut agent = device.power_on();
    edge.answer_checks(|seen| Keys::foreign().sign_as_edge(&directive(seen, Action::None)));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot, "the list held condemns the running image");
    assert_eq!(agent.boot_env().good, Slot::A);
    assert_eq!(agent.journal().pending.last().map(|r| &r.event), Some(&ROLLED_BACK()));
}

/// Copies a directory tree (state snapshots for the power-loss test).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `firmware-agent run --once` for `device`, tracing crash points to
/// `trace`, killing itself (SIGKILL: a power cut) at number `crash_at`.
fn run_agent_binary(device: &Device, crash_at: Option<u64>, trace: &std::path::Path) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_firmware-agent"));
    command
        .args(["run", "--once", "--config"])
        .arg(&device.config_path)
        .env("UPDRAFT_CRASH_TRACE", trace)
        .env_remove("UPDRAFT_CRASH_AT")
        .env_remove("UPDRAFT_CRASH_PASSED")
        .env_remove("UPDRAFT_AGENT_RESTARTS");
    if let Some(n) = crash_at {
        command.env("UPDRAFT_CRASH_AT", n.to_string());
    }
    command.output().unwrap()
}

/// What must hold after any power cut: the slot the bootloader boots holds
/// exactly the bytes the boot env names, and it is one of the two images.
fn assert_bootable(device: &Device, image: &Image, context: &str) {
    let env = firmware_agent::bootenv::BootEnv::load(&device.state_dir().join("boot.env")).unwrap().unwrap();
    assert_eq!(env.trial, None, "{context}: a trial is armed");
    let good = env.image(env.good).unwrap_or_else(|| panic!("{context}: the good slot records no image"));
    let bytes = std::fs::read(device.slot_path(env.good)).unwrap();
    assert_eq!(updraft_core::Sha256::digest(&bytes[..good.length as usize]), good.sha256, "{context}: the good slot's bytes");
    assert!(good.sha256 == image.sha256() || good.sha256 == factory_sha(), "{context}: booting an unknown image");
    assert_eq!(env.security_floor.0, FACTORY_SECURITY_VERSION, "{context}: the floor moved");
}

#[test]
fn survives_power_loss_at_every_step_of_leaving_a_revoked_image() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let agent = running(&device, &edge, &image);
    drop(agent);
    revoke(&edge, 1, &[image.sha256()], None);
    let snapshot = device.path().join("snapshot");
    copy_tree(&device.state_dir(), &snapshot.join("state"));
    copy_tree(&device.path().join("slots"), &snapshot.join("slots"));
    let restore = || {
        copy_tree(&snapshot.join("state"), &device.state_dir());
        copy_tree(&snapshot.join("slots"), &device.path().join("slots"));
    };

    // The uninterrupted run numbers the crash points of the path.
    let trace = device.path().join("trace-full");
    let output = run_agent_binary(&device, None, &trace);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let points: Vec<String> = std::fs::read_to_string(&trace).unwrap().lines().map(str::to_owned).collect();
    assert!(points.iter().any(|p| p.ends_with(" switch-journaled")), "{points:#?}");
    assert!(points.iter().any(|p| p.ends_with(" switch-applied")), "{points:#?}");

    for point in &points {
        let n: u64 = point.split(' ').next().unwrap().parse().unwrap();
        restore();
        edge.forget_reports();
        let trace = device.path().join(format!("trace-{n}"));
        let output = run_agent_binary(&device, Some(n), &trace);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(libc::SIGKILL), "crash point {point}: {}", String::from_utf8_lossy(&output.stderr));
        assert_bootable(&device, &image, &format!("after a power cut at {point}"));

        // Power comes back: the agent finishes the job.
        let output = run_agent_binary(&device, None, &device.path().join(format!("trace-{n}-after")));
        assert!(output.status.success(), "after {point}: {}", String::from_utf8_lossy(&output.stderr));
        assert_bootable(&device, &image, &format!("after recovering from {point}"));
        let env = firmware_agent::bootenv::BootEnv::load(&device.state_dir().join("boot.env")).unwrap().unwrap();
        assert_eq!(env.good, Slot::A, "after {point}: still on the revoked image");
        let agent = device.open().unwrap();
        assert!(agent.journal().switch.is_none(), "after {point}: a switch is left pending");
        assert!(agent.journal().pending.is_empty(), "after {point}: reports left undelivered: {:#?}", agent.journal().pending);
        // Each seq counted once, as the edge stores them: exactly one rollback report.
        let rollbacks: Vec<_> = edge.reports_stored().into_iter().filter(|r| r.event == ROLLED_BACK()).collect();
        assert_eq!(rollbacks.len(), 1, "after {point}: rolled_back reports {rollbacks:#?}");
        assert_eq!(rollbacks[0].sha256, Some(image.sha256()));
        assert_eq!(rollbacks[0].running.to_string(), "1.0.0");
    }
}
