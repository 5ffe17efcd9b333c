//! A small graph store built on `rollcall-agent`: NebulaGraph's "No schema
//! found" example, end to end.
//!
//! ```sh
//! cargo run --release --example graphstore -- --meta 127.0.0.1:9559 \
//!     --listen 127.0.0.1:9780 --data-dir /tmp/gs1
//! ```
//!
//! It starts its agent and refuses to serve (503) until the meta service
//! accepted it. Then, over HTTP on `--listen` (also the address it
//! advertises):
//!
//! - `POST /vertices` with `{"space", "tag", "id", "props"}` stores a
//!   vertex only if the tag is in the agent's cached schema (else 400, "No
//!   schema found"), the properties match the tag's types (else 400), and
//!   the vertex's partition has this server among its replicas in the
//!   cached placement (else 409, naming the node ids that hold it). The
//!   partition is `fnv1a64(id) % partitions + 1`, the same on every server.
//! - `GET /vertices/{space}/{id}` returns it (404 if this server has not
//!   stored it).
//! - `GET /status` tells the node id, the metadata version and the
//!   partitions this server holds.
//!
//! It reports, in every heartbeat, the partitions it leads: of each
//! partition's replicas, the one at `(partition - 1) % replicas` leads.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use rollcall_agent::{Agent, AgentConfig, PartitionHandler};
use rollcall_core::{HostAddr, MetadataSnapshot, PartLeader, PropType, Role};
use serde_json::{json, Map, Value};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "A small graph store on rollcall-agent (NebulaGraph's schema example).")]
struct Args {
    /// Meta server addresses, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:9559")]
    meta: Vec<String>,
    /// HTTP address to serve and advertise.
    #[arg(long, default_value = "127.0.0.1:9780")]
    listen: SocketAddr,
    /// Data directory (cluster.id, node.id, node.secret).
    #[arg(long)]
    data_dir: PathBuf,
}

/// The partitions this server leads, recomputed on each metadata change
/// and reported through the agent's [`PartitionHandler`].
#[derive(Default)]
struct Leaders(Mutex<Vec<PartLeader>>);

impl Leaders {
    fn update(&self, s: &MetadataSnapshot, me: u64) {
        let mut out = Vec::new();
        for sp in s.spaces().values() {
            for (i, reps) in sp.partitions.iter().enumerate() {
                if !reps.is_empty() && reps[i % reps.len()] == me {
                    out.push(PartLeader {
                        space: sp.name.clone(),
                        part: i as u32 + 1,
                        term: 1,
                    });
                }
            }
        }
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = out;
    }
}

