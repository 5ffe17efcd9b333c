//! `rollcall bench --failover`: real agents heartbeat a group of meta
//! servers; the leader is killed with SIGKILL, and the time until every
//! host's heartbeat is accepted again is taken, round after round.

use std::time::{Duration, Instant};

use rollcall_agent::{Agent, AgentConfig};
use rollcall_core::{HostAddr, Role};
use serde_json::json;

use super::group::MetaGroup;
use super::report::bar;
use crate::args::BenchArgs;
use crate::error::CliError;
use crate::out::outln;

/// Sleeps until `t` (at once if it has passed).
async fn wait_until(t: Instant) {
    tokio::time::sleep_until(t.into()).await;
}

/// `--failover`: kill the leader under real agents, time the recovery,
/// and count the hosts each leader judged OFFLINE (all false: every agent
/// keeps running).
pub async fn run(args: &BenchArgs) -> Result<(), CliError> {
    let servers = args.meta_servers.max(3);
    let mut group = MetaGroup::start(servers, args.interval).await?;
    let dir = tempfile::tempdir().map_err(|source| CliError::Io {
        what: "creating a temporary directory".into(),
        source,
    })?;
    let pb_bar = bar(args.hosts as u64, "agents", args.json);
    let mut agents = Vec::with_capacity(args.hosts);
    for i in 0..args.hosts {
        let advertise = HostAddr::new("127.0.0.1", 1024 + i as u32)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let mut c = AgentConfig::new(
            group.addrs.clone(),
            Role::Storage,
            advertise,
            dir.path().join(i.to_string()),
        );
        c.initial_interval = args.interval;
        agents.push(Agent::start(c).await?);
    }
    for a in &agents {
        a.ready().await?;
        pb_bar.inc(1);
    }
    pb_bar.finish_and_clear();

    let mut times = Vec::new();
    // Term → hosts its leader judged OFFLINE (no host ever stops here, so
    // every one is false). Each leader is read after it has been in office
    // long enough to judge everyone, and again just before it is killed.
    let mut offline_by_term = std::collections::BTreeMap::new();
    let mut in_office = Instant::now();
    for round in 0..args.rounds.max(1) {
        let leader = group.leader(Duration::from_secs(30)).await?;
        wait_until(in_office + group.judging_time()).await;
        group.tally_offline(&mut offline_by_term).await?;
        let dead = group.addrs[leader].clone();
        let before: Vec<u64> = agents.iter().map(|a| a.status().accepted).collect();
        let t0 = Instant::now();
        group.kill(leader);
        loop {
            let done = agents.iter().zip(&before).all(|(a, b)| {
                let s = a.status();
                s.accepted > *b && s.meta != dead
            });
            if done {
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                return Err(CliError::Timeout(
                    "every host to be accepted by a new leader".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = t0.elapsed();
        times.push(took);
        // The new leader took office before every agent was accepted by
        // it: counting its time in office from now is on the safe side.
        in_office = Instant::now();
        if !args.json {
            outln!(
                "round {}: every host accepted again {:.0} ms after the leader was killed",
                round + 1,
                took.as_secs_f64() * 1000.0
            )?;
        }
        group.restart(leader).await?;
        // Let the restarted server rejoin and catch up before the next round.
        let new_leader = group.leader(Duration::from_secs(30)).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let leader_info = crate::client::cluster_info(&group.addrs[new_leader]).await;
            let rejoined = crate::client::cluster_info(&group.addrs[leader]).await;
            if let (Ok(l), Ok(r)) = (leader_info, rejoined) {
                if !r.leader.is_empty() && r.applied_index >= l.applied_index {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(CliError::Timeout("the killed server to catch up".into()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The last leader judges too.
    wait_until(in_office + group.judging_time()).await;
    group.tally_offline(&mut offline_by_term).await?;
    let false_offline: u64 = offline_by_term.values().sum();
    let mut sorted = times.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    let report = json!({
        "mode": "failover",
        "meta_servers": servers,
        "hosts": args.hosts,
        "interval_ms": args.interval.as_millis() as u64,
        "rounds_ms": times.iter().map(|t| t.as_millis() as u64).collect::<Vec<_>>(),
        "median_ms": median.as_millis() as u64,
        "max_ms": max.as_millis() as u64,
        "false_offline_events": false_offline,
        "terms_judged": offline_by_term.len(),
    });
    if args.json {
        outln!("{}", crate::render::pretty(&report))?;
    } else {
        outln!(
            "failover with {} hosts at {}ms on {servers} meta servers: median {} ms, max {} ms, \
             {false_offline} false OFFLINE over {} leader terms",
            args.hosts,
            args.interval.as_millis(),
            median.as_millis(),
            max.as_millis(),
            offline_by_term.len()
        )?;
    }
    drop(agents);
    Ok(())
}
