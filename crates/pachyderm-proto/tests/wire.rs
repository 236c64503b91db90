//! The encoded bytes of the messages we send and read, spelled out from
//! pachd's field numbers (v2.11.6), so an edit of a `.proto` file that
//! breaks wire compatibility fails here.

use pachyderm_proto::auth_v2::{
    GetRobotTokenRequest, RestoreAuthTokenRequest, RevokeAuthTokenResponse, RotateRootTokenRequest,
    TokenInfo, WhoAmIResponse,
};
use pachyderm_proto::versionpb_v2::Version;
use prost::Message;

#[test]
fn requests_use_pachds_field_numbers() {
    let mint = GetRobotTokenRequest {
        robot: "ci".into(),
        ttl: 300,
    };
    // field 1 (robot), length-delimited; field 2 (ttl), varint 300.
    assert_eq!(
        mint.encode_to_vec(),
        [0x0a, 2, b'c', b'i', 0x10, 0xac, 0x02]
    );
    let rotate = RotateRootTokenRequest {
        root_token: "t".into(),
    };
    assert_eq!(rotate.encode_to_vec(), [0x0a, 1, b't']);
    let restore = RestoreAuthTokenRequest {
        token: Some(TokenInfo {
            subject: "r".into(),
            expiration: Some(prost_types::Timestamp {
                seconds: 5,
                nanos: 0,
            }),
            hashed_token: "h".into(),
        }),
    };
    // token = 1 (TokenInfo: subject = 1, expiration = 2 (seconds = 1),
    // hashed_token = 3).
    assert_eq!(
        restore.encode_to_vec(),
        [0x0a, 10, 0x0a, 1, b'r', 0x12, 2, 0x08, 5, 0x1a, 1, b'h']
    );
}

#[test]
fn answers_decode_from_pachds_field_numbers() {
    // WhoAmIResponse: username = 1, expiration = 2 (Timestamp seconds = 1).
    let who = WhoAmIResponse::decode(&[0x0a, 2, b'm', b'e', 0x12, 2, 0x08, 0x05][..]).unwrap();
    assert_eq!(who.username, "me");
    assert_eq!(who.expiration.unwrap().seconds, 5);
    // RevokeAuthTokenResponse: number = 1; empty (pachd before 2.5) is 0.
    assert_eq!(
        RevokeAuthTokenResponse::decode(&[0x08, 1][..])
            .unwrap()
            .number,
        1
    );
    assert_eq!(RevokeAuthTokenResponse::decode(&[][..]).unwrap().number, 0);
    // Version: major 1, minor 2, micro 3, additional 4, platform 9.
    let version =
        Version::decode(&[0x08, 2, 0x10, 11, 0x18, 6, 0x22, 1, b'x', 0x4a, 1, b'p'][..]).unwrap();
    assert_eq!((version.major, version.minor, version.micro), (2, 11, 6));
    assert_eq!(
        (version.additional.as_str(), version.platform.as_str()),
        ("x", "p")
    );
}
