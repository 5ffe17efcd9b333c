//! Starting and stopping a meta server: open the store, start the Raft
//! node (forming the group on first start), serve gRPC and heartbeat
//! streams on one port, follow leadership, and sweep liveness while
//! leading.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::{BasicNode, SnapshotPolicy};
use rollcall_proto::admin_server::AdminServer;
use rollcall_proto::meta_server::MetaServer as MetaGrpcServer;
use rollcall_proto::raft_server::RaftServer;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use crate::admin_service::AdminService;
use crate::clock::{wall_ms, Clock};
use crate::config::MetaConfig;
use crate::error::MetaError;
use crate::events::Events;
use crate::grpc::{MetaService, RaftService};
use crate::leadership::Leadership;
use crate::listener::accept_loop;
use crate::parts::Parts;
use crate::raft::{Contacts, Network, Raft, RaftStore};
use crate::replicated::Replicated;
use rollcall_proto::transport::Accept;
use rollcall_proto::transport::Net;

/// How long a stop waits for open calls to end before it drops them.
const GRACE: Duration = Duration::from_secs(5);

/// Where a server's connections come from and how it reaches its peers.
pub struct Transport {
    /// Accepts connections (heartbeat streams and gRPC on one port).
    pub listener: Box<dyn Accept>,
    /// The address the listener is bound to.
    pub local_addr: SocketAddr,
    /// The network: dials the other meta servers and pull-mode hosts, and
    /// binds the Thrift port.
    pub net: Net,
}

/// A running meta server.
pub struct MetaServer {
    addr: SocketAddr,
    thrift_addr: Option<SocketAddr>,
    parts: Parts,
    raft: Raft,
    stop: Arc<Notify>,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
    tasks: Vec<JoinHandle<()>>,
    /// Raft was shut down already (by `wait` or `shutdown`).
    halted: bool,
}

fn raft_config(config: &MetaConfig) -> Result<openraft::Config, MetaError> {
    let ms = |d: Duration| d.as_millis().max(1) as u64;
    openraft::Config {
        cluster_name: "rollcall-meta".into(),
        heartbeat_interval: ms(config.raft_heartbeat),
        election_timeout_min: ms(config.election_timeout),
        election_timeout_max: ms(config.election_timeout) * 2,
        install_snapshot_timeout: 5_000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every.max(1)),
        max_in_snapshot_log_to_keep: config.snapshot_every / 10,
        purge_batch_size: 1,
        ..Default::default()
    }
    .validate()
    .map_err(|e| MetaError::Internal(format!("Raft settings: {e}")))
}

/// The address this server is known by: its own `peers` entry, else
/// `advertise`, else the bound address `bound` (refused when unspecified,
/// as `0.0.0.0`). An `advertise` that contradicts the `peers` entry is
/// refused too: the group knows a member by its entry. Before binding
/// (`bound` None) only what can be refused already is checked.
fn advertised(config: &MetaConfig, bound: Option<SocketAddr>) -> Result<String, MetaError> {
    let addr = match (config.peers.get(&config.node_id), &config.advertise) {
        (Some(own), Some(a)) if own != a => {
            return Err(MetaError::BadAdvertise {
                addr: a.clone(),
                reason: format!(
                    "it differs from this server's entry {}={own} in the peers, by which the \
                     group knows it",
                    config.node_id
                ),
            })
        }
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) if config.listen.ip().is_unspecified() => {
            return Err(MetaError::NoAdvertise {
                listen: bound.unwrap_or(config.listen),
            })
        }
        (None, None) => match bound {
            Some(b) => b.to_string(),
            None => return Ok(String::new()),
        },
    };
    rollcall_core::HostAddr::parse(&addr).map_err(|e| MetaError::BadAdvertise {
        addr: addr.clone(),
        reason: e.to_string(),
    })?;
    Ok(addr)
}

