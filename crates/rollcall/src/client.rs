//! The admin client: connecting to the meta service (over TLS when the
//! target says so), following its leader, the bearer token every call
//! carries, and the conversions every admin command needs. Failed calls become [`CliError`]s here, by the code in
//! their `rollcall-code` metadata.

use std::sync::OnceLock;
use std::time::Duration;

use rollcall_core::{Code, Role};
use rollcall_proto as pb;
use rollcall_proto::admin_client::AdminClient;
use rollcall_proto::tls::Tls;
use rollcall_proto::transport::{Dialer, Net};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::args::{Cli, Command, MetaTarget};
use crate::error::{chain, code_of, CliError};

/// How to reach `target`'s servers: a dialer (TCP, or TLS over it with
/// the CA and the user's client certificate, when present, of the
/// target's flags) and its TLS, to explain failures.
struct Reach {
    dialer: Dialer,
    tls: Option<Tls>,
}

fn reach(target: &MetaTarget) -> Result<Reach, CliError> {
    let files = crate::secure::client_files(&target.tls, target.user.as_deref())?;
    Ok(match crate::secure::load(files)? {
        Some(tls) => Reach {
            dialer: tls.wrap(&Net::tcp()).dialer().clone(),
            tls: Some(tls),
        },
        None => Reach {
            dialer: Dialer::tcp(),
            tls: None,
        },
    })
}

/// An admin client whose calls carry the bearer token, if one was given.
pub type Admin = AdminClient<InterceptedService<Channel, Bearer>>;

/// The interceptor adding `authorization: Bearer <token>`.
pub type Bearer = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

/// The token of this process's admin calls: `--token`, else the file of
/// `--token-file`, else `ROLLCALL_TOKEN` (set once, at start).
static TOKEN: OnceLock<Option<AsciiMetadataValue>> = OnceLock::new();

/// The token the command line names, checked.
pub fn token_from(cli: &Cli) -> Result<Option<AsciiMetadataValue>, CliError> {
    let given = cli.token.is_some() || cli.token_file.is_some();
    if given
        && matches!(
            cli.command,
            Command::Meta(_) | Command::Node(_) | Command::Demo(_)
        )
    {
        return Err(CliError::Usage(
            "--token and --token-file apply to admin commands, not to servers or the demo".into(),
        ));
    }
    let (text, from) = if let Some(t) = &cli.token {
        (t.clone(), "--token".to_string())
    } else if let Some(path) = &cli.token_file {
        let t = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            what: format!("cannot read the token file {}", path.display()),
            source,
        })?;
        (t, format!("the token file {}", path.display()))
    } else {
        match std::env::var("ROLLCALL_TOKEN") {
            Ok(t) if !t.trim().is_empty() => (t, "ROLLCALL_TOKEN".to_string()),
            _ => return Ok(None),
        }
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::Usage(format!("{from} holds an empty token")));
    }
    format!("Bearer {text}")
        .parse::<AsciiMetadataValue>()
        .map(Some)
        .map_err(|_| CliError::Usage(format!("{from} holds characters a token cannot have")))
}

/// Sets the token every admin call of this process carries.
pub fn use_token(token: Option<AsciiMetadataValue>) {
    let _ = TOKEN.set(token);
}

fn add_token(mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if let Some(Some(t)) = TOKEN.get() {
        req.metadata_mut().insert("authorization", t.clone());
    }
    Ok(req)
}

/// An admin client over `ch`.
pub fn admin(ch: Channel) -> Admin {
    AdminClient::with_interceptor(ch, add_token as Bearer)
        .max_decoding_message_size(256 * 1024 * 1024)
}

/// Connects to the meta leader: each server in `addrs` that answers is
/// asked who leads, and the first leader named is used (liveness and
/// writes are the leader's). Without any leader named, the first server
/// that answered is used, so its error explains the situation.
pub async fn connect(target: &MetaTarget) -> Result<Admin, CliError> {
    let r = reach(target)?;
    connect_with(&r.dialer, &target.addrs)
        .await
        .map_err(|e| explain(&r, e))
}

/// A command that reached no server says why: over TLS, with the last TLS
/// error (HTTP/2 reports a connection the server closed over a refused
/// certificate only as "connection closed"); in plaintext, that the
/// servers may use TLS.
fn explain(r: &Reach, e: CliError) -> CliError {
    let CliError::Unreachable { addrs, reason } = e else {
        return e;
    };
    let reason = match &r.tls {
        None => format!("{reason} (if the meta servers use TLS, give --tls-dir)"),
        Some(tls) => match tls.last_error() {
            Some(t) if !reason.contains(&t) => format!("{reason}: {t}"),
            _ => reason,
        },
    };
    CliError::Unreachable { addrs, reason }
}

