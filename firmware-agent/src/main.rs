//! `firmware-agent`: the Updraft device client. See the crate docs of
//! `firmware_agent` and `firmware-agent.example.toml`.
//!
//! Exit codes: 0 done, 1 refused (verification, device rule, health),
//! 2 configuration or setup (bad config, missing trust anchor, not
//! enrolled), 3 local I/O, 5 the edge refused, 6 the edge is unreachable.

use clap::{Parser, Subcommand};
use firmware_agent::agent::Agent;
use firmware_agent::boot::BootOutcome;
use firmware_agent::config::Config;
use firmware_agent::error::AgentError;
use firmware_agent::health::CommandHealth;
use firmware_agent::runner::{self, MAX_SELF_RESTARTS};
use firmware_agent::Next;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "firmware-agent", version, about = "The Updraft device agent: verified A/B updates with automatic rollback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Power-on handling, then poll the edge and apply updates (until stopped).
    Run {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Stop after one check (and the reboots it leads to).
        #[arg(long)]
        once: bool,
    },
    /// Enroll with the token in `enroll_token_file` (run does this too).
    Enroll {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the boot env, the update in progress and queued reports.
    Status {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Apply an offline bundle (`updraft bundle`) under the same rules as an online update.
    InstallBundle {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The bundle file.
        bundle: PathBuf,
    },
    /// Run a simulated fleet of devices against an edge.
    Simulate(Box<firmware_agent::sim::SimArgs>),
    /// SHA-256 of a file or block device, read the way slots are verified
    /// before a switch (field diagnostics; `bench/agent-footprint.py` times it).
    Hash {
        /// The file or device.
        file: PathBuf,
        /// Hash only the first N bytes (an image inside a larger partition).
        #[arg(long, value_name = "N")]
        length: Option<u64>,
    },
    /// Parse and validate a config file.
    CheckConfig {
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firmware-agent: error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn log(msg: &str) {
    eprintln!("firmware-agent: {msg}");
}

fn open(config: &std::path::Path) -> Result<Agent, AgentError> {
    let config = Config::load(config)?;
    let health = CommandHealth { command: config.health.command.clone(), deadline: Duration::from_secs(config.health.deadline_s) };
    let mut agent = Agent::open(config, Box::new(health))?;
    agent.log = log;
    Ok(agent)
}

fn run(command: Command) -> Result<(), AgentError> {
    match command {
        Command::CheckConfig { config } => {
            Config::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Hash { file, length } => {
            let started = std::time::Instant::now();
            let (sha, n) = firmware_agent::slots::hash_file(&file, length.unwrap_or(u64::MAX))?;
            let secs = started.elapsed().as_secs_f64();
            println!("{sha}  {}", file.display());
            eprintln!("{n} bytes in {secs:.3} s ({:.0} MiB/s)", n as f64 / 1_048_576.0 / secs.max(1e-9));
            Ok(())
        }
        Command::Simulate(args) => firmware_agent::sim::run(*args),
        Command::InstallBundle { config, bundle } => {
            let mut agent = open(&config)?;
            let outcome = agent.boot()?;
            if outcome.next() == Some(Next::Reboot) {
                return reboot(&agent);
            }
            match agent.install_bundle(&bundle)? {
                Next::Reboot => reboot(&agent),
                Next::Poll(_) => Ok(()),
            }
        }
        Command::Status { config } => {
            let agent = open(&config)?;
            println!("{}", serde_json::to_string_pretty(&agent.status()).unwrap_or_default());
            Ok(())
        }
        Command::Enroll { config } => {
            let mut agent = open(&config)?;
            agent.ensure_enrolled()?;
            println!("enrolled as {}", agent.device_id().map(ToString::to_string).unwrap_or_default());
            Ok(())
        }
        Command::Run { config, once } => {
            let mut agent = open(&config)?;
            let outcome = agent.boot()?;
            match &outcome {
                BootOutcome::Normal => log(&format!("booted slot {}", agent.booted())),
                BootOutcome::Committed => log(&format!("trial image committed; slot {} is good", agent.boot_env().good)),
                BootOutcome::RolledBack { code, .. } => log(&format!("trial image abandoned ({code})")),
                BootOutcome::SwitchedBack { code, .. } => log(&format!("back on slot {} ({code})", agent.boot_env().good)),
            }
            if outcome.next() == Some(Next::Reboot) {
                return reboot(&agent);
            }
            agent.ensure_enrolled()?;
            let outcome = runner::run_cycles(&mut agent, once, &mut log);
            // Whatever happened, tell the edge (best effort: reports stay queued otherwise).
            let _ = agent.flush_reports();
            match outcome? {
                Next::Reboot => reboot(&agent),
                Next::Poll(_) => Ok(()),
            }
        }
    }
}

/// Reboots: the configured command, or (files backend, simulation) a
/// restart of this very process, which is a power-on for the agent.
fn reboot(agent: &Agent) -> Result<(), AgentError> {
    if let Some(command) = &agent.config_reboot_command() {
        log(&format!("rebooting: {command}"));
        let status = std::process::Command::new("/bin/sh").arg("-c").arg(command).status();
        return match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(AgentError::Installer { command: command.clone(), detail: format!("reboot command exited with {s}") }),
            Err(e) => Err(AgentError::Installer { command: command.clone(), detail: e.to_string() }),
        };
    }
    let restarts: u32 = std::env::var("UPDRAFT_AGENT_RESTARTS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    if restarts >= MAX_SELF_RESTARTS {
        return Err(AgentError::Installer {
            command: "self-restart".into(),
            detail: format!("gave up after {restarts} restarts in a row"),
        });
    }
    log("rebooting (restarting the agent)");
    let exe = std::env::current_exe().map_err(|e| AgentError::io("cannot find own executable", "/proc/self/exe", e))?;
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env("UPDRAFT_AGENT_RESTARTS", (restarts + 1).to_string())
        .env(firmware_agent::durable::CRASH_PASSED_ENV, firmware_agent::durable::crash_points_passed().to_string())
        .exec();
    Err(AgentError::io("cannot restart", exe, err))
}
