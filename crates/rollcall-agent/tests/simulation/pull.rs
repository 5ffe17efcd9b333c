//! Pull mode and meta-to-meta pings in the simulation: three meta servers
//! that serve `FrontendService` and ping each other over turmoil, and two
//! pull-mode backends (`HeartbeatService`) the leader probes, through
//! seeded meta crashes and restarts (failovers) and a cut of one backend.
//!
//! Invariants checked for every seed:
//! - the never-cut backend is never OFFLINE at a leader;
//! - the cut backend is OFFLINE at the leader once the cut has lasted the
//!   failure tolerance (plus a probe timeout and an interval), and ONLINE
//!   again after it is reconnected;
//! - after the heal, the leader shows both backends ONLINE and has pinged
//!   every meta server alive;
//! - a stale master (an epoch below the one a backend accepted) is refused
//!   by the backend, and the real leader's probes go on being accepted.
//!
//! Meta faults happen only outside the cut window, so the cut is judged
//! against one leader that held office throughout.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollcall_agent::{BackendConfig, BackendServer};
use rollcall_meta::{MetaConfig, RaftStore};
use rollcall_proto as pb;
use rollcall_proto::thrift::{BackendInfo, Client, Limits, MasterInfo, NetworkAddress};

use super::look::{admin, leader_hosts};
use super::record::now;
use super::{dialer, meta_config, net, record, run_meta, Shared, INTERVAL, METAS, RPC_TIMEOUT};

const BACKENDS: [&str; 2] = ["backend1", "backend2"];
/// The backends' `HeartbeatService` port.
const PROBE_PORT: u16 = 9070;
/// The meta servers' `FrontendService` port.
const THRIFT_PORT: u16 = 9020;
const FAULTS_FROM: Duration = Duration::from_secs(3);
/// backend2 is cut from every meta server from here...
const CUT_FROM: Duration = Duration::from_secs(10);
/// ...until here.
const CUT_UNTIL: Duration = Duration::from_secs(20);
/// Meta faults stay this far from the cut window.
const QUIET: Duration = Duration::from_secs(3);
const HEAL_AT: Duration = Duration::from_secs(28);
/// Consecutive failed probes before OFFLINE (the meta default).
const TOLERANCE: u32 = 3;
/// How long a cut may take to show: the failed probes, one probe timeout
/// (the interval) and one interval of slack for the round's phase.
const CUT_SHOWS_WITHIN: Duration = Duration::from_secs(TOLERANCE as u64 + 2);
/// Every seed must judge at least this many rows of the never-cut backend.
const MIN_ROWS: u64 = 10;

/// What the driver saw.
#[derive(Default)]
struct Seen {
    violations: Vec<String>,
    /// Rows of backend1 judged.
    rows: u64,
    /// Looks at the cut backend after it should show OFFLINE.
    cut_judged: u64,
    /// The term of the leader that judged the cut.
    cut_term: Option<u64>,
}

