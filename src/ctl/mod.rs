//! `switchyard ctl`: the control API's command-line client. Every
//! subcommand is one API request, written and read as the contract's
//! types ([`crate::contract`]); output is a table for people, or the API's
//! JSON with `--json`. Errors (the API's own message included) go to
//! stderr with a non-zero exit.

pub mod drill;
mod explain;
pub mod http;
mod instances;
mod render;
mod traffic;

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use crate::contract::{
    DeleteRequest, DrainRequest, ErrorBody, ForceRequest, ForceTarget, WeightRequest,
};

/// `switchyard ctl` arguments.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// API address, `host:port` or `http://host:port`.
    #[arg(
        long,
        global = true,
        env = "SWITCHYARD_API",
        default_value = "127.0.0.1:8053"
    )]
    pub api: String,
    /// Bearer token for changes (and for reads when the server protects them).
    #[arg(long, global = true, env = "SWITCHYARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// Options every change takes.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Why you are making the change (required; audited).
    #[arg(long)]
    pub why: String,
    /// Apply even if a service would be left with no available region.
    #[arg(long)]
    pub force: bool,
}

/// `up`, `down` or `clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ForceArg {
    /// Healthy with every endpoint answered, whatever the checks say.
    Up,
    /// Never answered, whatever the checks say.
    Down,
    /// Remove the forced state.
    Clear,
}

