//! `rollcall tokens create|list|revoke`: admin and join tokens. A new
//! token's secret is printed once; the meta service keeps only its hash.

use rollcall_proto as pb;
use serde_json::{json, Value};

use crate::args::TokensCmd;
use crate::client::at_leader;
use crate::error::CliError;
use crate::out::outln;
use crate::render::{pretty, rfc3339};

/// Runs a `tokens` subcommand.
pub async fn run(cmd: TokensCmd) -> Result<(), CliError> {
    match cmd {
        TokensCmd::Create {
            name,
            role,
            ttl,
            uses,
            json,
            out,
            meta,
        } => {
            let meta = &meta.or_default();
            if let Some(path) = &out {
                if path.exists() {
                    return Err(CliError::Usage(format!(
                        "{} exists; pick another --out (a token file is never overwritten)",
                        path.display()
                    )));
                }
            }
            let req = pb::CreateTokenRequest {
                name,
                role,
                ttl_ms: ttl.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                uses: uses.unwrap_or(0),
            };
            let r = at_leader(meta, |mut c| {
                let req = req.clone();
                async move { c.create_token(req).await }
            })
            .await?;
            let t = r.token.unwrap_or_default();
            if let Some(path) = out {
                write_secret(&path, &r.secret)?;
                outln!(
                    "created {} token {:?}; its secret is in {} (use --token-file)",
                    t.role,
                    t.name,
                    path.display()
                )?;
            } else if json {
                let mut v = token_json(&t);
                v["secret"] = json!(r.secret);
                outln!("{}", pretty(&v))?;
            } else {
                outln!("{}", r.secret)?;
                crate::out::warn(format_args!(
                    "created {} token {:?}; the line above is its secret, shown only now",
                    t.role, t.name
                ));
            }
        }
        TokensCmd::List { json, meta } => {
            let meta = &meta.or_default();
            let r = at_leader(meta, |mut c| async move {
                c.list_tokens(pb::ListTokensRequest {}).await
            })
            .await?;
            outln!("{}", tokens(&r.tokens, json))?;
        }
        TokensCmd::Revoke { name, meta } => {
            let meta = &meta.or_default();
            at_leader(meta, |mut c| {
                let name = name.clone();
                async move { c.revoke_token(pb::RevokeTokenRequest { name }).await }
            })
            .await?;
            outln!("revoked token {name:?}")?;
        }
    }
    Ok(())
}

/// Writes `secret` to a new file readable by its owner only.
fn write_secret(path: &std::path::Path, secret: &str) -> Result<(), CliError> {
    use std::io::Write;
    let err = |source| CliError::Io {
        what: format!("writing the token to {}", path.display()),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(err)?;
    writeln!(f, "{secret}").map_err(err)
}

fn token_json(t: &pb::TokenView) -> Value {
    json!({
        "name": t.name,
        "role": t.role,
        "created": rfc3339(t.created_at_ms),
        "created_by": t.created_by,
        "expires": rfc3339(t.expires_at_ms),
        "uses_left": if t.uses_left < 0 { Value::Null } else { json!(t.uses_left) },
    })
}

/// Tokens as a table or JSON (never with secrets: the meta service has none).
fn tokens(list: &[pb::TokenView], json: bool) -> String {
    if json {
        return pretty(&Value::from(
            list.iter().map(token_json).collect::<Vec<_>>(),
        ));
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(vec![
            "Name",
            "Role",
            "Created",
            "By",
            "Expires",
            "Uses left",
        ]);
    for tok in list {
        t.add_row(vec![
            tok.name.clone(),
            tok.role.clone(),
            rfc3339(tok.created_at_ms).unwrap_or_default(),
            tok.created_by.clone(),
            rfc3339(tok.expires_at_ms).unwrap_or_else(|| "never".into()),
            if tok.uses_left < 0 {
                "unlimited".into()
            } else {
                tok.uses_left.to_string()
            },
        ]);
    }
    t.to_string()
}
