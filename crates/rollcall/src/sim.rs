//! A simulated storage or graph server built on the agent, used by
//! `rollcall node` and the demo. It listens on its address from the start
//! but refuses to serve (one line saying why, then close) until the agent
//! is ready; then each connection gets one status line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rollcall_agent::{Agent, AgentConfig, PartitionHandler};
use rollcall_core::{HostAddr, MetadataChange, PartLeader, Role};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::CliError;

/// The file holding a running node's bound address.
pub const ADDR_FILE: &str = "node.addr";

/// How to start a simulated server.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Meta addresses.
    pub meta: Vec<String>,
    /// Role.
    pub role: Role,
    /// Listen (and advertised) address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Zone.
    pub zone: String,
    /// Labels.
    pub labels: Vec<(String, String)>,
    /// Version reported.
    pub version: String,
    /// A join token (`--admission token`).
    pub join_token: Option<String>,
    /// How the agent dials the meta servers (TCP, or TLS over it).
    pub dialer: rollcall_proto::transport::Dialer,
}

/// Binds a simulated server's main port and writes the bound address to
/// `DATA_DIR/node.addr` (the data directory is created if missing).
pub async fn bind_main(
    listen: SocketAddr,
    data_dir: &std::path::Path,
) -> Result<(TcpListener, SocketAddr), CliError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| CliError::Io {
            what: format!("listening on {listen}"),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| CliError::Io {
        what: "reading the bound address".into(),
        source,
    })?;
    std::fs::create_dir_all(data_dir).map_err(|source| CliError::Io {
        what: format!("creating {}", data_dir.display()),
        source,
    })?;
    let addr_file = data_dir.join(ADDR_FILE);
    std::fs::write(&addr_file, format!("{addr}\n")).map_err(|source| CliError::Io {
        what: format!("writing {}", addr_file.display()),
        source,
    })?;
    Ok((listener, addr))
}

/// The partitions a simulated storage server leads. By default, of each
/// partition's replicas the one at position `(part - 1) % replicas` leads,
/// in term 1; commands from the meta leader (`transfer_leader`,
/// `become_leader`) override that. Reported in every heartbeat.
#[derive(Default)]
struct SimLeaders(std::sync::Mutex<LeaderState>);

#[derive(Default)]
struct LeaderState {
    default: Vec<PartLeader>,
    /// (space, part) → Some(term): leads; None: does not.
    overrides: std::collections::BTreeMap<(String, u32), Option<u64>>,
}

impl SimLeaders {
    fn update(&self, snapshot: &rollcall_core::MetadataSnapshot, me: u64) {
        let mut out = Vec::new();
        for s in snapshot.spaces().values() {
            for (i, reps) in s.partitions.iter().enumerate() {
                if !reps.is_empty() && reps[i % reps.len()] == me {
                    out.push(PartLeader {
                        space: s.name.clone(),
                        part: i as u32 + 1,
                        term: 1,
                    });
                }
            }
        }
        if let Ok(mut g) = self.0.lock() {
            g.default = out;
            g.overrides
                .retain(|(space, _), _| snapshot.spaces().contains_key(space));
        }
    }
}

impl PartitionHandler for SimLeaders {
    fn leaders(&self) -> Vec<PartLeader> {
        let Ok(g) = self.0.lock() else {
            return Vec::new();
        };
        let mut out: Vec<PartLeader> = g
            .default
            .iter()
            .filter(|l| !g.overrides.contains_key(&(l.space.clone(), l.part)))
            .cloned()
            .collect();
        for ((space, part), term) in &g.overrides {
            if let Some(term) = term {
                out.push(PartLeader {
                    space: space.clone(),
                    part: *part,
                    term: *term,
                });
            }
        }
        out
    }

    fn on_command(&self, kind: &str, args: &std::collections::HashMap<String, String>) {
        let space = args.get("space").cloned().unwrap_or_default();
        let Some(part) = args.get("part").and_then(|p| p.parse::<u32>().ok()) else {
            tracing::warn!(kind, "command without a partition number");
            return;
        };
        let Ok(mut g) = self.0.lock() else { return };
        match kind {
            "transfer_leader" => {
                tracing::info!(space = %space, part, "handing leadership over");
                g.overrides.insert((space, part), None);
            }
            "become_leader" => {
                let term = args.get("term").and_then(|t| t.parse().ok()).unwrap_or(1);
                tracing::info!(space = %space, part, term, "taking leadership");
                g.overrides.insert((space, part), Some(term));
            }
            other => tracing::warn!(kind = other, "unknown command ignored"),
        }
    }
}

