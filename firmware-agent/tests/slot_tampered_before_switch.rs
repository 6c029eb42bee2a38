//! Device rule 5, again right before the switch: the slot is read back and
//! re-hashed immediately before the boot flag flips, so bytes changed after
//! the download verified them (RAUC CVE-2020-25860: verify, then install
//! from storage someone else can write) are never booted.
//!
//! The window is made real with the agent's own fault injection: the
//! `firmware-agent` binary runs `run --once` and kills itself (SIGKILL, a
//! power cut) at the crash point `download-complete`, right after it
//! journaled the download as verified. Slot B is then changed on "disk",
//! and the device powers on again with the library agent, which finishes
//! the install from the journal without the network.

mod support;

use firmware_agent::bootenv::Slot;
use firmware_agent::journal::Phase;
use firmware_agent::Next;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use support::*;

/// Runs `firmware-agent run --once` for `device`, tracing the crash points
/// it passes to `trace`, and killing itself at number `crash_at`.
fn run_agent_binary(device: &Device, crash_at: Option<u64>, trace: &Path) -> ExitStatus {
    let mut command = Command::new(env!("CARGO_BIN_EXE_firmware-agent"));
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
    let output = command.output().unwrap();
    if crash_at.is_none() && !output.status.success() {
        panic!("firmware-agent failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    output.status
}

/// A device whose power was cut right after its download of `image`
/// completed and was journaled as verified, before the install began.
fn power_cut_after_download(edge: &HostileEdge, image: &Image) -> Device {
    let keys = Keys::trusted();
    edge.serve_artifact(image.bytes.clone());
    let (release, sha) = (image.release(), image.sha256());
    edge.answer_checks(move |seen| Keys::trusted().sign_as_edge(&directive(seen, offer(release.clone(), sha))));

    // A first device, run to completion, numbers the crash points of the path.
    let probe = Device::new(edge, &keys.anchor());
    let trace = probe.path().join("crash-trace");
    run_agent_binary(&probe, None, &trace);
    let trace = std::fs::read_to_string(trace).unwrap();
    let at = trace
        .lines()
        .find_map(|line| line.strip_suffix(" download-complete").and_then(|n| n.parse::<u64>().ok()))
        .unwrap_or_else(|| panic!("no download-complete crash point in:\n{trace}"));

    let device = Device::new(edge, &keys.anchor());
    let status = run_agent_binary(&device, Some(at), &device.path().join("crash-trace"));
    assert_eq!(status.signal(), Some(libc::SIGKILL), "the agent did not stop at the crash point: {status}");
    let agent = device.open().unwrap();
    assert_eq!(agent.journal().job.as_ref().map(|j| j.phase.clone()), Some(Phase::Downloaded));
    assert_eq!(agent.boot_env().trial, None);
    assert_eq!(std::fs::read(device.slot_path(Slot::B)).unwrap(), image.bytes, "the download was not complete");
    device
}

/// Powers `device` on after the tampering and lets it finish the install:
/// it must refuse with `code` and arm nothing, without asking the edge.
fn assert_install_refused(device: &Device, edge: &HostileEdge, code: &str) {
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), firmware_agent::boot::BootOutcome::Normal);
    let before = agent.boot_env().clone();
    let checks = edge.count("POST /v1/check");
    let error = agent.cycle().expect_err("switched to a slot modified after its download was verified");
    assert_eq!(refusal_code(&error), code, "{error}");
    assert_nothing_armed(&agent, &before);
    assert_eq!(agent.boot_env().good, Slot::A);
    assert_failed_reported(&agent, code);
    assert_eq!(edge.count("POST /v1/check"), checks, "finishing a journaled download needs no check");
    drop(agent);
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), firmware_agent::boot::BootOutcome::Normal, "a reboot runs the tampered slot");
    assert_eq!(agent.booted(), Slot::A);
}

#[test]
fn refuses_slot_modified_between_download_and_switch() {
    let edge = HostileEdge::start(&Keys::trusted());
    let image = Image::new("2.0.0", 4);
    let device = power_cut_after_download(&edge, &image);
    let mut slot = std::fs::read(device.slot_path(Slot::B)).unwrap();
    slot[IMAGE_LEN - 7] ^= 0x20;
    std::fs::write(device.slot_path(Slot::B), slot).unwrap();
    assert_install_refused(&device, &edge, "image-hash");
}

#[test]
fn refuses_slot_replaced_by_another_image_between_download_and_switch() {
    let edge = HostileEdge::start(&Keys::trusted());
    let image = Image::new("2.0.0", 4);
    let device = power_cut_after_download(&edge, &image);
    std::fs::write(device.slot_path(Slot::B), Image::new("6.6.6", 4).bytes).unwrap();
    assert_install_refused(&device, &edge, "image-hash");
}

#[test]
fn refuses_slot_truncated_between_download_and_switch() {
    let edge = HostileEdge::start(&Keys::trusted());
    let image = Image::new("2.0.0", 4);
    let device = power_cut_after_download(&edge, &image);
    std::fs::write(device.slot_path(Slot::B), &image.bytes[..IMAGE_LEN - 1]).unwrap();
    assert_install_refused(&device, &edge, "image-length");
}

#[test]
fn arms_intact_slot_after_a_power_cut_at_download_complete() {
    let edge = HostileEdge::start(&Keys::trusted());
    let image = Image::new("2.0.0", 4);
    let device = power_cut_after_download(&edge, &image);
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), firmware_agent::boot::BootOutcome::Normal);
    let floor = agent.boot_env().security_floor;
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}