impl MetaServer {
    /// Starts a server with the store its config names (redb in
    /// `data_dir`, or memory).
    pub async fn start(config: MetaConfig) -> Result<MetaServer, MetaError> {
        let store = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| MetaError::DataDir {
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
                RaftStore::open(dir)?
            }
            None => RaftStore::memory()?,
        };
        Self::start_with_store(config, store).await
    }

    /// Starts a server over the given store, listening on TCP (TLS over
    /// it when `config.tls` says so) at `config.listen`. See
    /// [`MetaServer::start_on`].
    pub async fn start_with_store(
        config: MetaConfig,
        store: RaftStore,
    ) -> Result<MetaServer, MetaError> {
        // Refuse a missing or bad advertised address before binding.
        advertised(&config, None)?;
        let net = match &config.tls {
            Some(tls) => tls.wrap(&Net::tcp()),
            None => Net::tcp(),
        };
        let (listener, addr) = net
            .bind(config.listen)
            .await
            .map_err(|source| MetaError::Bind {
                addr: config.listen,
                source,
            })?;
        let transport = Transport {
            listener,
            local_addr: addr,
            net,
        };
        Self::start_on(config, store, transport).await
    }

    /// Starts a server over the given store and transport. With no peers
    /// configured it is a one-voter group and this returns once the
    /// cluster has an identity; with peers it returns at once (the group
    /// elects when a majority is up).
    pub async fn start_on(
        config: MetaConfig,
        store: RaftStore,
        transport: Transport,
    ) -> Result<MetaServer, MetaError> {
        let clock = Clock::start();
        let Transport {
            listener,
            local_addr: addr,
            net,
        } = transport;
        let advertised = advertised(&config, Some(addr))?;

        let contacts = Contacts::default();
        let legacy = crate::raft::legacy::read(&store)?;
        let (log, sm) = crate::raft::open(&store)?;
        let state = sm.state();
        let versions = sm.version_watch();
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config(&config)?),
            Network::new(net.dialer().clone(), contacts.clone()),
            log,
            sm,
        )
        .await
        .map_err(|e| MetaError::Internal(format!("starting Raft: {e}")))?;

        // Form the group on first start. Every server started with the
        // same peers proposes the same membership, so the order of starts
        // does not matter; an initialised server never re-initialises.
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| MetaError::Internal(format!("reading Raft state: {e}")))?;
        if !initialized && !config.join {
            let members: BTreeMap<u64, BasicNode> = if config.peers.is_empty() {
                BTreeMap::from([(config.node_id, BasicNode::new(advertised.clone()))])
            } else {
                config
                    .peers
                    .iter()
                    .map(|(id, a)| (*id, BasicNode::new(a.clone())))
                    .collect()
            };
            if let Err(e) = raft.initialize(members).await {
                tracing::info!(error = %e, "not initialising the Raft group (already formed)");
            }
        }

        let store_writes = store.write_counter();
        let parts = Parts {
            config: Arc::new(config.clone()),
            clock,
            store: Arc::new(Replicated::new(state, versions, raft.clone(), store_writes)),
            lead: Arc::new(Leadership::new(
                raft.clone(),
                config.node_id,
                advertised,
                clock,
                &config,
            )),
            events: Arc::new(Events::new(config.event_capacity)),
            probe_counters: Arc::default(),
            contacts,
            net: net.clone(),
            thrift_port: Arc::default(),
            connections: Arc::default(),
            heartbeat_metrics: Arc::new(crate::metrics::HeartbeatMetrics::new(config.metrics)),
            metadata_deltas: Arc::default(),
            http_addr: Arc::default(),
            peer_http: Arc::default(),
            log_control: Arc::default(),
            stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            started_wall_ms: wall_ms(),
        };

        if let Some(state) = legacy {
            if parts.store.cluster_id() == 0 {
                tracing::info!(
                    cluster_id = state.cluster_id(),
                    "found a pre-Raft data directory; its state will be imported"
                );
                parts.store.set_legacy(store.clone(), state);
            }
        }

        // Doris's FrontendService.ping, if asked for.
        let mut thrift_addr = None;
        let mut thrift_task = None;
        if let Some(listen) = config.thrift_listen {
            let (l, bound) = net.bind(listen).await.map_err(|source| MetaError::Bind {
                addr: listen,
                source,
            })?;
            parts.thrift_port.store(
                u32::from(bound.port()),
                std::sync::atomic::Ordering::Release,
            );
            thrift_addr = Some(bound);
            thrift_task = Some(tokio::spawn(rollcall_proto::thrift_server::serve(
                l,
                Arc::new(crate::frontend::Frontend(parts.clone())),
                false,
                rollcall_proto::thrift::Limits::default(),
            )));
        }

        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let stopping = parts.stopping.clone();
        let limit = config.max_message_bytes;
        let router = tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(
                MetaGrpcServer::new(MetaService(parts.clone()))
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            )
            .add_service(
                AdminServer::new(AdminService(parts.clone()))
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            )
            // Over TLS only a peer with a meta server's certificate may
            // speak Raft.
            .add_service(tonic::service::interceptor::InterceptedService::new(
                RaftServer::new(RaftService(raft.clone()))
                    .max_decoding_message_size(256 * 1024 * 1024)
                    .max_encoding_message_size(256 * 1024 * 1024),
                rollcall_proto::tls::require_meta_cert,
            ));
        // One port: heartbeat streams are served by the accept loop, gRPC
        // connections are handed to tonic.
        let (grpc_tx, grpc_rx) = mpsc::channel(1024);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks: Vec<JoinHandle<()>> = thrift_task.into_iter().collect();
        tasks.push(tokio::spawn(accept_loop(
            listener,
            parts.clone(),
            grpc_tx,
            stop_rx,
        )));
        let serve = tokio::spawn(async move {
            let r = router
                .serve_with_incoming_shutdown(ReceiverStream::new(grpc_rx), async move {
                    stopped.notified().await;
                    // Server streams end now, or the graceful shutdown
                    // would wait for them forever.
                    stopping.send_replace(true);
                })
                .await;
            let _ = stop_tx.send(true);
            r
        });

        // Follow leadership.
        tasks.push(crate::tasks::follow_leadership(parts.clone()));

        // Break a split vote that openraft would repeat in every term.
        tasks.push(crate::raft::elections::spawn(
            raft.clone(),
            config.node_id,
            config.election_timeout,
        ));

        // Sweep, probe, ping and run jobs while leading.
        tasks.extend(crate::tasks::spawn_all(&parts));

        let server = MetaServer {
            addr,
            thrift_addr,
            parts,
            raft,
            stop,
            serve,
            tasks,
            halted: false,
        };
        if config.peers.len() <= 1 && !config.join {
            server.wait_ready(Duration::from_secs(30)).await?;
        }
        tracing::info!(%addr, node_id = config.node_id, cluster_id = server.cluster_id(), "meta server ready");
        Ok(server)
    }

    /// Waits until a leader is known and the cluster has its identity.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), MetaError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.parts.store.cluster_id() != 0 && self.parts.lead.leader_addr().is_some() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(MetaError::Internal(format!(
                    "no leader with a cluster identity within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A handle for the operator surface (`/readyz`, `/metrics`, who may
    /// read): it outlives neither the server's state nor needs the server.
    pub fn observer(&self) -> crate::observer::Observer {
        crate::observer::Observer::new(self.parts.clone())
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `FrontendService` (Thrift) address, if served.
    pub fn thrift_addr(&self) -> Option<SocketAddr> {
        self.thrift_addr
    }

    /// The cluster id (0 until known here).
    pub fn cluster_id(&self) -> u32 {
        self.parts.store.cluster_id()
    }

    /// The current Raft term (the epoch agents see while this server
    /// leads).
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// The address this server is known by (see `MetaConfig::advertise`).
    pub fn advertised_addr(&self) -> &str {
        self.parts.lead.addr()
    }

    /// Whether this server leads.
    pub fn is_leader(&self) -> bool {
        self.parts.lead.office().is_some()
    }

    /// Whether this server is the Raft leader holding its lease right now
    /// (a side-effect-free look, for observers such as tests).
    pub fn holds_lease(&self) -> bool {
        self.parts.lead.holds_lease()
    }

    /// Store write transactions since start.
    pub fn store_writes(&self) -> u64 {
        self.parts.store.store_writes()
    }

    /// This server's Raft node (membership changes, metrics).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// A handle that stops this server from elsewhere (a signal handler).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Runs until the gRPC server stops (error or [`Stopper::stop`]).
    pub async fn wait(mut self) -> Result<(), MetaError> {
        let mut stopping = self.parts.stopping.subscribe();
        let r = tokio::select! {
            r = &mut self.serve => r,
            // A stop waits for open calls to end, for a while.
            _ = async {
                let _ = stopping.wait_for(|s| *s).await;
                tokio::time::sleep(GRACE).await;
            } => {
                self.serve.abort();
                Ok(Ok(()))
            }
        };
        self.halt().await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MetaError::Serve(e.to_string())),
            Err(e) => Err(MetaError::Serve(e.to_string())),
        }
    }

    /// Stops serving and shuts Raft down.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        if tokio::time::timeout(GRACE, &mut self.serve).await.is_err() {
            self.serve.abort();
        }
        self.halt().await;
    }

    async fn halt(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if !self.halted {
            self.halted = true;
            let _ = self.raft.shutdown().await;
        }
    }
}

/// Stops a [`MetaServer`] from another task.
#[derive(Clone)]
pub struct Stopper(Arc<Notify>);

impl Stopper {
    /// Asks the server to stop serving.
    pub fn stop(&self) {
        self.0.notify_one();
    }
}

impl Drop for MetaServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.serve.abort();
        if self.halted {
            return;
        }
        let raft = self.raft.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = raft.shutdown().await;
            });
        }
    }
}
