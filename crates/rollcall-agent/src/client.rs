//! Connections to the meta servers: one lazily connected gRPC channel per
//! address, a current address, rotation on error and leader following.

use std::time::Duration;

use rollcall_proto as pb;
use rollcall_proto::meta_client::MetaClient;
use rollcall_proto::stream::HeartbeatClient;
use rollcall_proto::transport::Dialer;
use tonic::transport::Channel;

use crate::error::AgentError;

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

    /// A new gRPC client for the address in use; its connection closes
    /// when the client is dropped.
    pub fn grpc_client(&self) -> Result<MetaClient<Channel>, AgentError> {
        let ch = channel(
            &self.dialer,
            &self.addrs[self.current],
            self.connect_timeout,
        )?;
        Ok(MetaClient::new(ch).max_decoding_message_size(16 * 1024 * 1024))
    }

    /// Sends one heartbeat to the address in use over its heartbeat
    /// stream (connecting first if needed), within `timeout`. On any error
    /// the stream is dropped, so the next call reconnects.
    pub async fn heartbeat(
        &mut self,
        req: &pb::HeartbeatRequest,
        timeout: Duration,
    ) -> Result<pb::HeartbeatResponse, String> {
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
                Some(c) => c.heartbeat(req).await.map_err(|e| e.to_string()),
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
