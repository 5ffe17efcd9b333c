//! Deterministic simulation of the replicated meta service with turmoil:
//! three meta servers (real openraft, real gRPC and heartbeat streams,
//! in-memory redb that survives a crash like a disk does) and three
//! storage agents on a simulated network, driven through seeded random
//! crashes, restarts and partitions, then healed.
//!
//! Invariants checked for every seed:
//! - at most one leader per Raft term;
//! - no acknowledged `config set` is lost;
//! - after the network heals, every agent is ONLINE at the leader within
//!   one liveness threshold;
//! - an agent is never seen OFFLINE at a leader unless its link to that
//!   leader was really held (by the injector, as tracked link by link)
//!   at some moment within one threshold before the look, while that
//!   leader held its lease in that term. A partition need not be
//!   transitive: a leader can keep a majority of the meta group while no
//!   agent reaches it, and then OFFLINE is the truth there. A link held
//!   while the leader had lost its lease excuses nothing: liveness starts
//!   afresh when the lease comes back;
//! - every seed performs at least `MIN_CHECKS` of those row checks (a seed
//!   that looks at nothing cannot pass);
//! - the epochs an agent accepts never go backwards, and each is the term
//!   of a real leader.
//!
//! Pull mode and meta-to-meta pings have a scenario of their own
//! (`pull.rs`, with its invariants there).
//!
//! `ROLLCALL_SIM_SEEDS=N` sets how many seeds run (default 100, split over
//! four tests); `ROLLCALL_SIM_SEED=S` replays one seed. The seed fixes the
//! fault schedule, start delays, the network's latencies, every host's
//! tokio scheduler, the agents' jitter and openraft's election timeouts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rollcall_agent::{Agent, AgentConfig};
use rollcall_core::{HostAddr, Role};
use rollcall_meta::{Accept, AcceptFuture, MetaConfig, MetaServer, RaftStore, Transport};
use rollcall_proto as pb;
use rollcall_proto::transport::{BoxIo, Dialer, Net};

const METAS: [&str; 3] = ["meta1", "meta2", "meta3"];
const AGENTS: [&str; 3] = ["agent1", "agent2", "agent3"];
const META_PORT: u16 = 9000;
/// Faults happen from here...
const FAULTS_FROM: Duration = Duration::from_secs(3);
/// ...until here, when everything is healed.
const HEAL_AT: Duration = Duration::from_secs(25);
const INTERVAL: Duration = Duration::from_secs(1);
const EXPIRED_FACTOR: u32 = 5;
/// The liveness threshold (interval × factor).
const THRESHOLD: Duration = Duration::from_secs(5);
const RPC_TIMEOUT: Duration = Duration::from_secs(1);

mod look;
mod pull;
mod record;

use look::{admin, admins, leader_hosts, watch};
use record::{link, now, Link, Look, Record, MIN_CHECKS};

type Shared = Arc<Mutex<Record>>;

fn record(shared: &Shared) -> std::sync::MutexGuard<'_, Record> {
    match shared.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn dialer() -> Dialer {
    Dialer::new(|addr: String| async move { turmoil::net::TcpStream::connect(addr).await })
}

/// turmoil's network as a [`Net`]: dials and binds on the simulated hosts.
fn net() -> Net {
    Net::new(dialer(), |addr: std::net::SocketAddr| async move {
        let l = turmoil::net::TcpListener::bind(addr).await?;
        let at = l.local_addr()?;
        Ok((SimListener(l), at))
    })
}

/// A turmoil listener as a meta server's connection source.
struct SimListener(turmoil::net::TcpListener);

impl Accept for SimListener {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (sock, _) = self.0.accept().await?;
            Ok(Box::new(sock) as BoxIo)
        })
    }
}

fn meta_addr(name: &str) -> String {
    format!("{name}:{META_PORT}")
}

fn meta_config(id: u64) -> MetaConfig {
    let mut c = MetaConfig::new(([0, 0, 0, 0], META_PORT).into());
    c.node_id = id;
    c.peers = METAS
        .iter()
        .enumerate()
        .map(|(i, n)| (i as u64 + 1, meta_addr(n)))
        .collect();
    c.heartbeat_interval = INTERVAL;
    c.expired_factor = EXPIRED_FACTOR;
    // Small enough that followers coming back catch up by snapshot.
    c.snapshot_every = 40;
    c
}

