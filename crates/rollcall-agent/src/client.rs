//! Connections to the meta servers: one lazily connected gRPC channel per
//! address, a current address, rotation on error and leader following.

use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::stream::HeartbeatClient;
use rollcall_proto::transport::Dialer;
use tonic::transport::Channel;

use crate::error::AgentError;

/// One call on a heartbeat stream.
enum Call<'r> {
    Heartbeat(&'r pb::HeartbeatRequest),
    Metadata(&'r pb::GetMetadataRequest),
}

/// Its answer.
enum Reply {
    Heartbeat(pb::HeartbeatResponse),
    Metadata(pb::GetMetadataResponse),
}

/// The agent's view of the meta service's addresses.
pub struct MetaConn {
    addrs: Vec<String>,
    streams: Vec<Option<HeartbeatClient>>,
    current: usize,
    connect_timeout: Duration,
    dialer: Dialer,
}

fn channel(dialer: &Dialer, addr: &str, connect_timeout: Duration) -> Result<Channel, AgentError> {
    dialer
        .channel(addr, connect_timeout)
        .map_err(|e| AgentError::Config(format!("meta {e}")))
}

impl MetaConn {
    /// Checks every address; connects nothing yet.
    pub fn new(
        addrs: Vec<String>,
        connect_timeout: Duration,
        dialer: Dialer,
    ) -> Result<Self, AgentError> {
        if addrs.is_empty() {
            return Err(AgentError::Config(
                "no meta address given; pass at least one host:port".into(),
            ));
        }
        for a in &addrs {
            channel(&dialer, a, connect_timeout)?;
        }
        Ok(MetaConn {
            streams: addrs.iter().map(|_| None).collect(),
            addrs,
            current: 0,
            connect_timeout,
            dialer,
        })
    }

    /// The address in use.
    pub fn current(&self) -> &str {
        &self.addrs[self.current]
    }

    /// Sends one heartbeat to the address in use over its heartbeat
    /// stream (connecting first if needed), within `timeout`. On any error
    /// the stream is dropped, so the next call reconnects.
    pub async fn heartbeat(
        &mut self,
        req: &pb::HeartbeatRequest,
        timeout: Duration,
    ) -> Result<pb::HeartbeatResponse, String> {
        match self.on_stream(Call::Heartbeat(req), timeout).await? {
            Reply::Heartbeat(r) => Ok(r),
            Reply::Metadata(_) => Err("a metadata answer to a heartbeat".into()),
        }
    }

    /// Fetches metadata from the address in use over the same stream as
    /// the heartbeats (no new connection), within `timeout`.
    pub async fn metadata(
        &mut self,
        req: &pb::GetMetadataRequest,
        timeout: Duration,
    ) -> Result<pb::GetMetadataResponse, String> {
        match self.on_stream(Call::Metadata(req), timeout).await? {
            Reply::Metadata(r) => Ok(r),
            Reply::Heartbeat(_) => Err("a heartbeat answer to a metadata fetch".into()),
        }
    }

    /// Makes `call` on the stream of the address in use (connecting first
    /// if needed), within `timeout`. On any error the stream is dropped, so
    /// the next call reconnects.
    async fn on_stream(&mut self, call: Call<'_>, timeout: Duration) -> Result<Reply, String> {
        let addr = self.addrs[self.current].clone();
        let dialer = &self.dialer;
        let slot = &mut self.streams[self.current];
        let result = tokio::time::timeout(timeout, async {
            if slot.is_none() {
                *slot = Some(
                    HeartbeatClient::connect_with(dialer, &addr)
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                );
            }
            match slot.as_mut() {
                Some(c) => match call {
                    Call::Heartbeat(r) => c.heartbeat(r).await.map(Reply::Heartbeat),
                    Call::Metadata(r) => c.metadata(r).await.map(Reply::Metadata),
                }
                .map_err(|e| e.to_string()),
                None => Err("not connected".to_string()),
            }
        })
        .await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        };
        if result.is_err() {
            *slot = None;
        }
        result
    }

    /// Moves to the next address.
    pub fn rotate(&mut self) {
        self.current = (self.current + 1) % self.addrs.len();
    }

    /// Drops the connections of the address in use (they will reconnect).
    pub fn reset(&mut self) {
        self.streams[self.current] = None;
    }

    /// Moves to `leader`, adding it to the list if it is new.
    pub fn follow(&mut self, leader: &str) {
        if leader.is_empty() || leader == self.current() {
            return;
        }
        match self.addrs.iter().position(|a| a == leader) {
            Some(i) => self.current = i,
            None if channel(&self.dialer, leader, self.connect_timeout).is_ok() => {
                self.addrs.push(leader.to_string());
                self.streams.push(None);
                self.current = self.addrs.len() - 1;
            }
            None => {}
        }
    }
}
