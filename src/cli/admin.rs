//! Administration against a running server (`--server`): apply (and
//! `--plan`), registry reads and lineage, snapshot, delete, flush, compact
//! and token admin. The server runs the store operation the local command
//! runs and answers the lines it prints; these functions only send the
//! arguments and print.

use std::path::Path;

use serde_json::{Value as Json, json};
use strata::catalog::JoinKey;
use strata::format::protocol::{self as p, AdminOp, AdminRequest};

use super::export::SnapshotArgs;
use super::registry::RegistryCmd;
use super::remote::{RemoteArgs, client_error};
use super::token::TokenCmd;
use super::{CliError, Result, out, outp, output, parse};

/// Sends one admin request and prints its lines.
fn run(r: &RemoteArgs, req: &AdminRequest) -> Result<p::AdminReport> {
    let c = r.connect()?;
    let rep = c.admin(req).map_err(client_error)?;
    for l in &rep.lines {
        out!("{l}");
    }
    Ok(rep)
}

/// `strata apply --server`: the definitions file is read here and applied
/// (or planned) by the server, live.
pub fn apply(r: &RemoteArgs, defs: &Path, plan_only: bool) -> Result {
    let text = std::fs::read_to_string(defs)
        .map_err(|e| CliError::msg(format!("cannot read {}: {e}", defs.display())))?;
    let op = if plan_only {
        AdminOp::Plan
    } else {
        AdminOp::Apply
    };
    run(r, &AdminRequest::new(op, &[&text]))?;
    Ok(())
}

/// `strata flush --server` and `strata compact --server`.
pub fn store_wide(r: &RemoteArgs, op: AdminOp) -> Result {
    run(r, &AdminRequest::new(op, &[]))?;
    Ok(())
}

/// `strata delete --server`: the key is parsed here for the entity's join
/// keys, as the server's registry lists them.
pub fn delete(r: &RemoteArgs, entity: &str, key_text: &str) -> Result {
    let c = r.connect()?;
    let list = c.registry_list().map_err(client_error)?;
    let e = list
        .entities
        .iter()
        .find(|e| e.name == entity)
        .ok_or_else(|| CliError::Usage(format!("unknown entity {entity:?} on the server")))?;
    let cols: Vec<JoinKey> = e
        .join_keys
        .iter()
        .map(|(name, ty)| JoinKey {
            name: name.clone(),
            ty: *ty,
        })
        .collect();
    let mut req = AdminRequest::new(AdminOp::Delete, &[entity]);
    req.key = parse::key_arg(&cols, key_text).map_err(CliError::Usage)?;
    for l in c.admin(&req).map_err(client_error)?.lines {
        out!("{l}");
    }
    Ok(())
}

/// `strata snapshot --server`: the server writes the files, into `--out`
/// on its own file system.
pub fn snapshot(r: &RemoteArgs, args: &SnapshotArgs) -> Result {
    let t = |v: Option<i64>| v.map_or_else(String::new, |v| v.to_string());
    let out_dir = args.out.to_string_lossy();
    let (from, to, known) = (t(args.from), t(args.to), t(args.known_at));
    run(
        r,
        &AdminRequest::new(
            AdminOp::Snapshot,
            &[&args.view, &out_dir, &from, &to, &known],
        ),
    )?;
    Ok(())
}

/// `strata token create|list|revoke --server`: the server's token file.
pub fn token(r: &RemoteArgs, cmd: TokenCmd) -> Result {
    let c = r.connect()?;
    match cmd {
        TokenCmd::Create { name, grants } => {
            let mut args = vec![name.as_str()];
            args.extend(grants.iter().map(String::as_str));
            let rep = c
                .admin(&AdminRequest::new(AdminOp::TokenCreate, &args))
                .map_err(client_error)?;
            let mut lines = rep.lines.iter();
            if let Some(token) = lines.next() {
                out!("{token}");
            }
            for l in lines {
                eprintln!("{l}; it is shown only once, keep it secret");
            }
        }
        TokenCmd::List { json } => {
            let rep = c
                .admin(&AdminRequest::new(AdminOp::TokenList, &[]))
                .map_err(client_error)?;
            let rows: Vec<Vec<String>> = rep
                .lines
                .iter()
                .map(|l| l.split('\t').map(str::to_string).collect())
                .collect();
            if json {
                let all: Vec<Json> = rows
                    .iter()
                    .map(|r| {
                        json!({ "id": r.first(), "name": r.get(1),
                                "grants": r.get(2).map(|g| g.split(' ').collect::<Vec<_>>()),
                                "created": r.get(3) })
                    })
                    .collect();
                out!("{}", Json::Array(all));
            } else {
                outp!(
                    "{}",
                    output::table(&["id", "name", "grants", "created"], &rows)
                );
            }
        }
        TokenCmd::Revoke { id } => {
            for l in c
                .admin(&AdminRequest::new(AdminOp::TokenRevoke, &[&id]))
                .map_err(client_error)?
                .lines
            {
                out!("{l}");
            }
        }
    }
    Ok(())
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// `strata registry ... --server`: the views this token may read.
pub fn registry(r: &RemoteArgs, cmd: RegistryCmd) -> Result {
    let c = r.connect()?;
    match cmd {
        RegistryCmd::List { json } => {
            let list = c.registry_list().map_err(client_error)?;
            super::registry::print_list(&list, json, "no feature views this token may read")?;
        }
        RegistryCmd::Describe { view, json } => {
            let d = c.describe(&view).map_err(client_error)?;
            super::registry::print_describe(&d, json)?;
        }
        RegistryCmd::Search { filters, json } => {
            let Some(q) = filters.text_only() else {
                return Err(CliError::Usage(
                    "registry search --server searches text only; drop --tag, --team, --owner and --entity".into(),
                ));
            };
            let hits = c.search(&q, 0).map_err(client_error)?;
            if json {
                let all: Vec<Json> = hits
                    .iter()
                    .map(|h| {
                        json!({ "kind": format!("{:?}", h.kind).to_lowercase(),
                                     "view": h.view, "name": h.name, "matched": h.matched })
                    })
                    .collect();
                out!("{}", Json::Array(all));
            } else {
                let rows: Vec<Vec<String>> = hits
                    .iter()
                    .map(|h| {
                        vec![
                            format!("{:?}", h.kind).to_lowercase(),
                            dash(&h.view),
                            h.name.clone(),
                            h.matched.clone(),
                        ]
                    })
                    .collect();
                super::registry::print_hits(&["KIND", "VIEW", "NAME", "MATCHED"], &rows)?;
            }
        }
        RegistryCmd::Lineage { view, json } => {
            let rep = c
                .admin(&AdminRequest::new(AdminOp::Lineage, &[&view]))
                .map_err(client_error)?;
            if json {
                out!("{}", json!({ "view": view, "tree": rep.lines }));
            } else {
                for l in rep.lines {
                    out!("{l}");
                }
            }
        }
    }
    Ok(())
}
