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
    let (read, result) = decode_result(bytes);
    (read, result.is_ok())
}

/// Decodes one message as the servers do; returns how many bytes it read
/// and the error, if it did not decode.
fn decode_result(bytes: &[u8]) -> (u64, Result<(), String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut cur = std::io::Cursor::new(bytes.to_vec());
        let mut r = Reader::new(&mut cur, limits());
        let result = match r.message_begin().await {
            Ok((name, _, _)) if name == "ping" => read_ping_args(&mut r).await.map(|_| ()),
            Ok(_) => read_heartbeat_args(&mut r).await.map(|_| ()),
            Err(e) => Err(e),
        };
        (cur.position(), result.map_err(|e| e.to_string()))
    })
}

/// A ping call whose args hold, as unknown field 9, a list nested `depth`
/// levels deep (lists of one list, the innermost an empty list of i32):
/// a complete, valid message.
fn nested_ping(depth: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x8001_0001u32.to_be_bytes());
    bytes.extend_from_slice(&4u32.to_be_bytes());
    bytes.extend_from_slice(b"ping");
    bytes.extend_from_slice(&1u32.to_be_bytes());
    bytes.extend_from_slice(&[15, 0, 9]);
    for _ in 1..depth {
        bytes.extend_from_slice(&[15, 0, 0, 0, 1]);
    }
    bytes.extend_from_slice(&[8, 0, 0, 0, 0]);
    bytes.push(0); // end of the args struct
    bytes
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
    fn deep_nesting_is_refused(depth in 17usize..700) {
        // Complete and within the message budget: only its depth is wrong.
        let bytes = nested_ping(depth);
        prop_assert!(bytes.len() <= limits().max_message);
        let (read, result) = decode_result(&bytes);
        let err = result.expect_err("decoded a list nested too deep");
        prop_assert!(err.contains("nesting deeper than 16"), "{}", err);
        prop_assert!(read < bytes.len() as u64, "read it all: {}", read);
    }

    #[test]
    fn nesting_up_to_the_limit_decodes(depth in 1usize..=16) {
        let bytes = nested_ping(depth);
        prop_assert_eq!(decode_result(&bytes), (bytes.len() as u64, Ok(())));
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
        let (read, result) = decode_result(&bytes);
        // Refused for its length, not for running out of bytes.
        let err = result.expect_err("decoded a huge string");
        let expected = match i32::try_from(len) {
            Ok(_) => format!("string of {len} exceeds the limit of 1024"),
            Err(_) => format!("negative string length {}", len as i32),
        };
        prop_assert!(err.contains(&expected), "{}", err);
        prop_assert!(read <= bytes.len() as u64);
    }
}

/// A well-formed message larger than the budget (an unknown field of ten
/// 1,000-byte strings, each within the string limit) is refused once the
/// budget is spent, without reading past it.
#[test]
fn a_message_over_the_budget_is_refused_within_it() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x8001_0001u32.to_be_bytes());
    bytes.extend_from_slice(&4u32.to_be_bytes());
    bytes.extend_from_slice(b"ping");
    bytes.extend_from_slice(&1u32.to_be_bytes());
    bytes.extend_from_slice(&[15, 0, 9, 11, 0, 0, 0, 10]);
    for _ in 0..10 {
        bytes.extend_from_slice(&1000u32.to_be_bytes());
        bytes.extend_from_slice(&[b'x'; 1000]);
    }
    bytes.push(0);
    assert!(bytes.len() > 2 * limits().max_message);
    let (read, result) = decode_result(&bytes);
    let err = result.expect_err("decoded a message over the budget");
    assert!(
        err.contains("message of") && err.contains("exceeds the limit of 4096"),
        "{err}"
    );
    assert!(read <= limits().max_message as u64, "read {read} bytes");
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