/// One meta server host: starts over its store (kept across crashes, as
/// a disk is) and records each term it leads.
async fn run_meta(
    config: MetaConfig,
    delay: Duration,
    store: RaftStore,
    shared: Shared,
) -> turmoil::Result {
    let id = config.node_id;
    // Real servers never start in the same millisecond; starting together
    // would also align their Raft tick timers exactly.
    tokio::time::sleep(delay).await;
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", META_PORT)).await?;
    let local_addr = listener.local_addr()?;
    let transport = Transport {
        listener: Box::new(SimListener(listener)),
        local_addr,
        net: net(),
    };
    let server = MetaServer::start_on(config, store, transport).await?;
    let mut metrics = server.raft().metrics();
    let meta = id as usize - 1;
    loop {
        {
            let m = metrics.borrow_and_update();
            let mut r = record(&shared);
            if m.state == openraft::ServerState::Leader {
                r.leaders.entry(m.current_term).or_default().insert(id);
                r.first_leader_at.get_or_insert_with(now);
            }
            r.lease_poll(meta, m.current_term, server.holds_lease(), now());
        }
        // Every change of the metrics (a leadership too brief for a poll),
        // and every 10 ms (the lease lapses without one).
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    return Err("the Raft metrics channel closed".into());
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
    }
}