async fn run_backend(name: &'static str, dir: std::path::PathBuf) -> turmoil::Result {
    let _server = BackendServer::start_on(
        BackendConfig {
            listen: ([0, 0, 0, 0], PROBE_PORT).into(),
            data_dir: dir,
            info: BackendInfo {
                be_port: 9060,
                http_port: 8040,
                version: Some(format!("{name}-1")),
                be_start_time: Some(1_700_000_000_000),
                ..Default::default()
            },
            framed: false,
            limits: Limits::default(),
        },
        &net(),
    )
    .await?;
    // Serves until the simulation ends.
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

fn status_of(hosts: &[pb::HostView], name: &str) -> Option<pb::HostStatus> {
    hosts
        .iter()
        .find(|h| h.host == name)
        .and_then(|h| pb::HostStatus::try_from(h.status).ok())
}

/// Adds both backends in pull mode, retrying across leader changes.
async fn add_backends() -> Result<(), String> {
    let deadline = now() + Duration::from_secs(10);
    loop {
        for i in 0..METAS.len() {
            let Ok(mut a) = admin(i) else { continue };
            let add = tokio::time::timeout(
                RPC_TIMEOUT,
                a.add_hosts(pb::AddHostsRequest {
                    addresses: BACKENDS.iter().map(|b| format!("{b}:9060")).collect(),
                    role: pb::Role::Storage as i32,
                    mode: "pull".into(),
                    heartbeat_port: u32::from(PROBE_PORT),
                    heartbeat_framed: false,
                    ..Default::default()
                }),
            )
            .await;
            if let Ok(Ok(_)) = add {
                return Ok(());
            }
        }
        if now() > deadline {
            return Err("could not add the backends within 10 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Looks at the leader every 250 ms until the heal and judges the rows.
async fn watch(seen: &mut Seen) {
    while now() < HEAL_AT {
        let t = now();
        if let Some(look) = leader_hosts().await {
            if let Some(st) = status_of(&look.hosts, BACKENDS[0]) {
                seen.rows += 1;
                if st == pb::HostStatus::Offline {
                    seen.violations.push(format!(
                        "{t:?}: the never-cut {} is OFFLINE at meta{} (term {})",
                        BACKENDS[0],
                        look.meta + 1,
                        look.term
                    ));
                }
            }
            // The leader of the first look after the cut began is the one
            // the cut is judged at (no meta fault comes near the window).
            if t >= CUT_FROM {
                seen.cut_term.get_or_insert(look.term);
            }
            let judged_cut = t >= CUT_FROM + CUT_SHOWS_WITHIN
                && now() < CUT_UNTIL
                && seen.cut_term == Some(look.term);
            if judged_cut {
                seen.cut_judged += 1;
                let st = status_of(&look.hosts, BACKENDS[1]);
                if st != Some(pb::HostStatus::Offline) {
                    seen.violations.push(format!(
                        "{t:?}: {} cut since {CUT_FROM:?} shows {st:?} at meta{} (term {})",
                        BACKENDS[1],
                        look.meta + 1,
                        look.term
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// After the heal: both backends ONLINE and every meta server pinged
/// alive at the leader, within a threshold and a few intervals.
async fn healed() -> Result<(u64, u32, String), String> {
    let deadline = HEAL_AT + Duration::from_secs(10);
    let mut last = String::new();
    while now() < deadline {
        for i in 0..METAS.len() {
            let Ok(mut a) = admin(i) else { continue };
            let Ok(Ok(hosts)) =
                tokio::time::timeout(RPC_TIMEOUT, a.list_hosts(pb::ListHostsRequest::default()))
                    .await
            else {
                continue;
            };
            let hosts = hosts.into_inner().hosts;
            let online = BACKENDS
                .iter()
                .all(|b| status_of(&hosts, b) == Some(pb::HostStatus::Online));
            let metas: Vec<&pb::HostView> = hosts
                .iter()
                .filter(|h| h.role == pb::Role::Meta as i32)
                .collect();
            let pinged = metas.len() == METAS.len() && metas.iter().all(|m| m.ping_alive);
            last = format!(
                "meta{}: backends online {online}, meta rows pinged {:?}",
                i + 1,
                metas
                    .iter()
                    .map(|m| (m.host.clone(), m.ping_alive, m.last_error.clone()))
                    .collect::<Vec<_>>()
            );
            if online && pinged {
                let Ok(Ok(info)) = tokio::time::timeout(
                    RPC_TIMEOUT,
                    a.cluster_info(pb::ClusterInfoRequest { show_token: true }),
                )
                .await
                else {
                    continue;
                };
                let info = info.into_inner();
                return Ok((info.term, info.cluster_id, info.token));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("not healed by {deadline:?}: {last}"))
}

/// A master with an epoch below the leader's term probes backend1: it must
/// be refused.
async fn stale_master(term: u64, cluster_id: u32, token: String) -> Result<(), String> {
    let mut c = Client::connect_with(&dialer(), &format!("{}:{PROBE_PORT}", BACKENDS[0]), false)
        .await
        .map_err(|e| format!("connecting to {}: {e}", BACKENDS[0]))?;
    let r = c
        .heartbeat(&MasterInfo {
            network_address: NetworkAddress {
                hostname: "stale-master".into(),
                port: i32::from(THRIFT_PORT),
            },
            cluster_id: cluster_id as i32,
            epoch: term as i64 - 1,
            token: Some(token),
            backend_id: Some(1),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("the stale probe got no answer: {e}"))?;
    if r.status.status_code == rollcall_proto::thrift::status_code::OK {
        return Err(format!(
            "{} accepted a master at epoch {} after term {term}",
            BACKENDS[0],
            term - 1
        ));
    }
    Ok(())
}

async fn drive(out: std::sync::Arc<std::sync::Mutex<Seen>>) -> turmoil::Result {
    add_backends().await?;
    let mut seen = Seen::default();
    watch(&mut seen).await;
    let (term, cluster_id, token) = healed().await?;
    stale_master(term, cluster_id, token).await?;
    // The real leader's probes are still accepted afterwards.
    tokio::time::sleep(INTERVAL * 3).await;
    healed().await?;
    *out.lock().unwrap_or_else(|p| p.into_inner()) = seen;
    Ok(())
}

/// Runs one seed of the pull scenario.
fn run_pull_seed(seed: u64) -> Result<(), String> {
    rollcall_meta::raft::seed_election_timeouts(Some(seed));
    let result = run_pull_seeded(seed);
    rollcall_meta::raft::seed_election_timeouts(None);
    result
}

fn pull_meta_config(id: u64) -> MetaConfig {
    let mut c = meta_config(id);
    c.thrift_listen = Some(([0, 0, 0, 0], THRIFT_PORT).into());
    c.pull_failure_tolerance = TOLERANCE;
    c
}

fn run_pull_seeded(seed: u64) -> Result<(), String> {
    let shared: Shared = std::sync::Arc::default();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .tcp_capacity(1 << 16)
        .build();
    let mut rng = StdRng::seed_from_u64(seed);
    for (i, name) in METAS.iter().enumerate() {
        let store = RaftStore::memory().map_err(|e| e.to_string())?;
        let shared = shared.clone();
        let delay = Duration::from_millis(rng.random_range(0..400));
        sim.host(*name, move || {
            run_meta(
                pull_meta_config(i as u64 + 1),
                delay,
                store.clone(),
                shared.clone(),
            )
        });
    }
    for name in BACKENDS {
        let data = dir.path().join(name);
        sim.host(name, move || run_backend(name, data.clone()));
    }
    sim.client("driver", drive(seen.clone()));

    let mut crashed = [false; 3];
    let mut cut = false;
    let mut next_fault = FAULTS_FROM;
    let mut faults: Vec<String> = Vec::new();
    loop {
        let done = sim
            .step()
            .map_err(|e| format!("{e}\nfaults: {faults:#?}"))?;
        if done {
            break;
        }
        let t = sim.elapsed();
        if !cut && (CUT_FROM..CUT_UNTIL).contains(&t) {
            for m in METAS {
                sim.hold(BACKENDS[1], m);
            }
            cut = true;
            faults.push(format!("{t:?} cut {}", BACKENDS[1]));
        }
        if cut && t >= CUT_UNTIL {
            for m in METAS {
                sim.release(BACKENDS[1], m);
            }
            cut = false;
            faults.push(format!("{t:?} reconnect {}", BACKENDS[1]));
        }
        let quiet = t + QUIET >= CUT_FROM && t < CUT_UNTIL + QUIET;
        if t >= HEAL_AT {
            for i in 0..3 {
                if crashed[i] {
                    sim.bounce(METAS[i]);
                    crashed[i] = false;
                    faults.push(format!("{t:?} heal: restart meta{}", i + 1));
                }
            }
            continue;
        }
        if quiet || t < next_fault {
            continue;
        }
        next_fault = t + Duration::from_millis(rng.random_range(1000..3000));
        let down = crashed.iter().filter(|c| **c).count();
        let i = rng.random_range(0..3);
        if crashed[i] {
            sim.bounce(METAS[i]);
            crashed[i] = false;
            faults.push(format!("{t:?} restart meta{}", i + 1));
        } else if down == 0 {
            sim.crash(METAS[i]);
            crashed[i] = true;
            faults.push(format!("{t:?} crash meta{}", i + 1));
        }
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
    let mut broken = seen.violations;
    if seen.rows < MIN_ROWS {
        broken.push(format!(
            "only {} rows of {} were judged (at least {MIN_ROWS} must be)",
            seen.rows, BACKENDS[0]
        ));
    }
    if seen.cut_judged == 0 {
        broken.push(format!(
            "the cut of {} was never judged (leader at the cut: term {:?})",
            BACKENDS[1], seen.cut_term
        ));
    }
    let r = record(&shared);
    for (term, ids) in &r.leaders {
        if ids.len() > 1 {
            broken.push(format!("term {term} had leaders {ids:?}"));
        }
    }
    if std::env::var_os("ROLLCALL_SIM_VERBOSE").is_some() {
        eprintln!(
            "pull seed {seed}: {} rows judged, cut judged {} times in term {:?}; faults {faults:?}",
            seen.rows, seen.cut_judged, seen.cut_term
        );
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nfaults: {faults:#?}", broken.join("\n")))
    }
}

/// Pull seeds run in CI: `ROLLCALL_SIM_PULL_SEEDS=N` (default 20), or one
/// with `ROLLCALL_SIM_SEED`.
fn pull_seeds() -> Vec<u64> {
    if let Some(s) = std::env::var("ROLLCALL_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![s];
    }
    let n: u64 = std::env::var("ROLLCALL_SIM_PULL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    (0..n).collect()
}

#[test]
fn pull_mode_and_meta_pings_through_failovers_and_a_cut() {
    for seed in pull_seeds() {
        if let Err(e) = run_pull_seed(seed) {
            panic!(
                "pull simulation seed {seed} failed:\n{e}\nreplay with: ROLLCALL_SIM_SEED={seed} \
                 cargo test -p rollcall-agent --test simulation pull_mode"
            );
        }
    }
}
