//! How hosts, configs, events and cluster facts are shown: tables for
//! people, JSON with stable keys for scripts.

use std::collections::BTreeMap;

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use rollcall_proto as pb;
use serde_json::{json, Value};

/// RFC 3339 UTC for ms since the epoch; `None` for 0 (never).
pub fn rfc3339(ms: i64) -> Option<String> {
    if ms <= 0 {
        return None;
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    Some(humantime::format_rfc3339_seconds(t).to_string())
}

/// Pretty JSON text of a value (a `Value` always serialises).
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A config's scope: `all`, or the role it is set for.
fn config_scope(role: i32) -> &'static str {
    if role == 0 {
        "all"
    } else {
        role_name(role)
    }
}

/// `storage`, `graph`, `meta` (or `unknown`).
pub fn role_name(r: i32) -> &'static str {
    match pb::Role::try_from(r) {
        Ok(pb::Role::Storage) => "storage",
        Ok(pb::Role::Graph) => "graph",
        Ok(pb::Role::Meta) => "meta",
        _ => "unknown",
    }
}

/// `ONLINE`, `OFFLINE`, `UNKNOWN`.
pub fn status_name(s: i32) -> &'static str {
    match pb::HostStatus::try_from(s) {
        Ok(pb::HostStatus::Online) => "ONLINE",
        Ok(pb::HostStatus::Offline) => "OFFLINE",
        _ => "UNKNOWN",
    }
}

