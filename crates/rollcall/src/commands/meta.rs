//! `rollcall meta`: runs a meta server until Ctrl-C or SIGTERM. Writes its
//! bound address to `DATA_DIR/meta.addr` so scripts (and tests using port
//! 0) can find it.

use rollcall_core::{AdmissionPolicy, DetectorKind};
use rollcall_meta::{MetaConfig, MetaServer};

use crate::args::{AdmissionArg, DetectorArg, MetaArgs, OnOff};
use crate::commands::shared::{default_listen, shutdown_signal, write_addr_file};
use crate::error::CliError;
use crate::out::note;

/// The file holding a running meta server's address.
pub const ADDR_FILE: &str = "meta.addr";
/// Where the bound `FrontendService` (Thrift) address is written.
pub const THRIFT_ADDR_FILE: &str = "thrift.addr";

/// Builds the server config from the arguments.
fn config(args: &MetaArgs) -> Result<MetaConfig, CliError> {
    if args.heartbeat_interval.is_zero() {
        return Err(CliError::Usage(
            "--heartbeat-interval must be above 0".into(),
        ));
    }
    if args.expired_factor == 0 {
        return Err(CliError::Usage(
            "--expired-factor must be at least 1".into(),
        ));
    }
    if args.phi_threshold.is_nan() || args.phi_threshold <= 0.0 {
        return Err(CliError::Usage("--phi-threshold must be above 0".into()));
    }
    let mut c = MetaConfig::new(args.listen);
    c.data_dir = Some(args.data_dir.clone());
    c.heartbeat_interval = args.heartbeat_interval;
    c.expired_factor = args.expired_factor;
    c.detector = match args.detector {
        DetectorArg::Threshold => DetectorKind::Threshold,
        DetectorArg::Phi => DetectorKind::Phi {
            threshold: args.phi_threshold,
        },
    };
    c.admission = match args.admission {
        AdmissionArg::Auto => AdmissionPolicy::Auto,
        AdmissionArg::Explicit => AdmissionPolicy::Explicit,
        AdmissionArg::Token => AdmissionPolicy::Token,
    };
    c.node_id = args.id;
    c.join = args.join;
    if args.snapshot_every == 0 {
        return Err(CliError::Usage(
            "--snapshot-every must be at least 1".into(),
        ));
    }
    c.snapshot_every = args.snapshot_every;
    if args.pull_failure_tolerance == 0 {
        return Err(CliError::Usage(
            "--pull-failure-tolerance must be at least 1".into(),
        ));
    }
    c.pull_failure_tolerance = args.pull_failure_tolerance;
    c.thrift_listen = match args.thrift_listen.as_deref() {
        Some("off") => None,
        Some(a) => Some(a.parse().map_err(|e| {
            CliError::Usage(format!(
                "--thrift-listen {a:?} is not host:port or off: {e}"
            ))
        })?),
        None => Some(default_listen(
            args.listen,
            &args.data_dir,
            THRIFT_ADDR_FILE,
        )),
    };
    c.peers = args.peers.iter().cloned().collect();
    if c.peers.len() != args.peers.len() {
        return Err(CliError::Usage("--peers names an id twice".into()));
    }
    if !c.peers.is_empty() && !c.peers.contains_key(&args.id) {
        return Err(CliError::Usage(format!(
            "--peers must include this server's own id {} (ID=HOST:PORT)",
            args.id
        )));
    }
    if let (Some(a), Some(own)) = (&args.advertise, c.peers.get(&args.id)) {
        if a != own {
            return Err(CliError::Usage(format!(
                "--advertise {a} differs from this server's entry {}={own} in --peers; \
                 the group knows it by its --peers entry",
                args.id
            )));
        }
    }
    c.advertise = args.advertise.clone();
    c.metrics = matches!(args.metrics, OnOff::On);
    // Secure by default off loopback.
    c.auth = match args.auth {
        Some(OnOff::On) => true,
        Some(OnOff::Off) => false,
        None => !args.listen.ip().is_loopback(),
    };
    if args.audit_keep == 0 {
        return Err(CliError::Usage("--audit-keep must be at least 1".into()));
    }
    c.audit_keep = args.audit_keep;
    if args.max_hosts == Some(0) {
        return Err(CliError::Usage("--max-hosts must be at least 1".into()));
    }
    c.max_hosts = args.max_hosts;
    c.registration_rate = match args.registration_rate.as_str() {
        "off" => None,
        n => match n.parse::<u32>() {
            Ok(r) if r > 0 => Some(r),
            _ => {
                return Err(CliError::Usage(format!(
                    "--registration-rate {n:?} is not a number above 0, or off"
                )))
            }
        },
    };
    Ok(c)
}

