//! The query path on the example snapshot (`config/switchyard.toml` and
//! `zones/`): every input is a packet, answered by `respond_into` (fast
//! path, falling back to the full path) and by `respond` (full path only),
//! over UDP and TCP, from IPv4 and IPv6 sources. A panic aborts (libFuzzer's
//! panic hook runs before the listener's catch_unwind); every answer must
//! decode, echo the ID and be a response within the transport's size.
#![no_main]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::OnceLock;

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use switchyard::answer::{QueryMeta, Transport, respond, respond_into};
use switchyard::snapshot::{Inputs, Snapshot};

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/switchyard.toml");
        let inputs = Inputs::load(&config).expect("the example config loads");
        Snapshot::build(
            &inputs,
            &Default::default(),
            1,
            std::time::SystemTime::now(),
        )
    })
}

fn check(packet: &[u8], answer: &[u8], transport: Transport) {
    let message = Message::from_vec(answer)
        .unwrap_or_else(|e| panic!("undecodable answer {answer:02x?} to {packet:02x?}: {e}"));
    assert_eq!(answer[..2], packet[..2], "ID not echoed");
    assert_eq!(
        message.metadata.message_type,
        hickory_proto::op::MessageType::Response
    );
    if transport == Transport::Udp {
        assert!(answer.len() <= 65_535);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let snapshot = snapshot();
    let transport = if selector & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let source: SocketAddr = if selector & 2 == 0 {
        "198.51.100.7:5353".parse().unwrap()
    } else {
        "[2001:db8::7]:5353".parse().unwrap()
    };
    let meta = QueryMeta { source, transport };
    let mut rng = fastrand::Rng::with_seed(u64::from(selector));
    let mut out = Vec::new();
    if respond_into(&snapshot.view(), packet, &meta, &mut rng, &mut out) {
        check(packet, &out, transport);
    }
    if let Some(full) = respond(&snapshot.view(), packet, &meta, &mut rng) {
        check(packet, &full, transport);
    }
});