impl PartitionHandler for Leaders {
    fn leaders(&self) -> Vec<PartLeader> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A stored vertex.
type Vertex = Map<String, Value>;

struct Store {
    agent: Arc<Agent>,
    ready: std::sync::atomic::AtomicBool,
    vertices: Mutex<HashMap<(String, String), Vertex>>,
}

type Answer = (StatusCode, Json<Value>);

fn answer(code: StatusCode, body: Value) -> Answer {
    (code, Json(body))
}

fn error(code: StatusCode, message: String) -> Answer {
    answer(code, json!({ "error": message }))
}

/// FNV-1a, 64 bits: a stable hash every server computes alike.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Whether `v` is a value of type `t`.
fn fits(t: PropType, v: &Value) -> bool {
    match t {
        PropType::String => v.is_string(),
        PropType::Int | PropType::Timestamp => v.is_i64() || v.is_u64(),
        PropType::Double => v.is_number(),
        PropType::Bool => v.is_boolean(),
    }
}

impl Store {
    fn serving(&self) -> Result<(), Answer> {
        if self.ready.load(std::sync::atomic::Ordering::SeqCst) {
            Ok(())
        } else {
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "not serving: the meta service has not accepted this server yet".into(),
            ))
        }
    }

    fn insert(&self, body: &Value) -> Answer {
        if let Err(a) = self.serving() {
            return a;
        }
        let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
        let (space, tag, id) = (field("space"), field("tag"), field("id"));
        if space.is_empty() || tag.is_empty() || id.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "give space, tag and id (strings) and props (an object)".into(),
            );
        }
        let empty = Map::new();
        let Some(props) = body.get("props").map_or(Some(&empty), Value::as_object) else {
            return error(StatusCode::BAD_REQUEST, "props must be an object".into());
        };
        let meta = self.agent.metadata();
        // (a) The tag must be in the cached schema.
        let Some(schema) = meta.tag(space, tag) else {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "No schema found: tag {tag:?} in space {space:?} (metadata version {})",
                    meta.version()
                ),
            );
        };
        // (b) Every property given must be one of the tag's, of its type.
        for (k, v) in props {
            let Some(p) = schema.property(k) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("tag {tag:?} has no property {k:?}"),
                );
            };
            if !fits(p.ty, v) {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("property {k:?} of tag {tag:?} is a {}, not {v}", p.ty),
                );
            }
        }
        // (c) The vertex's partition must have this server among its
        // replicas.
        let Some(sp) = meta.spaces().get(space) else {
            return error(
                StatusCode::BAD_REQUEST,
                format!("No schema found: space {space:?}"),
            );
        };
        if sp.partitions.is_empty() {
            return error(
                StatusCode::CONFLICT,
                format!("space {space:?} has no partitions"),
            );
        }
        let part = fnv1a64(id.as_bytes()) % sp.partitions.len() as u64;
        let replicas = &sp.partitions[part as usize];
        let me = self.agent.node_id();
        if !replicas.contains(&me) {
            return answer(
                StatusCode::CONFLICT,
                json!({
                    "error": format!(
                        "partition {} of space {space:?} is not on this server (node {me}); \
                         it is on nodes {replicas:?}",
                        part + 1
                    ),
                    "partition": part + 1,
                    "replicas": replicas,
                }),
            );
        }
        let mut v = Vertex::new();
        v.insert("tag".into(), json!(tag));
        v.insert("tag_version".into(), json!(schema.version));
        v.insert("props".into(), Value::Object(props.clone()));
        v.insert("partition".into(), json!(part + 1));
        self.vertices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((space.to_string(), id.to_string()), v);
        answer(
            StatusCode::CREATED,
            json!({"stored": id, "partition": part + 1, "node": me}),
        )
    }

    fn fetch(&self, space: &str, id: &str) -> Answer {
        if let Err(a) = self.serving() {
            return a;
        }
        let g = self.vertices.lock().unwrap_or_else(|p| p.into_inner());
        match g.get(&(space.to_string(), id.to_string())) {
            Some(v) => answer(
                StatusCode::OK,
                json!({"space": space, "id": id, "vertex": v}),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                format!("no vertex {id:?} in space {space:?} on this server"),
            ),
        }
    }

    fn status(&self) -> Answer {
        let meta = self.agent.metadata();
        answer(
            StatusCode::OK,
            json!({
                "ready": self.ready.load(std::sync::atomic::Ordering::SeqCst),
                "node_id": self.agent.node_id(),
                "metadata_version": meta.version(),
                "partitions": meta.partitions_of(self.agent.node_id()),
            }),
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let bound = listener.local_addr()?;
    std::fs::create_dir_all(&args.data_dir)?;
    let advertise = HostAddr::new(&bound.ip().to_string(), u32::from(bound.port()))?;
    let mut config = AgentConfig::new(
        args.meta.clone(),
        Role::Storage,
        advertise,
        args.data_dir.clone(),
    );
    config.version = format!("graphstore {}", env!("CARGO_PKG_VERSION"));
    let leaders = Arc::new(Leaders::default());
    config.handler = leaders.clone();
    let agent = Arc::new(Agent::start(config).await?);
    let store = Arc::new(Store {
        agent: agent.clone(),
        ready: std::sync::atomic::AtomicBool::new(false),
        vertices: Mutex::new(HashMap::new()),
    });
    {
        // Recomputed on every metadata change; from the whole snapshot
        // after a lag (the update channel keeps the last 64).
        let agent = agent.clone();
        let mut updates = agent.subscribe();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            if agent.ready().await.is_err() {
                return;
            }
            leaders.update(&agent.metadata(), agent.node_id());
            loop {
                match updates.recv().await {
                    Ok(u) => leaders.update(&u.snapshot, agent.node_id()),
                    Err(RecvError::Lagged(_)) => leaders.update(&agent.metadata(), agent.node_id()),
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }
    let app = Router::new()
        .route(
            "/vertices",
            // Any content type (curl -d sends a form type): the body must
            // be JSON.
            post(
                |State(s): State<Arc<Store>>, body: axum::body::Bytes| async move {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => s.insert(&v),
                        Err(e) => error(StatusCode::BAD_REQUEST, format!("the body is not JSON: {e}")),
                    }
                },
            ),
        )
        .route(
            "/vertices/{space}/{id}",
            get(
                |State(s): State<Arc<Store>>, Path((space, id)): Path<(String, String)>| async move {
                    s.fetch(&space, &id)
                },
            ),
        )
        .route(
            "/status",
            get(|State(s): State<Arc<Store>>| async move { s.status() }),
        )
        .with_state(store.clone());
    // The address file tells scripts and tests the bound port.
    std::fs::write(args.data_dir.join("graphstore.addr"), format!("{bound}\n"))?;
    eprintln!("graphstore on http://{bound}: refusing to serve until the meta service accepts it");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    agent.ready().await?;
    store.ready.store(true, std::sync::atomic::Ordering::SeqCst);
    eprintln!(
        "graphstore ready: node {} of cluster {}, serving on http://{bound}",
        agent.node_id(),
        agent.cluster_id()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = server => { r??; }
        e = agent.stopped() => return Err(e.into()),
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}