fn distribution(m: &std::collections::HashMap<String, u32>) -> String {
    let sorted: BTreeMap<_, _> = m.iter().collect();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A host's version for the table: `unknown` when none was observed (a
/// meta peer that has not answered a ping, a host that reported none).
fn version_text(v: &str) -> &str {
    if v.is_empty() {
        "unknown"
    } else {
        v
    }
}

/// The SHOW HOSTS-style table, fitted to the terminal it is printed to
/// (cells wrap; off a terminal nothing wraps). A column with no value in
/// any row (no leaders yet, no groups, no errors) is left out unless
/// `wide`.
pub fn hosts_table(hosts: &[pb::HostView], wide: bool) -> String {
    let mut total_leaders = 0u64;
    let mut total_leader_dist: BTreeMap<String, u64> = BTreeMap::new();
    let mut total_part_dist: BTreeMap<String, u64> = BTreeMap::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for h in hosts {
        total_leaders += h.leader_count as u64;
        for (k, v) in &h.leader_distribution {
            *total_leader_dist.entry(k.clone()).or_default() += *v as u64;
        }
        for (k, v) in &h.partition_distribution {
            *total_part_dist.entry(k.clone()).or_default() += *v as u64;
        }
        let has_parts = !h.leader_distribution.is_empty() || !h.partition_distribution.is_empty();
        rows.push(vec![
            h.host.clone(),
            h.port.to_string(),
            role_name(h.role).to_string(),
            status_name(h.status).to_string(),
            if h.node_id == 0 {
                String::new()
            } else {
                h.node_id.to_string()
            },
            h.zone.clone(),
            version_text(&h.version).to_string(),
            rfc3339(h.start_time_ms).unwrap_or_default(),
            rfc3339(h.last_heartbeat_ms).unwrap_or_default(),
            if has_parts {
                h.leader_count.to_string()
            } else {
                String::new()
            },
            distribution(&h.leader_distribution),
            distribution(&h.partition_distribution),
            h.metadata_version.to_string(),
            if h.group.is_empty() {
                String::new()
            } else {
                format!("{}/{}", h.group, h.shard)
            },
            h.last_error.clone(),
        ]);
    }
    if !total_part_dist.is_empty() {
        let join = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut row = vec![String::from("Total")];
        row.extend(std::iter::repeat_n(String::new(), 8));
        row.push(total_leaders.to_string());
        row.push(join(&total_leader_dist));
        row.push(join(&total_part_dist));
        row.extend(std::iter::repeat_n(String::new(), 3));
        rows.push(row);
    }
    let header = [
        "Host",
        "Port",
        "Role",
        "Status",
        "Node id",
        "Zone",
        "Version",
        "Start time",
        "Last heartbeat",
        "Leader count",
        "Leader distribution",
        "Partition distribution",
        "Metadata version",
        "Group/shard",
        "Error",
    ];
    // Host, port, role and status always show; the rest when some row
    // has a value (or `wide`).
    let keep: Vec<usize> = (0..header.len())
        .filter(|&c| wide || c < 4 || rows.iter().any(|r| !r[c].is_empty()))
        .collect();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(keep.iter().map(|&c| header[c]).collect::<Vec<_>>());
    for r in rows {
        t.add_row(keep.iter().map(|&c| r[c].clone()).collect::<Vec<_>>());
    }
    t.to_string()
}

/// One host as a JSON object with the stable keys (meta rows add
/// `raft_role`, `applied_index`, `lag` and `last_contact_ms`); `version`
/// is null when none was observed.
pub fn host_json(h: &pb::HostView) -> Value {
    let dist = |m: &std::collections::HashMap<String, u32>| -> Value {
        let sorted: BTreeMap<_, _> = m.iter().collect();
        json!(sorted)
    };
    let mut v = json!({
        "host": h.host,
        "port": h.port,
        "role": role_name(h.role),
        "status": status_name(h.status),
        "node_id": h.node_id,
        "zone": h.zone,
        "version": if h.version.is_empty() { Value::Null } else { json!(h.version) },
        "start_time": rfc3339(h.start_time_ms),
        "last_heartbeat": rfc3339(h.last_heartbeat_ms),
        "leader_count": h.leader_count,
        "leader_distribution": dist(&h.leader_distribution),
        "partition_distribution": dist(&h.partition_distribution),
        "metadata_version": h.metadata_version,
        "heartbeats": h.heartbeats,
        "admission": h.admission,
        "ports": dist(&h.ports),
    });
    if h.role != pb::Role::Meta as i32 {
        v["mode"] = json!(h.mode);
        v["credential"] = json!(h.credential);
        v["heartbeat_port"] = if h.heartbeat_port == 0 {
            Value::Null
        } else {
            json!(h.heartbeat_port)
        };
        v["heartbeat_framed"] = json!(h.heartbeat_framed);
        let grouped = !h.group.is_empty();
        v["group"] = if grouped { json!(h.group) } else { Value::Null };
        v["shard"] = if grouped { json!(h.shard) } else { Value::Null };
        v["last_error"] = if h.last_error.is_empty() {
            Value::Null
        } else {
            json!(h.last_error)
        };
    }
    if h.role == pb::Role::Meta as i32 {
        v["raft_role"] = json!(h.raft_role);
        v["applied_index"] = json!(h.applied_index);
        v["lag"] = json!(h.lag);
        v["last_contact_ms"] = if h.last_contact_ms < 0 {
            Value::Null
        } else {
            json!(h.last_contact_ms)
        };
        v["ping"] = json!({
            "alive": h.ping_alive,
            "replayed_journal_id": h.replayed_journal_id,
            "error": if h.last_error.is_empty() { Value::Null } else { json!(h.last_error) },
        });
    }
    v
}

/// The hosts as a JSON array.
pub fn hosts_json(hosts: &[pb::HostView]) -> String {
    let arr: Vec<Value> = hosts.iter().map(host_json).collect();
    pretty(&Value::from(arr))
}

/// Configs as a table or JSON.
pub fn configs(configs: &[pb::ConfigEntry], json: bool) -> String {
    if json {
        let arr: Vec<Value> = configs
            .iter()
            .map(|c| {
                json!({
                    "key": c.key,
                    "value": c.value,
                    "role": config_scope(c.role),
                    "version": c.version,
                })
            })
            .collect();
        return pretty(&Value::from(arr));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["Key", "Role", "Value", "Version"]);
    for c in configs {
        t.add_row(vec![
            c.key.clone(),
            config_scope(c.role).to_string(),
            c.value.clone(),
            c.version.to_string(),
        ]);
    }
    t.to_string()
}

/// One event as JSON (`events --json` prints one a line; `/api/v1/events`
/// and its stream send the same objects).
pub fn event_json(e: &pb::Event) -> Value {
    json!({
        "seq": e.seq,
        "time": rfc3339(e.time_ms).unwrap_or_default(),
        "kind": e.kind,
        "host": e.host,
        "port": e.port,
        "node_id": e.node_id,
        "role": if e.role == 0 { Value::Null } else { json!(role_name(e.role)) },
        "detail": e.detail,
    })
}

/// One event as a line of text or JSON.
pub fn event_line(e: &pb::Event, json: bool) -> String {
    if json {
        return event_json(e).to_string();
    }
    let time = rfc3339(e.time_ms).unwrap_or_default();
    let role = if e.role == 0 { "-" } else { role_name(e.role) };
    format!(
        "{time}  {:<10} {}:{} node={} role={} {}",
        e.kind, e.host, e.port, e.node_id, role, e.detail
    )
}

/// `rollcall cluster --json`.
pub fn cluster_json(c: &pb::ClusterInfoResponse, show_token: bool) -> String {
    let members: Vec<Value> = c
        .members
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "address": m.address,
                "role": m.role,
                "status": status_name(m.status),
                "applied_index": m.applied_index,
                "lag": m.lag,
                "last_contact_ms": if m.last_contact_ms < 0 { Value::Null } else { json!(m.last_contact_ms) },
                "http": if m.http_addr.is_empty() { Value::Null } else { json!(m.http_addr) },
            })
        })
        .collect();
    let mut v = json!({
        "cluster_id": c.cluster_id,
        "metadata_version": c.metadata_version,
        "leader": c.leader,
        "term": c.term,
        "members": members,
        "applied_index": c.applied_index,
        "snapshot_index": c.snapshot_index,
        "purged_index": c.purged_index,
        "store_writes": c.store_writes,
        "heartbeat_interval_ms": c.heartbeat_interval_ms,
        "detector": c.detector,
        "admission": c.admission,
        "thrift_port": if c.thrift_port == 0 { Value::Null } else { json!(c.thrift_port) },
        "http": if c.http_addr.is_empty() { Value::Null } else { json!(c.http_addr) },
        "led_term": if c.led_term == 0 { Value::Null } else { json!(c.led_term) },
        "offline_in_led_term": c.offline_in_led_term,
    });
    if let Some(p) = probe_summary(c) {
        v["probes"] = json!({
            "ok": p.ok,
            "failed": p.failed,
            "rounds": p.rounds,
            "latency_ms": {
                "p50": ms_at(&p.latency_us, 0.5),
                "p99": ms_at(&p.latency_us, 0.99),
                "max": ms_at(&p.latency_us, 1.0),
            },
            "round_max_ms": p.round_ms.quantile(1.0),
        });
    }
    if show_token {
        v["token"] = json!(c.token);
    }
    pretty(&v)
}

