//! `updraft releases list|show` and `updraft approve`: the releases the edge
//! holds, and the second person's approval (DESIGN §4, two-person rule).

use crate::edge_client::{parse_id, EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::output::{human_time, short_time, table, Output};
use crate::release::ManifestView;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use std::fmt;
use updraft_core::release::ReleaseManifest;
use updraft_core::{KeyId, Sha256, UnixTime};

#[derive(Debug, Subcommand)]
pub enum ReleasesCommand {
    /// List the releases the edge holds, newest first.
    List(ServerArgs),
    /// Show one release: its manifest, status, uploader, approver and valid signers.
    Show(ReleaseIdArgs),
}

#[derive(Debug, Args)]
pub struct ReleaseIdArgs {
    /// The release id (`rel-…`, from `publish` or `releases list`).
    #[arg(value_name = "RELEASE_ID", value_parser = parse_id)]
    id: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: ReleasesCommand, out: Output) -> Result<(), CliError> {
    match command {
        ReleasesCommand::List(server) => {
            let releases: Vec<ReleaseRecord> = EdgeClient::admin(&server.server)?.get_json("/api/releases")?;
            out.success(&ReleaseList { releases });
        }
        ReleasesCommand::Show(args) => {
            let release: ReleaseRecord = EdgeClient::admin(&args.server.server)?.get_json(&format!("/api/releases/{}", args.id))?;
            out.success(&release);
        }
    }
    Ok(())
}

/// `updraft approve RELEASE_ID`: needs an approver token of someone other than the uploader.
pub fn approve(args: &ReleaseIdArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&args.server.server)?;
    let release: ReleaseRecord = client.post_bytes(&format!("/api/releases/{}/approve", args.id), Vec::new(), &[])?;
    out.success(&Approved { release });
    Ok(())
}

/// A release as the edge reports it. `signers` are the release keys whose
/// signatures verify under the edge's current root; `manifest` is the payload.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub id: String,
    pub product: String,
    pub version: String,
    pub security_version: u64,
    pub artifact_sha256: Sha256,
    pub status: String,
    pub uploaded_by: String,
    pub uploaded_at: UnixTime,
    pub approved_by: Option<String>,
    pub approved_at: Option<UnixTime>,
    #[serde(default)]
    pub signers: Vec<KeyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ReleaseManifest>,
    /// The signed envelope's JSON, as devices receive it inside directives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<String>,
}

impl fmt::Display for ReleaseRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "release {} ({})", self.id, self.status)?;
        match &self.manifest {
            Some(manifest) => write!(f, "{}", ManifestView(manifest))?,
            None => {
                writeln!(f, "  product           {}", self.product)?;
                writeln!(f, "  version           {}", self.version)?;
                writeln!(f, "  security version  {}", self.security_version)?;
                writeln!(f, "  sha256            {}", self.artifact_sha256)?;
            }
        }
        writeln!(f, "  uploaded          by {} at {}", self.uploaded_by, human_time(self.uploaded_at))?;
        match (&self.approved_by, self.approved_at) {
            (Some(by), Some(at)) => writeln!(f, "  approved          by {by} at {}", human_time(at))?,
            (Some(by), None) => writeln!(f, "  approved          by {by}")?,
            _ => writeln!(f, "  approved          not yet (`updraft approve {}` with another person's approver token)", self.id)?,
        }
        writeln!(f, "  valid signers     {} (release keys of the edge's current root)", self.signers.len())?;
        for id in &self.signers {
            writeln!(f, "    {id}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct ReleaseList {
    releases: Vec<ReleaseRecord>,
}

impl fmt::Display for ReleaseList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .releases
            .iter()
            .map(|r| {
                vec![
                    r.id.clone(),
                    r.product.clone(),
                    r.version.clone(),
                    r.security_version.to_string(),
                    r.status.clone(),
                    short_time(r.uploaded_at),
                    r.uploaded_by.clone(),
                    r.approved_by.clone().unwrap_or_default(),
                    r.signers.len().to_string(),
                ]
            })
            .collect();
        let headers = ["ID", "PRODUCT", "VERSION", "SEC", "STATUS", "UPLOADED (UTC)", "BY", "APPROVED BY", "SIGNERS"];
        f.write_str(&table(&headers, &rows))
    }
}

#[derive(Debug, Serialize)]
struct Approved {
    #[serde(flatten)]
    release: ReleaseRecord,
}

impl fmt::Display for Approved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.release;
        writeln!(f, "approved {}: {} {} is now {}", r.id, r.product, r.version, r.status)?;
        if let (Some(by), Some(at)) = (&r.approved_by, r.approved_at) {
            writeln!(f, "  approved by {by} at {} (uploaded by {})", human_time(at), r.uploaded_by)?;
        }
        Ok(())
    }
}