/// A running simulated server.
pub struct SimNode {
    /// The bound address.
    pub addr: SocketAddr,
    /// Its agent.
    pub agent: Arc<Agent>,
    /// When this server started, ms since the Unix epoch (as its agent
    /// reports it).
    pub start_time_ms: i64,
    tasks: Vec<JoinHandle<()>>,
}

impl SimNode {
    /// When the agent says this server started (ms since the Unix epoch).
    pub fn agent_start_time_ms(&self) -> i64 {
        self.start_time_ms
    }

    /// Binds the address, starts the agent and the acceptor.
    pub async fn start(opts: SimOptions) -> Result<SimNode, CliError> {
        let (listener, addr) = bind_main(opts.listen, &opts.data_dir).await?;
        let advertise = HostAddr::new(&addr.ip().to_string(), addr.port() as u32)
            .map_err(|e| CliError::Usage(format!("listen address {addr}: {e}")))?;
        let mut config = AgentConfig::new(opts.meta.clone(), opts.role, advertise, opts.data_dir);
        config.zone = opts.zone;
        config.labels = opts.labels.into_iter().collect();
        config.version = opts.version;
        config.join_token = opts.join_token;
        config.dialer = opts.dialer;
        let leading = Arc::new(SimLeaders::default());
        config.handler = leading.clone();
        let start_time_ms = config.start_time_ms;
        let agent = Arc::new(Agent::start(config).await?);
        let ready = Arc::new(AtomicBool::new(false));

        let mut tasks = Vec::new();
        {
            let agent = agent.clone();
            let ready = ready.clone();
            tasks.push(tokio::spawn(async move {
                if agent.ready().await.is_ok() {
                    ready.store(true, Ordering::SeqCst);
                }
            }));
        }
        {
            let agent = agent.clone();
            let role = opts.role;
            let meta = opts.meta.join(",");
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((mut sock, _)) = listener.accept().await else {
                        continue;
                    };
                    let line = if ready.load(Ordering::SeqCst) {
                        format!(
                            "OK rollcall {role} server, node {}, cluster {}, metadata version {}\n",
                            agent.node_id(),
                            agent.cluster_id(),
                            agent.metadata().version()
                        )
                    } else {
                        format!(
                            "ERROR not serving yet: waiting for the meta service at {meta} \
                             to accept this server's first heartbeat\n"
                        )
                    };
                    tokio::spawn(async move {
                        let _ = sock.write_all(line.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    });
                }
            }));
        }
        {
            let mut updates = agent.subscribe();
            let agent_node = agent.clone();
            let leading = leading.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok(u) = updates.recv().await {
                    leading.update(&u.snapshot, agent_node.node_id());
                    for c in &u.changes {
                        match c {
                            MetadataChange::ConfigSet { key, old, new } => tracing::info!(
                                version = u.snapshot.version(),
                                key = %key.key,
                                role = key.role.map_or("all", |r| r.as_str()),
                                old = old.as_deref().unwrap_or("-"),
                                new = %new,
                                "metadata changed: config set"
                            ),
                            MetadataChange::ConfigRemoved { key } => tracing::info!(
                                version = u.snapshot.version(),
                                key = %key.key,
                                "metadata changed: config removed"
                            ),
                            MetadataChange::SpaceCreated { name } => {
                                let mine: Vec<String> = u
                                    .snapshot
                                    .partitions_of(agent_node.node_id())
                                    .into_iter()
                                    .filter(|(s, _)| s == name)
                                    .map(|(_, p)| p.to_string())
                                    .collect();
                                tracing::info!(
                                    version = u.snapshot.version(),
                                    space = %name,
                                    partitions = %mine.join(","),
                                    "metadata changed: space created; serving its partitions"
                                )
                            }
                            MetadataChange::SpaceDropped { name } => tracing::info!(
                                version = u.snapshot.version(),
                                space = %name,
                                "metadata changed: space dropped"
                            ),
                            MetadataChange::SchemaChanged { kind, key, version } => {
                                tracing::info!(
                                    version = u.snapshot.version(),
                                    space = %key.space,
                                    name = %key.name,
                                    schema_version = version,
                                    "metadata changed: {kind} created or altered"
                                )
                            }
                            MetadataChange::SchemaDropped { key } => tracing::info!(
                                version = u.snapshot.version(),
                                space = %key.space,
                                name = %key.name,
                                "metadata changed: tag or edge type dropped"
                            ),
                        }
                    }
                }
            }));
        }
        Ok(SimNode {
            addr,
            agent,
            start_time_ms,
            tasks,
        })
    }

    /// Stops the server as a crash would: heartbeats stop, the port closes.
    pub fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for SimNode {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
