//! `strata token create|list|revoke`: the access tokens of a store
//! (`DIR/tokens.json`, see `strata::server::auth`). A running server picks
//! changes up within a second.

use std::path::Path;

use strata::offline::timestamp;
use strata::server::auth::{self, Grant};

use super::{CliError, Result, out, output};

#[derive(clap::Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token and print it (it is shown only this once)
    Create {
        /// A name to recognise the token by (who or what uses it)
        #[arg(long)]
        name: String,
        /// LEVEL:view:NAME, LEVEL:team:NAME or LEVEL:* with LEVEL read, write (includes read) or admin (includes both); repeatable
        #[arg(long = "grant", value_name = "GRANT", required = true)]
        grants: Vec<String>,
    },
    /// List the tokens (ids, names, grants; never secrets)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id (or by the whole token)
    Revoke { id: String },
}

pub fn run(dir: &Path, cmd: TokenCmd) -> Result {
    match cmd {
        TokenCmd::Create { name, grants } => {
            let grants = grants
                .iter()
                .map(|g| Grant::parse(g))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(CliError::Usage)?;
            let (entry, token) = auth::create(dir, &name, &grants)?;
            out!("{token}");
            eprintln!(
                "created token {} ({name}) with {}; it is shown only once, keep it secret",
                entry.id,
                entry.grants.join(", ")
            );
        }
        TokenCmd::List { json } => {
            let tokens = auth::list(dir)?;
            if json {
                out!(
                    "{}",
                    serde_json::json!(
                        tokens
                            .iter()
                            .map(|t| serde_json::json!({
                                "id": t.id,
                                "name": t.name,
                                "grants": t.grants,
                                "created": timestamp::format(t.created),
                            }))
                            .collect::<Vec<_>>()
                    )
                );
            } else if tokens.is_empty() {
                out!("no tokens; create one with `strata token create --name NAME --grant read:*`");
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.name.clone(),
                            t.grants.join(" "),
                            timestamp::format(t.created),
                        ]
                    })
                    .collect();
                use std::io::Write as _;
                write!(
                    std::io::stdout(),
                    "{}",
                    output::table(&["id", "name", "grants", "created"], &rows)
                )?;
            }
        }
        TokenCmd::Revoke { id } => {
            if auth::revoke(dir, &id)? {
                out!("revoked {id}");
            } else {
                return Err(CliError::Usage(format!(
                    "no token {id:?} in {}; `strata token list` shows them",
                    dir.display()
                )));
            }
        }
    }
    Ok(())
}
