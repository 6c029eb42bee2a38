//! `updraft tokens` (admin API tokens) and `updraft enroll-tokens`
//! (tokens devices enroll with), DESIGN §6.
//!
//! Both are minted by the edge, stored hashed and shown once: the secret goes
//! to stdout alone, so `export UPDRAFT_TOKEN=$(updraft tokens create …)`
//! works, and everything else about it (and the warning) goes to stderr.

use crate::duration::parse_duration_secs;
use crate::edge_client::{parse_id, EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::output::{short_time, table, warn, Output};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Write;
use updraft_core::admin::AdminRole;
use updraft_core::{ProductName, UnixTime};

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token; it is printed once, to stdout, and only its hash is kept.
    Create(CreateTokenArgs),
    /// List API tokens (never their secrets).
    List(ServerArgs),
    /// Revoke an API token by id.
    Revoke(RevokeArgs),
}

#[derive(Debug, Subcommand)]
pub enum EnrollTokensCommand {
    /// Create an enrollment token for a product; printed once, to stdout.
    Create(CreateEnrollTokenArgs),
    /// List enrollment tokens (never their secrets).
    List(ServerArgs),
    /// Revoke an enrollment token by id.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateTokenArgs {
    /// Who or what the token is for (shown in lists and the audit log).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// What the token may do.
    #[arg(long, value_name = "ROLE", value_parser = role_parser())]
    role: AdminRole,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct CreateEnrollTokenArgs {
    /// What the token is for (a factory line, a batch).
    #[arg(long, value_name = "NAME")]
    name: String,
    /// Product the enrolled devices belong to.
    #[arg(long, value_name = "PRODUCT", value_parser = ProductName::parse)]
    product: ProductName,
    /// How many devices may enroll with it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    max_uses: u64,
    /// How long it stays valid: 90s, 15m, 12h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration_secs)]
    expires_in: u64,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's id (from `list`), not its secret.
    #[arg(value_name = "ID", value_parser = parse_id)]
    id: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run_tokens(command: TokensCommand, out: Output) -> Result<(), CliError> {
    match command {
        TokensCommand::Create(args) => {
            let client = EdgeClient::admin(&args.server.server)?;
            let body = serde_json::json!({ "name": args.name, "role": args.role });
            let created: CreatedSecret<ApiToken> = client.post_json("/api/tokens", &body)?;
            show_secret_once(out, &created, "API token", format_args!("{} ({})", created.row.id, role_name(created.row.role)));
        }
        TokensCommand::List(server) => {
            let tokens: Vec<ApiToken> = EdgeClient::admin(&server.server)?.get_json("/api/tokens")?;
            out.success(&ApiTokenList { tokens });
        }
        TokensCommand::Revoke(args) => {
            let revoked: Revoked = EdgeClient::admin(&args.server.server)?.delete_json(&format!("/api/tokens/{}", args.id))?;
            out.success(&RevokedView { kind: "API token", revoked });
        }
    }
    Ok(())
}

pub fn run_enroll_tokens(command: EnrollTokensCommand, out: Output) -> Result<(), CliError> {
    match command {
        EnrollTokensCommand::Create(args) => {
            let client = EdgeClient::admin(&args.server.server)?;
            let body = serde_json::json!({
                "name": args.name,
                "product": args.product,
                "max_uses": args.max_uses,
                "expires_in_s": args.expires_in,
            });
            let created: CreatedSecret<EnrollToken> = client.post_json("/api/enroll-tokens", &body)?;
            let row = &created.row;
            let about =
                format_args!("{} for {}: up to {} device(s) until {}", row.id, row.product, row.max_uses, short_time(row.expires_at));
            show_secret_once(out, &created, "enrollment token", about);
        }
        EnrollTokensCommand::List(server) => {
            let tokens: Vec<EnrollToken> = EdgeClient::admin(&server.server)?.get_json("/api/enroll-tokens")?;
            out.success(&EnrollTokenList { tokens });
        }
        EnrollTokensCommand::Revoke(args) => {
            let revoked: Revoked = EdgeClient::admin(&args.server.server)?.delete_json(&format!("/api/enroll-tokens/{}", args.id))?;
            out.success(&RevokedView { kind: "enrollment token", revoked });
        }
    }
    Ok(())
}

/// Parses a role with core's names, listing them in `--help` and in errors.
fn role_parser() -> impl clap::builder::TypedValueParser<Value = AdminRole> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(AdminRole::ALL.map(AdminRole::as_str)).try_map(|s| s.parse::<AdminRole>())
}

fn role_name(role: AdminRole) -> String {
    role.to_string()
}

/// A freshly minted token and its secret, as the edge answers `POST`.
#[derive(Debug, Serialize, Deserialize)]
struct CreatedSecret<T> {
    #[serde(flatten)]
    row: T,
    token: String,
}

/// Human mode: the secret alone on stdout; what it is, and that it will not
/// be shown again, on stderr. `--json`: one object with both.
fn show_secret_once<T: Serialize>(out: Output, created: &CreatedSecret<T>, kind: &str, about: fmt::Arguments<'_>) {
    if !out.is_json() {
        let _ = writeln!(std::io::stderr(), "created {kind} {about}");
    }
    warn(format_args!("this {kind} is shown only once: store it now (the edge keeps only its hash)"));
    out.success(&SecretView(created));
}

/// Displays as the bare secret; serialises as the whole answer.
#[derive(Serialize)]
#[serde(transparent)]
struct SecretView<'a, T>(&'a CreatedSecret<T>);

impl<T> fmt::Display for SecretView<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.0.token)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ApiToken {
    id: String,
    name: String,
    role: AdminRole,
    created_at: UnixTime,
    created_by: String,
    revoked_at: Option<UnixTime>,
}

#[derive(Debug, Serialize)]
struct ApiTokenList {
    tokens: Vec<ApiToken>,
}

impl fmt::Display for ApiTokenList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    role_name(t.role),
                    short_time(t.created_at),
                    t.created_by.clone(),
                    t.revoked_at.map_or_else(String::new, short_time),
                ]
            })
            .collect();
        f.write_str(&table(&["ID", "NAME", "ROLE", "CREATED (UTC)", "BY", "REVOKED"], &rows))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct EnrollToken {
    id: String,
    name: String,
    product: String,
    max_uses: u64,
    uses: u64,
    expires_at: UnixTime,
    created_at: UnixTime,
    created_by: String,
    revoked_at: Option<UnixTime>,
}

#[derive(Debug, Serialize)]
struct EnrollTokenList {
    tokens: Vec<EnrollToken>,
}

impl fmt::Display for EnrollTokenList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<Vec<String>> = self
            .tokens
            .iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    t.name.clone(),
                    t.product.clone(),
                    format!("{}/{}", t.uses, t.max_uses),
                    short_time(t.expires_at),
                    t.created_by.clone(),
                    t.revoked_at.map_or_else(String::new, short_time),
                ]
            })
            .collect();
        f.write_str(&table(&["ID", "NAME", "PRODUCT", "USES", "EXPIRES (UTC)", "BY", "REVOKED"], &rows))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Revoked {
    id: String,
    revoked_at: UnixTime,
}

#[derive(Debug, Serialize)]
struct RevokedView {
    #[serde(skip)]
    kind: &'static str,
    #[serde(flatten)]
    revoked: Revoked,
}

impl fmt::Display for RevokedView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "revoked {} {} at {}", self.kind, self.revoked.id, short_time(self.revoked.revoked_at))
    }
}