/// Runs the server.
pub async fn run(args: MetaArgs) -> Result<(), CliError> {
    let mut config = config(&args)?;
    let tls = crate::secure::load(crate::secure::meta_files(&args.tls)?)?;
    let http = crate::http::listen_addr(args.http_listen.as_deref(), args.listen, &args.data_dir)?;
    let mut ips = vec![args.listen.ip()];
    ips.extend(config.thrift_listen.map(|a| a.ip()));
    ips.extend(http.map(|a| a.ip()));
    crate::secure::check_exposure("rollcall meta", &ips, tls.is_some(), args.insecure)?;
    config.tls = tls.clone();
    // Secure by default: authentication is on with TLS, or when any port
    // (gRPC, Thrift, HTTP) is bound off loopback.
    if args.auth.is_none() && (tls.is_some() || ips.iter().any(|ip| !ip.is_loopback())) {
        config.auth = true;
    }
    let auth = config.auth;
    let server = MetaServer::start(config).await?;
    server
        .observer()
        .set_log_control(std::sync::Arc::new(crate::logging::set_level));
    if auth {
        note(format_args!(
            "admin calls need a token (the first admin token is written to DATA_DIR/admin.token \
             by the server that creates it) or a client certificate"
        ));
    } else {
        tracing::warn!(
            "authentication is off: anyone who can reach {} (or its HTTP port) can make \
             admin calls (pass --auth on; it is the default off loopback or with TLS)",
            args.listen
        );
    }
    if let Some(tls) = &tls {
        crate::secure::reload_on_sighup(tls.clone())?;
        note(format_args!(
            "TLS on every connection (CA {}); SIGHUP reloads the certificates",
            tls.files().ca.display()
        ));
    }
    if let Some(at) = http {
        let net = match &tls {
            Some(t) => t.wrap(&rollcall_meta::Net::tcp()),
            None => rollcall_meta::Net::tcp(),
        };
        let router = crate::http::meta::router(server.observer(), net.dialer().clone());
        let bound = crate::http::serve(&net, at, &args.data_dir, router).await?;
        server.observer().set_http_addr(bound);
        let scheme = if tls.is_some() { "https" } else { "http" };
        note(format_args!(
            "dashboard on {scheme}://{bound}/ (also /metrics, /healthz, /readyz, /api/v1/)"
        ));
    }
    let addr = server.local_addr();
    // The address others reach it at (the bound one unless advertised).
    write_addr_file(&args.data_dir, ADDR_FILE, server.advertised_addr())?;
    if let Some(t) = server.thrift_addr() {
        write_addr_file(&args.data_dir, THRIFT_ADDR_FILE, t)?;
        note(format_args!("FrontendService (Thrift) on {t}"));
    }
    let listening = match &args.advertise {
        Some(a) => format!("listening on {addr} (advertised as {a})"),
        None => format!("listening on {addr}"),
    };
    if args.join {
        let reach = args.advertise.clone().unwrap_or_else(|| addr.to_string());
        note(format_args!(
            "rollcall meta {} {listening}, waiting to be added: rollcall meta-cluster add {} {reach}",
            args.id, args.id
        ));
    } else if args.peers.is_empty() {
        note(format_args!(
            "rollcall meta {} {listening}, cluster id {}, term {}",
            args.id,
            server.cluster_id(),
            server.term()
        ));
    } else {
        note(format_args!(
            "rollcall meta {} {listening}, one of {} voters; the group elects once a majority is up",
            args.id,
            args.peers.len()
        ));
    }
    let stopper = server.stopper();
    tokio::spawn(async move {
        if shutdown_signal().await.is_ok() {
            tracing::info!("shutting down");
            stopper.stop();
        }
    });
    server.wait().await.map_err(CliError::from)
}
