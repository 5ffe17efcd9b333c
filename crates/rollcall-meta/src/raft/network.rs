//! Raft RPCs between meta servers over gRPC (`rollcall.v1.Raft`), with
//! openraft's messages JSON-encoded in a bytes field. One lazily
//! connected channel per peer.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use rollcall_proto as pb;
use rollcall_proto::raft_client::RaftClient;
use rollcall_proto::transport::Dialer;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;

use super::{MetaNodeId, TypeConfig};

/// When each peer last answered a Raft RPC (the leader's view of "last
/// contact" with its followers; openraft 0.9's metrics do not carry it).
#[derive(Clone, Debug, Default)]
pub struct Contacts(Arc<Mutex<HashMap<MetaNodeId, Instant>>>);

impl Contacts {
    fn record(&self, peer: MetaNodeId) {
        lock(&self.0).insert(peer, Instant::now());
    }

    /// Time since `peer` last answered, if it ever did.
    pub fn since(&self, peer: MetaNodeId) -> Option<Duration> {
        lock(&self.0).get(&peer).map(|t| t.elapsed())
    }
}

/// Makes connections to peers.
#[derive(Clone, Debug, Default)]
pub struct Network {
    dialer: Dialer,
    contacts: Contacts,
}

impl Network {
    /// Connects to peers with `dialer`, noting answers in `contacts`.
    pub fn new(dialer: Dialer, contacts: Contacts) -> Network {
        Network { dialer, contacts }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: MetaNodeId, node: &BasicNode) -> Peer {
        Peer {
            target,
            addr: node.addr.clone(),
            dialer: self.dialer.clone(),
            contacts: self.contacts.clone(),
            client: None,
        }
    }
}

/// The connection to one peer.
pub struct Peer {
    target: MetaNodeId,
    addr: String,
    dialer: Dialer,
    contacts: Contacts,
    client: Option<RaftClient<Channel>>,
}

/// Which RPC.
#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl Peer {
    fn client(&mut self) -> Result<RaftClient<Channel>, Unreachable> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let channel = self
            .dialer
            .channel(&self.addr, Duration::from_millis(500))
            .map_err(|e| Unreachable::new(&e))?;
        let c = RaftClient::new(channel)
            .max_decoding_message_size(256 * 1024 * 1024)
            .max_encoding_message_size(256 * 1024 * 1024);
        self.client = Some(c.clone());
        Ok(c)
    }

    async fn call<Req, Resp, E>(
        &mut self,
        rpc: Rpc,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<MetaNodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let json = serde_json::to_vec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client().map_err(RPCError::Unreachable)?;
        let payload = pb::RaftPayload { json };
        let call = async {
            match rpc {
                Rpc::Append => client.append_entries(payload).await,
                Rpc::Vote => client.vote(payload).await,
                Rpc::Snapshot => client.install_snapshot(payload).await,
            }
        };
        let resp = match tokio::time::timeout(option.hard_ttl(), call).await {
            Ok(Ok(r)) => {
                self.contacts.record(self.target);
                r.into_inner()
            }
            Ok(Err(status)) => {
                // Drop the channel so the next call reconnects.
                self.client = None;
                return Err(RPCError::Unreachable(Unreachable::new(&status)));
            }
            Err(elapsed) => {
                self.client = None;
                return Err(RPCError::Network(NetworkError::new(&elapsed)));
            }
        };
        let result: Result<Resp, E> = serde_json::from_slice(&resp.json)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<MetaNodeId>,
        RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId>>,
    > {
        self.call(Rpc::Append, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<MetaNodeId>,
        RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId, InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<MetaNodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<MetaNodeId>, RPCError<MetaNodeId, BasicNode, RaftError<MetaNodeId>>>
    {
        self.call(Rpc::Vote, &rpc, &option).await
    }
}