async fn connect_with(dialer: &Dialer, addrs: &[String]) -> Result<Admin, CliError> {
    let mut first: Option<Admin> = None;
    let mut last_err = None;
    for addr in addrs {
        let (mut client, at) = match connect_any_with(dialer, std::slice::from_ref(addr)).await {
            Ok(c) => c,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let leader = client
            .cluster_info(pb::ClusterInfoRequest::default())
            .await
            .map(|r| r.into_inner().leader)
            .unwrap_or_default();
        if leader.is_empty() {
            first.get_or_insert(client);
            continue;
        }
        if leader == at {
            return Ok(client);
        }
        if let Ok((c, _)) = connect_any_with(dialer, std::slice::from_ref(&leader)).await {
            return Ok(c);
        }
        first.get_or_insert(client);
    }
    match (first, last_err) {
        (Some(c), _) => Ok(c),
        (None, Some(CliError::Unreachable { reason, .. })) => Err(CliError::Unreachable {
            addrs: addrs.join(", "),
            reason,
        }),
        (None, Some(e)) => Err(e),
        (None, None) => Err(CliError::Usage("no meta address given".into())),
    }
}

/// Runs one admin call at the leader. While leadership is changing
/// (NOT_LEADER), it finds the leader again and retries, for up to 10 s.
pub async fn at_leader<T, F, Fut>(target: &MetaTarget, mut call: F) -> Result<T, CliError>
where
    F: FnMut(Admin) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let meta = &target.addrs;
    let r = reach(target)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let client = connect_with(&r.dialer, meta)
            .await
            .map_err(|e| explain(&r, e))?;
        match call(client).await {
            Ok(r) => return Ok(r.into_inner()),
            Err(s)
                if code_of(&s) == Some(Code::NotLeader)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(s) => return Err(explain(&r, CliError::from_status(s, &meta.join(", ")))),
        }
    }
}

/// Connects to the first of `target`'s meta servers that accepts a
/// connection; the client and the address it reached.
pub async fn connect_any(target: &MetaTarget) -> Result<(Admin, String), CliError> {
    let r = reach(target)?;
    connect_any_with(&r.dialer, &target.addrs)
        .await
        .map_err(|e| explain(&r, e))
}

async fn connect_any_with(dialer: &Dialer, addrs: &[String]) -> Result<(Admin, String), CliError> {
    let mut last = String::from("no address given");
    for addr in addrs {
        let ep = match Endpoint::from_shared(format!("http://{addr}")) {
            Ok(ep) => ep
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10)),
            Err(e) => {
                last = format!("{addr:?} is not host:port ({e})");
                continue;
            }
        };
        match dialer.connect(ep).await {
            Ok(ch) => {
                return Ok((admin(ch), addr.clone()));
            }
            Err(e) => last = chain(&e),
        }
    }
    Err(CliError::Unreachable {
        addrs: addrs.join(", "),
        reason: last,
    })
}

/// A role filter or scope on the wire (`None`: all roles).
pub fn role_pb(r: Option<Role>) -> i32 {
    rollcall_proto::convert::role_to_pb(r) as i32
}

/// The dialer of `target`'s admin calls: TCP, or TLS presenting the
/// user's client certificate when the target has TLS flags (for callers,
/// like the bench, that poll one server many times).
pub fn dialer(target: &MetaTarget) -> Result<Dialer, CliError> {
    Ok(reach(target)?.dialer)
}

/// `ClusterInfo` from one server over plain TCP, with short timeouts (the
/// bench polls servers it starts and kills).
pub async fn cluster_info(addr: &str) -> Result<pb::ClusterInfoResponse, CliError> {
    cluster_info_with(&Dialer::tcp(), addr).await
}

/// `ClusterInfo` from one server through `dialer` (TLS with a client
/// certificate, from [`dialer`]), with the short timeouts of
/// [`cluster_info`].
pub async fn cluster_info_with(
    dialer: &Dialer,
    addr: &str,
) -> Result<pb::ClusterInfoResponse, CliError> {
    let ep = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| CliError::Usage(format!("{addr}: {e}")))?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(2));
    let ch = dialer
        .connect(ep)
        .await
        .map_err(|e| CliError::Unreachable {
            addrs: addr.to_string(),
            reason: chain(&e),
        })?;
    Ok(admin(ch)
        .cluster_info(pb::ClusterInfoRequest::default())
        .await
        .map_err(|s| CliError::from_status(s, addr))?
        .into_inner())
}