/// The answering server's pull-mode probe counters (since it started),
/// when it has probed at all.
fn probe_summary(c: &pb::ClusterInfoResponse) -> Option<rollcall_meta::ProbeStats> {
    rollcall_meta::ProbeStats::from_pb(c.probes.as_ref()?).filter(|p| p.ok + p.failed > 0)
}

/// A histogram of microseconds at quantile `q`, in ms.
fn ms_at(us: &rollcall_core::Histogram, q: f64) -> f64 {
    us.quantile(q) as f64 / 1000.0
}

/// `rollcall cluster`.
pub fn cluster_text(c: &pb::ClusterInfoResponse) -> String {
    let members: Vec<String> = c
        .members
        .iter()
        .map(|m| match m.http_addr.as_str() {
            "" => format!("{}={} ({})", m.id, m.address, m.role),
            http => format!("{}={} ({}, http {http})", m.id, m.address, m.role),
        })
        .collect();
    let mut out = format!(
        "cluster id:         {}\nmetadata version:   {}\nleader:             {}\nterm:               {}\nmembers:            {}\napplied index:      {}\nheartbeat interval: {}ms\ndetector:           {}\nadmission:          {}",
        c.cluster_id,
        c.metadata_version,
        c.leader,
        c.term,
        members.join(", "),
        c.applied_index,
        c.heartbeat_interval_ms,
        c.detector,
        c.admission
    );
    if !c.http_addr.is_empty() {
        out.push_str(&format!(
            "\nhttp:               {} (this server: dashboard at /, /metrics, /api/v1/; HTTPS with TLS)",
            c.http_addr
        ));
    }
    if c.thrift_port != 0 {
        out.push_str(&format!("\nthrift port:        {}", c.thrift_port));
    }
    if c.led_term > 0 {
        out.push_str(&format!(
            "\nOFFLINE judged:     {} since this server took office in term {}",
            c.offline_in_led_term, c.led_term
        ));
    }
    if let Some(p) = probe_summary(c) {
        out.push_str(&format!(
            "\npull probes:        {} ok, {} failed in {} rounds; latency ms p50 {:.3} p99 {:.3} max {:.3}; longest round {}ms (this server, since it started)",
            p.ok,
            p.failed,
            p.rounds,
            ms_at(&p.latency_us, 0.5),
            ms_at(&p.latency_us, 0.99),
            ms_at(&p.latency_us, 1.0),
            p.round_ms.quantile(1.0)
        ));
    }
    out
}

/// Spaces as a table or JSON.
pub fn spaces(spaces: &[pb::SpaceView], json: bool) -> String {
    if json {
        let arr: Vec<Value> = spaces
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "name": s.name,
                    "partitions": s.partitions,
                    "replicas": s.replicas,
                    "zones": s.zones,
                    "group": if s.group.is_empty() { Value::Null } else { json!(s.group) },
                })
            })
            .collect();
        return pretty(&Value::from(arr));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Id",
        "Name",
        "Partitions",
        "Replicas",
        "Zones",
        "Group",
    ]);
    for s in spaces {
        t.add_row(vec![
            s.id.to_string(),
            s.name.clone(),
            s.partitions.to_string(),
            s.replicas.to_string(),
            s.zones.join(","),
            s.group.clone(),
        ]);
    }
    t.to_string()
}