/// The `ctl` subcommands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Server version, uptime, snapshot generation and age, counts, last reload.
    Status,
    /// Every region: health, weights, forced state, overrides.
    Regions,
    /// One region with its endpoints.
    Region {
        /// Region name.
        name: String,
    },
    /// Every managed name and its regions.
    Services,
    /// One managed name.
    Service {
        /// The managed name (trailing dot optional).
        name: String,
    },
    /// Active overrides.
    Overrides,
    /// Where each service's answers went, per region: total and over the last minute.
    Traffic,
    /// Set a region's effective weight.
    Weight {
        /// Region name.
        region: String,
        /// The weight (0 drains).
        weight: u32,
        // Not a doc comment: clap would take it as help text; `ChangeArgs`
        // documents its own fields.
        #[allow(missing_docs)]
        #[command(flatten)]
        change: ChangeArgs,
        /// Lapse after this long (`90s`, `30m`, `1h`, `2d`).
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<u64>,
    },
    /// Drain a region: weight 0, health checks keep running.
    Drain {
        /// Region name.
        region: String,
        // Not a doc comment: clap would take it as help text; `ChangeArgs`
        // documents its own fields.
        #[allow(missing_docs)]
        #[command(flatten)]
        change: ChangeArgs,
        /// Lapse after this long (`90s`, `30m`, `1h`, `2d`).
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<u64>,
    },
    /// Force a region up or down, or clear its forced state.
    Force {
        /// Region name.
        region: String,
        /// `up`, `down` or `clear`.
        state: ForceArg,
        // Not a doc comment: clap would take it as help text; `ChangeArgs`
        // documents its own fields.
        #[allow(missing_docs)]
        #[command(flatten)]
        change: ChangeArgs,
        /// Lapse after this long (`90s`, `30m`, `1h`, `2d`); not for `clear`.
        #[arg(long, value_parser = parse_expiry)]
        expires: Option<u64>,
    },
    /// Why a client gets the answer it gets: location, policy, candidates, answer.
    Explain {
        /// The name asked (trailing dot optional).
        name: String,
        /// The resolver's address (`81.2.69.7`) or an ECS client subnet (`81.2.69.0/24`).
        #[arg(long)]
        client: String,
        /// The record type asked.
        #[arg(long = "type", default_value = "A")]
        qtype: String,
        /// Seed for weighted and multivalue draws (repeat a draw).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Remove an override by id.
    Clear {
        /// The override id (`ov-...`, from `ctl overrides`).
        id: String,
        // Not a doc comment: clap would take it as help text; `ChangeArgs`
        // documents its own fields.
        #[allow(missing_docs)]
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Geo-failover drills: start, list, show, stop.
    Drill {
        /// What to do.
        #[command(subcommand)]
        command: drill::DrillCommand,
    },
}

/// `--expires`: a human duration, in whole seconds (at least one).
fn parse_expiry(text: &str) -> Result<u64, String> {
    let duration =
        humantime::parse_duration(text).map_err(|e| format!("{e} (try 90s, 30m, 1h, 2d)"))?;
    match duration.as_secs() {
        0 => Err("must be at least 1s".into()),
        secs => Ok(secs),
    }
}

/// A path segment with everything but unreserved characters percent-encoded.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A request body as JSON (the contract's types always serialize).
fn body(value: impl serde::Serialize) -> Option<Value> {
    serde_json::to_value(value).ok()
}

/// The request a subcommand makes: method, path, body.
fn request_for(command: &CtlCommand) -> (&'static str, String, Option<Value>) {
    let region_path = |region: &str, what: &str| format!("/v1/regions/{}/{what}", segment(region));
    match command {
        CtlCommand::Status => ("GET", "/v1/status".into(), None),
        CtlCommand::Regions => ("GET", "/v1/regions".into(), None),
        CtlCommand::Region { name } => ("GET", format!("/v1/regions/{}", segment(name)), None),
        CtlCommand::Services => ("GET", "/v1/services".into(), None),
        CtlCommand::Service { name } => ("GET", format!("/v1/services/{}", segment(name)), None),
        CtlCommand::Overrides => ("GET", "/v1/overrides".into(), None),
        CtlCommand::Traffic => ("GET", "/v1/traffic".into(), None),
        CtlCommand::Explain {
            name,
            client,
            qtype,
            seed,
        } => {
            let mut path = format!(
                "/v1/explain?name={}&type={}&client={}",
                segment(name),
                segment(qtype),
                segment(client)
            );
            if let Some(seed) = seed {
                path += &format!("&seed={seed}");
            }
            ("GET", path, None)
        }
        CtlCommand::Weight {
            region,
            weight,
            change,
            expires,
        } => (
            "PUT",
            region_path(region, "weight"),
            body(WeightRequest {
                weight: *weight,
                expires_in_secs: *expires,
                why: change.why.clone(),
                force: change.force,
            }),
        ),
        CtlCommand::Drain {
            region,
            change,
            expires,
        } => (
            "POST",
            region_path(region, "drain"),
            body(DrainRequest {
                expires_in_secs: *expires,
                why: change.why.clone(),
                force: change.force,
            }),
        ),
        CtlCommand::Force {
            region,
            state,
            change,
            expires,
        } => (
            "POST",
            region_path(region, "force"),
            body(ForceRequest {
                state: match state {
                    ForceArg::Up => ForceTarget::Up,
                    ForceArg::Down => ForceTarget::Down,
                    ForceArg::Clear => ForceTarget::Clear,
                },
                expires_in_secs: *expires,
                why: change.why.clone(),
                force: change.force,
            }),
        ),
        CtlCommand::Clear { id, change } => (
            "DELETE",
            format!("/v1/overrides/{}", segment(id)),
            body(DeleteRequest {
                why: change.why.clone(),
                force: change.force,
            }),
        ),
        CtlCommand::Drill { command } => drill::request_for(command),
    }
}

/// Runs one `ctl` command, printing to stdout/stderr; the process exit code.
pub fn run(args: CtlArgs) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match execute(&args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = out.flush();
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one `ctl` command, writing its output to `out`; the error message
/// on failure.
pub fn execute(args: &CtlArgs, out: &mut impl Write) -> Result<(), String> {
    let (method, path, body) = request_for(&args.command);
    if body.is_some() && args.token.is_none() {
        return Err("changes need a token: pass --token or set SWITCHYARD_TOKEN".into());
    }
    let body = body.map(|b| b.to_string().into_bytes());
    let response = http::request(
        &args.api,
        method,
        &path,
        args.token.as_deref(),
        body.as_deref(),
    )
    .map_err(|e| format!("cannot reach the API at {}: {e}", args.api))?;
    let value: Value = serde_json::from_slice(&response.body).map_err(|_| {
        format!(
            "HTTP {} from {} with a body that is not JSON: {}",
            response.status,
            args.api,
            String::from_utf8_lossy(&response.body)
                .chars()
                .take(200)
                .collect::<String>()
        )
    })?;
    if !(200..300).contains(&response.status) {
        return Err(match serde_json::from_value::<ErrorBody>(value) {
            Ok(ErrorBody { error }) => format!(
                "{} ({}, HTTP {})",
                error.message,
                render::name(&error.code),
                response.status
            ),
            Err(_) => format!("(no message) (error, HTTP {})", response.status),
        });
    }
    let text = if args.json {
        serde_json::to_string_pretty(&value).unwrap_or_default()
    } else {
        render::render(&args.command, &response.body)?
    };
    writeln!(out, "{text}").map_err(|e| format!("cannot write output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_match_the_api() {
        let change = ChangeArgs {
            why: "maint".into(),
            force: false,
        };
        let (method, path, body) = request_for(&CtlCommand::Weight {
            region: "us east".into(),
            weight: 5,
            change,
            expires: Some(3600),
        });
        assert_eq!(
            (method, path.as_str()),
            ("PUT", "/v1/regions/us%20east/weight")
        );
        assert_eq!(
            body.unwrap(),
            json!({"why": "maint", "force": false, "weight": 5, "expires_in_secs": 3600})
        );
        let (method, path, body) = request_for(&CtlCommand::Explain {
            name: "www.example.com".into(),
            client: "81.2.69.0/24".into(),
            qtype: "AAAA".into(),
            seed: None,
        });
        assert_eq!(
            (method, path.as_str(), body),
            (
                "GET",
                "/v1/explain?name=www.example.com&type=AAAA&client=81.2.69.0%2F24",
                None
            )
        );
        assert_eq!(parse_expiry("1h"), Ok(3600));
        assert_eq!(parse_expiry("90s"), Ok(90));
        assert!(parse_expiry("0s").is_err());
        assert!(parse_expiry("soon").is_err());
    }
}
