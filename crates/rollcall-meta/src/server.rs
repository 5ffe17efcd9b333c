//! Starting and stopping a meta server: recover the store, bootstrap the
//! cluster identity on first start, take office (bump the epoch), then
//! serve gRPC and sweep liveness until shut down.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;
use rollcall_core::{Applied, Command};
use rollcall_proto::admin_server::AdminServer;
use rollcall_proto::meta_server::MetaServer as MetaGrpcServer;
use tokio::sync::Notify;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use crate::listener::accept_loop;

use crate::config::MetaConfig;
use crate::error::MetaError;
use crate::grpc::{AdminService, MetaService};
use crate::node::{wall_ms, Shared};
use crate::proposer::Proposer;
use crate::redb_store::RedbStore;
use crate::store::{LogStore, MemStore};

/// A running meta server.
pub struct MetaServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    serve: JoinHandle<Result<(), tonic::transport::Error>>,
    sweeper: JoinHandle<()>,
    acceptor: JoinHandle<()>,
}

impl MetaServer {
    /// Starts a server with the store its config names (redb in
    /// `data_dir`, or memory).
    pub async fn start(config: MetaConfig) -> Result<MetaServer, MetaError> {
        match config.data_dir.clone() {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| MetaError::DataDir {
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
                let store = RedbStore::open(&dir)?;
                Self::start_with_store(config, store).await
            }
            None => Self::start_with_store(config, MemStore::new()).await,
        }
    }

    /// Starts a server over the given store.
    pub async fn start_with_store<S: LogStore>(
        config: MetaConfig,
        mut store: S,
    ) -> Result<MetaServer, MetaError> {
        let origin = Instant::now();
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| MetaError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| MetaError::Bind {
            addr: config.listen,
            source,
        })?;

        let recovered = store.recover()?;
        let mut state: rollcall_core::ClusterState = recovered.snapshot.unwrap_or_default();
        let replayed = recovered.entries.len();
        for (index, cmd) in &recovered.entries {
            let _ = state.apply(*index, cmd);
        }
        tracing::info!(
            replayed,
            applied_index = state.applied_index(),
            "recovered durable state"
        );
        let writes = store.write_counter();
        let state = Arc::new(RwLock::new(state));
        let proposer = Proposer::start(store, state.clone()).map_err(|e| MetaError::DataDir {
            path: config.data_dir.clone().unwrap_or_default(),
            message: format!("cannot start the writer thread: {e}"),
        })?;

        let cluster_id = match state.read().map(|s| s.cluster_id()).unwrap_or(0) {
            0 => {
                let mut rng = rand::rng();
                let cluster_id = rng.random_range(1..=i32::MAX as u32);
                let token = format!("{:032x}", rng.random::<u128>());
                proposer
                    .propose(Command::Bootstrap {
                        cluster_id,
                        token,
                        created_at_ms: wall_ms(),
                    })
                    .await?;
                tracing::info!(cluster_id, "bootstrapped a new cluster");
                cluster_id
            }
            id => id,
        };
        let epoch = match proposer.propose(Command::BumpEpoch).await? {
            Applied::Epoch(e) => e,
            other => {
                return Err(MetaError::Internal(format!(
                    "unexpected result {other:?} for BumpEpoch"
                )))
            }
        };

        let shared = Arc::new(Shared::new(
            config.clone(),
            origin,
            state,
            cluster_id,
            epoch,
            addr.to_string(),
            proposer,
            writes,
        ));

        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let limit = config.max_message_bytes;
        let router = tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .http2_adaptive_window(Some(false))
            .initial_connection_window_size(Some(64 * 1024))
            .initial_stream_window_size(Some(64 * 1024))
            .add_service(
                MetaGrpcServer::new(MetaService(shared.clone()))
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            )
            .add_service(
                AdminServer::new(AdminService(shared.clone()))
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            );
        // One port: heartbeat streams are served by the accept loop, gRPC
        // connections are handed to tonic.
        let (grpc_tx, grpc_rx) = mpsc::channel(1024);
        let (stop_tx, stop_rx) = watch::channel(false);
        let acceptor = tokio::spawn(accept_loop(listener, shared.clone(), grpc_tx, stop_rx));
        let serve = tokio::spawn(async move {
            let r = router
                .serve_with_incoming_shutdown(ReceiverStream::new(grpc_rx), async move {
                    stopped.notified().await;
                })
                .await;
            let _ = stop_tx.send(true);
            r
        });

        let sweep_every = (config.heartbeat_interval / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250));
        let sweeper = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(sweep_every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    shared.sweep();
                }
            })
        };
        tracing::info!(%addr, cluster_id, epoch, "meta server ready");
        Ok(MetaServer {
            addr,
            shared,
            stop,
            serve,
            sweeper,
            acceptor,
        })
    }

    /// The bound gRPC address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> u32 {
        self.shared.cluster_id
    }

    /// This server's epoch.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch
    }

    /// Store write transactions since start.
    pub fn store_writes(&self) -> u64 {
        self.shared.store_writes()
    }

    /// A handle that stops this server from elsewhere (a signal handler).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.stop.clone())
    }

    /// Runs until the gRPC server stops (error or [`Stopper::stop`]).
    pub async fn wait(mut self) -> Result<(), MetaError> {
        let r = (&mut self.serve).await;
        self.sweeper.abort();
        self.acceptor.abort();
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(MetaError::Serve(e.to_string())),
            Err(e) => Err(MetaError::Serve(e.to_string())),
        }
    }

    /// Stops serving and waits for open requests to finish.
    pub async fn shutdown(mut self) {
        self.stop.notify_one();
        self.sweeper.abort();
        self.acceptor.abort();
        let _ = (&mut self.serve).await;
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
        self.sweeper.abort();
        self.acceptor.abort();
        self.serve.abort();
    }
}