/// Partitions as a table or JSON (keys `part`, `replicas`, `leader`).
pub fn parts(parts: &[pb::PartView], json: bool) -> String {
    if json {
        let arr: Vec<Value> = parts
            .iter()
            .map(|p| {
                json!({
                    "part": p.part,
                    "replicas": p.replicas.iter().map(|r| r.address.clone()).collect::<Vec<_>>(),
                    "leader": if p.leader.is_empty() { Value::Null } else { json!(p.leader) },
                    "term": p.term,
                    "replica_status": p
                        .replicas
                        .iter()
                        .map(|r| json!({"address": r.address, "node_id": r.node_id, "status": status_name(r.status)}))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        return pretty(&Value::from(arr));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(vec!["Part", "Leader", "Replicas (status)"]);
    for p in parts {
        t.add_row(vec![
            p.part.to_string(),
            p.leader.clone(),
            p.replicas
                .iter()
                .map(|r| format!("{} ({})", r.address, status_name(r.status)))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    t.to_string()
}

/// Jobs as a table or JSON (keys `id`, `kind`, `status`, `progress`
/// {`done`, `total`}, `started`, `finished`, `error`).
pub fn jobs(jobs: &[pb::JobView], json: bool) -> String {
    let time = |ms: i64| if ms == 0 { None } else { rfc3339(ms) };
    if json {
        let arr: Vec<Value> = jobs
            .iter()
            .map(|j| {
                json!({
                    "id": j.id,
                    "kind": j.kind,
                    "target": if j.target.is_empty() { Value::Null } else { json!(j.target) },
                    "status": j.status,
                    "progress": {"done": j.done, "total": j.total},
                    "started": time(j.started_ms),
                    "finished": time(j.finished_ms),
                    "error": if j.error.is_empty() { Value::Null } else { json!(j.error) },
                    "stranded": j.stranded,
                    "moves": j.moves.iter().map(|m| json!({
                        "space": m.space, "part": m.part, "from": m.from, "to": m.to, "phase": m.phase,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        return pretty(&Value::from(arr));
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Id", "Kind", "Status", "Progress", "Started", "Finished", "Error",
    ]);
    for j in jobs {
        let kind = if j.target.is_empty() {
            j.kind.clone()
        } else {
            format!("{} {}", j.kind, j.target)
        };
        t.add_row(vec![
            j.id.to_string(),
            kind,
            j.status.clone(),
            format!("{}/{}", j.done, j.total),
            time(j.started_ms).unwrap_or_default(),
            time(j.finished_ms).unwrap_or_default(),
            j.error.clone(),
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_row(version: &str) -> pb::HostView {
        pb::HostView {
            host: "127.0.0.1".into(),
            port: 9559,
            role: pb::Role::Meta as i32,
            version: version.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_version_never_observed_shows_as_unknown_and_null() {
        assert_eq!(host_json(&meta_row(""))["version"], Value::Null);
        assert!(hosts_table(&[meta_row("")], false).contains("unknown"));
        assert_eq!(host_json(&meta_row("9.8.7"))["version"], "9.8.7");
        let t = hosts_table(&[meta_row("9.8.7")], false);
        assert!(t.contains("9.8.7") && !t.contains("unknown"), "{t}");
    }

    #[test]
    fn columns_without_a_value_show_only_when_wide() {
        let t = hosts_table(&[meta_row("9.8.7")], false);
        let header = t.lines().nth(1).unwrap_or_default();
        for shown in [
            "Host",
            "Port",
            "Role",
            "Status",
            "Version",
            "Metadata version",
        ] {
            assert!(header.contains(shown), "{shown} in {t}");
        }
        for hidden in [
            "Zone",
            "Leader count",
            "Partition distribution",
            "Group/shard",
            "Error",
        ] {
            assert!(!header.contains(hidden), "{hidden} not in {t}");
        }
        let wide = hosts_table(&[meta_row("9.8.7")], true);
        for all in ["Zone", "Leader count", "Group/shard", "Error"] {
            assert!(wide.contains(all), "{all} in {wide}");
        }
        let mut grouped = meta_row("1");
        grouped.group = "t/c".into();
        grouped.shard = 2;
        assert!(hosts_table(&[grouped], false).contains("t/c/2"));
    }
}
