//! A throwaway signing lab: a temp folder, the real `updraft` binary run in it,
//! and a transcript of everything it printed (to prove secrets never leak).

#![allow(dead_code)]

pub mod fake_edge;

use serde_json::Value;
use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;
use tempfile::TempDir;
use updraft_core::keys::SigningKeyFile;
use updraft_core::SigningKey;

/// Variables that would point a run at a real edge or a proxy: every run
/// starts without them, and a test sets what it means to.
const AMBIENT_ENV: &[&str] = &[
    "UPDRAFT_SERVER",
    "UPDRAFT_TOKEN",
    "UPDRAFT_ENROLL_TOKEN",
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

pub struct Lab {
    dir: TempDir,
    transcript: RefCell<String>,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Self {
        assert!(self.stdout.contains(needle), "stdout lacks {needle:?}:\n{}", self.stdout);
        self
    }
}

impl Lab {
    pub fn new() -> Self {
        Lab { dir: tempfile::tempdir().expect("temp dir"), transcript: RefCell::new(String::new()) }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) {
        std::fs::write(self.path(name), bytes).expect("write fixture");
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).expect("read fixture")
    }

    /// Runs `updraft` with a whitespace-separated command line, inside the lab folder.
    pub fn run(&self, command_line: &str) -> Run {
        self.run_args(&command_line.split_whitespace().collect::<Vec<_>>())
    }

    /// Runs `updraft ARGS` inside the lab folder.
    pub fn run_args(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Runs `updraft ARGS` inside the lab folder with these environment variables.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_updraft"));
        for name in AMBIENT_ENV {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        let out = command.args(args).current_dir(self.dir.path()).output().expect("run updraft");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let mut t = self.transcript.borrow_mut();
        t.push_str(&run.stdout);
        t.push_str(&run.stderr);
        run
    }

    /// Runs and requires success.
    #[track_caller]
    pub fn ok(&self, command_line: &str) -> Run {
        let run = self.run(command_line);
        run.assert_code(0);
        run
    }

    /// Everything the binary printed so far, stdout and stderr.
    pub fn transcript(&self) -> String {
        self.transcript.borrow().clone()
    }

    /// Generates `NAME.key` / `NAME.key.pub` and returns the keyid.
    pub fn key(&self, name: &str) -> String {
        let run = self.ok(&format!("--json keys generate --out {name}.key"));
        run.json()["keyid"].as_str().expect("keyid").to_owned()
    }

    /// The private key in `NAME.key`, for tests that sign as the edge would.
    pub fn signing_key(&self, name: &str) -> SigningKey {
        let file: SigningKeyFile = serde_json::from_str(&self.read(&format!("{name}.key"))).expect("key json");
        file.to_key().expect("key")
    }

    /// The base64 seed inside a private key file.
    pub fn seed_of(&self, name: &str) -> String {
        let file: Value = serde_json::from_str(&self.read(&format!("{name}.key"))).expect("key json");
        file["seed"].as_str().expect("seed").to_owned()
    }

    /// Keys r1 r2 (root, 2 of 2), rel1 rel2 rel3 (release, 2 of 3) and edge,
    /// and `root_v1.json` signed by both root keys.
    pub fn with_signed_root_v1(&self) {
        for k in ["r1", "r2", "rel1", "rel2", "rel3", "edge"] {
            self.key(k);
        }
        self.ok("root init --product acme-* \
             --root-key r1.key.pub r2.key.pub --root-threshold 2 \
             --release-key rel1.key.pub rel2.key.pub rel3.key.pub --release-threshold 2 \
             --edge-key edge.key.pub --out root_v1.json");
        self.ok("root sign --key r1.key root_v1.json");
        self.ok("root sign --key r2.key root_v1.json");
    }

    /// A 200 KiB firmware image `fw.bin` and `release.json` describing it, unsigned.
    pub fn with_unsigned_release(&self) {
        let image: Vec<u8> = (0..200 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        self.write("fw.bin", image);
        self.ok("release create --firmware fw.bin --product acme-thermostat \
             --hardware-id thermo-r2 --hardware-id thermo-r3 \
             --version 2.4.0 --security-version 7 --out release.json");
    }
}
