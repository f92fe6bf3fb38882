//! The smallest end-to-end check: the example zone answers over UDP and TCP.

mod common;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

#[test]
fn example_zone_answers_over_udp_and_tcp() {
    let server = TestServer::builder().start();
    let udp_reply = query(server.addr, "www.example.com.", RecordType::A);
    assert_eq!(udp_reply.metadata.response_code, ResponseCode::NoError);
    assert!(udp_reply.metadata.authoritative);
    assert_eq!(
        rrs(&udp_reply.answers),
        vec![
            "www.example.com. 3600 A 192.0.2.80",
            "www.example.com. 3600 A 192.0.2.81"
        ]
    );
    let tcp_reply = tcp(
        server.addr,
        &make_query("www.example.com.", RecordType::A, None),
    );
    assert_eq!(rrs(&tcp_reply.answers), rrs(&udp_reply.answers));
}