/// One storage agent host: heartbeats and records the epoch it holds.
async fn run_agent(
    name: &'static str,
    jitter_seed: u64,
    dir: std::path::PathBuf,
    shared: Shared,
) -> turmoil::Result {
    let mut config = AgentConfig::new(
        METAS.iter().map(|m| meta_addr(m)).collect(),
        Role::Storage,
        HostAddr::new(name, 7000)?,
        dir,
    );
    config.dialer = dialer();
    config.jitter_seed = Some(jitter_seed);
    let agent = Agent::start(config).await?;
    let mut last = 0;
    loop {
        let epoch = agent.status().epoch;
        if epoch != last {
            let mut r = record(&shared);
            if epoch < last {
                r.violations
                    .push(format!("{name}: epoch went back from {last} to {epoch}"));
            }
            r.epochs.entry(name.to_string()).or_default().push(epoch);
            last = epoch;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The client: writes configs while faults happen, watches the hosts
/// table, and after the heal checks liveness and every acknowledged write.
async fn drive(shared: Shared) -> turmoil::Result {
    // Watching runs beside the writes, so a slow look at a partitioned
    // server never holds the writes up.
    let watcher = tokio::spawn(watch(shared.clone()));
    let mut admins = admins()?;
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    let mut current = 0;
    let mut n = 0u64;
    while now() < HEAL_AT {
        n += 1;
        let (key, value) = (format!("sim.k{n}"), format!("v{n}"));
        let set = tokio::time::timeout(
            RPC_TIMEOUT,
            admins[current].set_config(pb::SetConfigRequest {
                key: key.clone(),
                value: value.clone(),
                role: pb::Role::Unspecified as i32,
            }),
        )
        .await;
        match set {
            Ok(Ok(_)) => {
                acked.insert(key, value);
            }
            _ => {
                // A connection may hang across a partition: start afresh,
                // as each CLI command does.
                admins[current] = admin(current)?;
                current = (current + 1) % admins.len();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watcher.await?;

    // Wait for the heal (the fault injector runs between simulation steps).
    let healed = loop {
        if let Some(t) = record(&shared).healed_at {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Every agent ONLINE within one threshold of the heal.
    let deadline = healed + THRESHOLD;
    let confirmed_term = loop {
        if let Some(Look { term, hosts, .. }) = leader_hosts().await {
            let online: BTreeSet<&str> = hosts
                .iter()
                .filter(|h| h.status == pb::HostStatus::Online as i32)
                .map(|h| h.host.as_str())
                .collect();
            if AGENTS.iter().all(|a| online.contains(a)) {
                break term;
            }
            if now() > deadline {
                return Err(format!(
                    "agents not all ONLINE {THRESHOLD:?} after the heal (term {term}): {:?}",
                    hosts
                        .iter()
                        .map(|h| format!("{}={:?}", h.host, pb::HostStatus::try_from(h.status)))
                        .collect::<Vec<_>>()
                )
                .into());
            }
        } else if now() > deadline {
            return Err(format!("no meta leader answered {THRESHOLD:?} after the heal").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // Every acknowledged write is there.
    let configs = loop {
        let mut got = None;
        for (i, a) in admins.iter_mut().enumerate() {
            if let Ok(fresh) = admin(i) {
                *a = fresh;
            }
            if let Ok(Ok(r)) =
                tokio::time::timeout(RPC_TIMEOUT, a.list_configs(pb::ListConfigsRequest {})).await
            {
                got = Some(r.into_inner().configs);
                break;
            }
        }
        if let Some(c) = got {
            break c;
        }
        if now() > deadline + THRESHOLD {
            return Err("no meta leader answered for the configs".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let have: BTreeMap<&str, &str> = configs
        .iter()
        .map(|c| (c.key.as_str(), c.value.as_str()))
        .collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, _)| k)
        .collect();
    if !lost.is_empty() {
        return Err(format!("{} acknowledged writes lost: {lost:?}", lost.len()).into());
    }
    if acked.is_empty() {
        return Err("no write was acknowledged in the whole run".into());
    }
    // Agents have heard from a leader at least as recent as the one that
    // confirmed them ONLINE.
    tokio::time::sleep(INTERVAL * 2).await;
    let r = &mut *record(&shared);
    for a in AGENTS {
        let last = r.epochs.get(a).and_then(|e| e.last()).copied().unwrap_or(0);
        if last < confirmed_term {
            r.violations.push(format!(
                "{a} holds epoch {last}, below the term {confirmed_term} of the leader that shows it ONLINE"
            ));
        }
    }
    Ok(())
}

/// A fault the injector can apply.
#[derive(Clone, Copy, Debug)]
enum Fault {
    CrashMeta(usize),
    RestartMeta(usize),
    IsolateMeta(usize),
    RejoinMeta(usize),
    CutAgent(usize),
    ReconnectAgent(usize),
}

fn others(name: &str) -> Vec<&'static str> {
    METAS
        .iter()
        .chain(AGENTS.iter())
        .chain(["driver"].iter())
        .copied()
        .filter(|n| *n != name)
        .collect()
}

/// Holds the link a–b in the simulated network and records it.
fn hold(sim: &mut turmoil::Sim<'_>, shared: &Shared, a: &'static str, b: &'static str) {
    sim.hold(a, b);
    record(shared).links.hold(link(a, b), sim.elapsed());
}

/// Releases the link a–b in the simulated network and records it.
fn release(sim: &mut turmoil::Sim<'_>, shared: &Shared, a: &'static str, b: &'static str) {
    sim.release(a, b);
    record(shared).links.release(link(a, b), sim.elapsed());
}

/// Runs one seed; `Err` describes the broken invariant.
fn run_seed(seed: u64) -> Result<(), String> {
    rollcall_meta::raft::seed_election_timeouts(Some(seed));
    let result = run_seeded(seed);
    rollcall_meta::raft::seed_election_timeouts(None);
    result
}

fn run_seeded(seed: u64) -> Result<(), String> {
    let shared: Shared = Arc::default();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        // Held connection attempts arrive together when a partition ends.
        .tcp_capacity(1 << 16)
        .build();

    let mut rng = StdRng::seed_from_u64(seed);
    for (i, name) in METAS.iter().enumerate() {
        let store = RaftStore::memory().map_err(|e| e.to_string())?;
        let shared = shared.clone();
        let delay = Duration::from_millis(rng.random_range(0..400));
        sim.host(*name, move || {
            run_meta(
                meta_config(i as u64 + 1),
                delay,
                store.clone(),
                shared.clone(),
            )
        });
    }
    for name in AGENTS {
        let shared = shared.clone();
        let data = dir.path().join(name);
        let jitter_seed = rng.random();
        sim.host(name, move || {
            run_agent(name, jitter_seed, data.clone(), shared.clone())
        });
    }
    sim.client("driver", drive(shared.clone()));

    let mut crashed = [false; 3];
    let mut isolated = [false; 3];
    let mut cut = [false; 3];
    let mut next_fault = FAULTS_FROM;
    let mut healed = false;
    loop {
        let done = match sim.step() {
            Ok(d) => d,
            Err(e) => {
                let r = record(&shared);
                return Err(format!(
                    "{e}\nleaders by term: {:?}\nagent epochs: {:?}\nfaults: {:#?}",
                    r.leaders, r.epochs, r.faults
                ));
            }
        };
        if done {
            break;
        }
        let now = sim.elapsed();
        if !healed && now >= HEAL_AT {
            for i in 0..3 {
                if crashed[i] {
                    sim.bounce(METAS[i]);
                }
            }
            let held: Vec<Link> = record(&shared).links.held.keys().copied().collect();
            for (a, b) in held {
                release(&mut sim, &shared, a, b);
            }
            healed = true;
            let mut r = record(&shared);
            r.faults.push(format!("{now:?} heal"));
            r.healed_at = Some(now);
            continue;
        }
        if healed || now < next_fault || std::env::var_os("ROLLCALL_SIM_NO_FAULTS").is_some() {
            continue;
        }
        next_fault = now + Duration::from_millis(rng.random_range(500..3000));
        let impaired = (0..3).filter(|&i| crashed[i] || isolated[i]).count();
        let mut choices = Vec::new();
        for i in 0..3 {
            if crashed[i] {
                choices.push(Fault::RestartMeta(i));
            } else if isolated[i] {
                choices.push(Fault::RejoinMeta(i));
            } else if impaired < 2 {
                choices.push(Fault::CrashMeta(i));
                choices.push(Fault::IsolateMeta(i));
            }
            choices.push(if cut[i] {
                Fault::ReconnectAgent(i)
            } else {
                Fault::CutAgent(i)
            });
        }
        let fault = choices[rng.random_range(0..choices.len())];
        match fault {
            Fault::CrashMeta(i) => {
                sim.crash(METAS[i]);
                crashed[i] = true;
                record(&shared).lease_lost(i, now);
            }
            Fault::RestartMeta(i) => {
                sim.bounce(METAS[i]);
                crashed[i] = false;
            }
            Fault::IsolateMeta(i) => {
                for o in others(METAS[i]) {
                    hold(&mut sim, &shared, METAS[i], o);
                }
                isolated[i] = true;
            }
            Fault::RejoinMeta(i) => {
                // Releases every link of meta i, including one to an agent
                // still cut: the link log records what is really held.
                for o in others(METAS[i]) {
                    release(&mut sim, &shared, METAS[i], o);
                }
                isolated[i] = false;
            }
            Fault::CutAgent(i) => {
                for m in METAS {
                    hold(&mut sim, &shared, AGENTS[i], m);
                }
                cut[i] = true;
            }
            Fault::ReconnectAgent(i) => {
                for m in METAS {
                    release(&mut sim, &shared, AGENTS[i], m);
                }
                cut[i] = false;
            }
        }
        record(&shared).faults.push(format!("{now:?} {fault:?}"));
    }

    let r = record(&shared);
    let mut broken = r.violations.clone();
    for (term, ids) in &r.leaders {
        if ids.len() > 1 {
            broken.push(format!("term {term} had leaders {ids:?}"));
        }
    }
    for (agent, epochs) in &r.epochs {
        for e in epochs {
            if *e != 0 && !r.leaders.contains_key(e) {
                broken.push(format!(
                    "{agent} accepted epoch {e}, a term without a leader"
                ));
            }
        }
    }
    if r.leaders.is_empty() {
        broken.push("no leader was ever elected".into());
    }
    if r.checks < MIN_CHECKS {
        broken.push(format!(
            "only {} agent rows were judged (at least {MIN_CHECKS} must be); {} were exempt, \
             {} looks too slow",
            r.checks, r.exempt, r.slow_looks
        ));
    }
    STATS.with_borrow_mut(|s| {
        s.seeds += 1;
        s.checks += r.checks;
        s.exempt += r.exempt;
        s.slow_looks += r.slow_looks;
        s.transitions += r.transitions;
        s.transitions_exempt += r.transitions_exempt;
        s.fewest = s.fewest.min(r.checks);
    });
    if std::env::var_os("ROLLCALL_SIM_VERBOSE").is_some() {
        eprintln!(
            "seed {seed}: {} rows judged, {} exempt, {} slow looks, {} OFFLINE transitions \
             ({} exempt); leaders by term {:?}; agent epochs {:?}; faults {:?}",
            r.checks,
            r.exempt,
            r.slow_looks,
            r.transitions,
            r.transitions_exempt,
            r.leaders,
            r.epochs,
            r.faults
        );
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nfaults: {:#?}", broken.join("\n"), r.faults))
    }
}

/// Totals over the seeds one test ran.
struct Stats {
    seeds: u64,
    checks: u64,
    exempt: u64,
    slow_looks: u64,
    transitions: u64,
    transitions_exempt: u64,
    fewest: u64,
}

thread_local! {
    static STATS: std::cell::RefCell<Stats> = const {
        std::cell::RefCell::new(Stats {
            seeds: 0,
            checks: 0,
            exempt: 0,
            slow_looks: 0,
            transitions: 0,
            transitions_exempt: 0,
            fewest: u64::MAX,
        })
    };
}

fn seeds(part: u64, parts: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("ROLLCALL_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return if part == 0 { vec![s] } else { vec![] };
    }
    let total: u64 = std::env::var("ROLLCALL_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    (0..total).filter(|s| s % parts == part).collect()
}

/// Three meta servers started in the same millisecond, so their openraft
/// ticks line up: openraft draws each election timeout once, and where
/// two land in one tick the servers split the vote in every term. The
/// meta server's split-vote breaker (`raft::elections`) must elect a
/// leader anyway, within its stall time plus an election.
fn elect_aligned(seed: u64) -> Result<Duration, String> {
    let shared: Shared = Arc::default();
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(20))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(20))
        .build();
    for (i, name) in METAS.iter().enumerate() {
        let store = RaftStore::memory().map_err(|e| e.to_string())?;
        let shared = shared.clone();
        sim.host(*name, move || {
            run_meta(
                meta_config(i as u64 + 1),
                Duration::ZERO,
                store.clone(),
                shared.clone(),
            )
        });
    }
    let watched = shared.clone();
    sim.client("driver", async move {
        while now() < Duration::from_secs(15) && record(&watched).first_leader_at.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    });
    sim.run().map_err(|e| e.to_string())?;
    let r = record(&shared);
    r.first_leader_at
        .ok_or_else(|| format!("no leader in 15 s; terms reached: {:?}", r.leaders.keys()))
}

#[test]
fn servers_started_together_elect_a_leader() {
    let mut slowest = Duration::ZERO;
    for seed in 0..20 {
        rollcall_meta::raft::seed_election_timeouts(Some(seed));
        let got = elect_aligned(seed);
        rollcall_meta::raft::seed_election_timeouts(None);
        match got {
            Ok(t) => slowest = slowest.max(t),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    eprintln!("servers started together: slowest first election {slowest:?} over 20 seeds");
}

fn run_part(part: u64) {
    if let Ok(filter) = std::env::var("ROLLCALL_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .with_thread_names(true)
            .with_ansi(false)
            .try_init();
    }
    for seed in seeds(part, 4) {
        tracing::info!(seed, "simulation seed starts");
        if let Err(e) = run_seed(seed) {
            panic!(
                "simulation seed {seed} failed:\n{e}\nreplay with: \
                 ROLLCALL_SIM_SEED={seed} cargo test -p rollcall-agent --test simulation"
            );
        }
    }
    STATS.with_borrow(|s| {
        if s.seeds > 0 {
            eprintln!(
                "simulation part {part}: {} seeds, {} agent rows judged (fewest in one seed {}), \
                 {} exempt, {} looks too slow to judge; {} OFFLINE transitions of agents seen, \
                 {} of them exempt",
                s.seeds,
                s.checks,
                s.fewest,
                s.exempt,
                s.slow_looks,
                s.transitions,
                s.transitions_exempt
            );
        }
    });
}

#[test]
fn seeds_part_0() {
    run_part(0);
}

#[test]
fn seeds_part_1() {
    run_part(1);
}

#[test]
fn seeds_part_2() {
    run_part(2);
}

#[test]
fn seeds_part_3() {
    run_part(3);
}
