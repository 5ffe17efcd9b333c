//! Bad bytes on the Thrift reader: random input, truncated and mutated
//! valid messages, deep nesting, huge length prefixes. The reader must
//! return an error (never panic) and never read past its message budget.

use proptest::prelude::*;
use rollcall_proto::thrift::{
    call, read_heartbeat_args, read_ping_args, Limits, MasterInfo, NetworkAddress, PingRequest,
    Reader,
};

fn limits() -> Limits {
    Limits {
        max_message: 4096,
        max_string: 1024,
        max_elements: 64,
    }
}

fn valid_heartbeat() -> Vec<u8> {
    call("heartbeat", 1, |w| {
        MasterInfo {
            network_address: NetworkAddress {
                hostname: "127.0.0.1".into(),
                port: 9020,
            },
            cluster_id: 5,
            epoch: 2,
            token: Some("t".into()),
            ..Default::default()
        }
        .write(w)
    })
    .into_bytes()
}

/// Decodes one message as the servers do; returns how many bytes it read
/// and whether it decoded.
fn decode(bytes: &[u8]) -> (u64, bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cur = std::io::Cursor::new(bytes.to_vec());
        let mut r = Reader::new(&mut cur, limits());
        let ok = match r.message_begin().await {
            Ok((name, _, _)) if name == "ping" => read_ping_args(&mut r).await.is_ok(),
            Ok(_) => read_heartbeat_args(&mut r).await.is_ok(),
            Err(_) => false,
        };
        (cur.position(), ok)
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (read, _) = decode(&bytes);
        prop_assert!(read <= limits().max_message as u64);
    }

    #[test]
    fn mutated_and_truncated_messages_never_panic(
        cut in 0usize..200,
        flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..8),
    ) {
        let mut bytes = valid_heartbeat();
        for (at, b) in flips {
            if let Some(x) = bytes.get_mut(at) {
                *x = b;
            }
        }
        bytes.truncate(cut.min(bytes.len()));
        let (read, _) = decode(&bytes);
        prop_assert!(read <= limits().max_message as u64);
    }

    #[test]
    fn deep_nesting_is_refused(depth in 17usize..2000) {
        // A ping whose args hold a list of lists of ... (unknown field 9).
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0x8001_0001u32.to_be_bytes());
        bytes.extend_from_slice(&4u32.to_be_bytes());
        bytes.extend_from_slice(b"ping");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&[15, 0, 9]);
        for _ in 0..depth {
            bytes.extend_from_slice(&[15, 0, 0, 0, 1]);
        }
        let (read, ok) = decode(&bytes);
        prop_assert!(!ok);
        prop_assert!(read <= limits().max_message as u64);
    }

    #[test]
    fn huge_length_prefixes_are_refused(len in 1025u32..u32::MAX) {
        // A heartbeat whose hostname claims `len` bytes.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0x8001_0001u32.to_be_bytes());
        bytes.extend_from_slice(&9u32.to_be_bytes());
        bytes.extend_from_slice(b"heartbeat");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&[12, 0, 1, 12, 0, 1, 11, 0, 1]);
        bytes.extend_from_slice(&len.to_be_bytes());
        let (read, ok) = decode(&bytes);
        prop_assert!(!ok);
        prop_assert!(read <= bytes.len() as u64);
    }
}

#[test]
fn a_ping_decodes() {
    let bytes = call("ping", 3, |w| {
        PingRequest {
            cluster_id: 9,
            token: "x".into(),
        }
        .write(w)
    })
    .into_bytes();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let mut cur = std::io::Cursor::new(bytes);
        let mut r = Reader::new(&mut cur, limits());
        r.message_begin().await.unwrap();
        read_ping_args(&mut r).await.unwrap()
    });
    assert_eq!(got.map(|p| p.cluster_id), Some(9));
}

#[test]
fn a_valid_message_decodes_whole() {
    let bytes = valid_heartbeat();
    assert_eq!(decode(&bytes), (bytes.len() as u64, true));
}
