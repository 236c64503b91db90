//! `Error` → what the host needs to show the right status and message.
//!
//! The host keeps a custom message and status only for some error types:
//! type 3 (coded) keeps both, types 0, 1, 2 and 4 keep the message, and types
//! 5 to 10 become fixed sentinels whose message is dropped. So:
//! * bad input becomes an error *response* (`data.error`), which the host
//!   answers with 400 and the message, as Go's `logical.ErrorResponse`;
//! * "not found" on a list, or without a message on a read, is no response
//!   at all (404, "No value found" in the CLI); a read's message is kept in
//!   a coded 404;
//! * anything else with a message of its own is a coded error or an
//!   internal error, never a sentinel with a message that would be lost.

use serde_json::{Map, Value};
use vault_plugin_proto::pb;

use crate::Error;
use crate::framework::Operation;

/// The host's error type numbers.
pub(crate) mod err_type {
    pub const INTERNAL: u32 = 2;
    pub const CODED: u32 = 3;
    pub const BAD_REQUEST: u32 = 4;
    pub const UNSUPPORTED_OPERATION: u32 = 5;
    pub const UNSUPPORTED_PATH: u32 = 6;
    pub const PERMISSION_DENIED: u32 = 8;
    pub const UNRECOVERABLE: u32 = 10;
}

fn proto(err_type: u32, msg: String, code: i64) -> pb::ProtoError {
    pb::ProtoError {
        err_type,
        err_msg: msg,
        err_code: code,
    }
}

/// The error as a bare `ProtoError` (for RPCs without a response slot).
pub(crate) fn to_proto(err: Error) -> pb::ProtoError {
    match err {
        Error::BadRequest(msg) => proto(err_type::BAD_REQUEST, msg, 400),
        Error::NotFound(msg) => proto(err_type::CODED, msg, 404),
        Error::PermissionDenied => proto(err_type::PERMISSION_DENIED, String::new(), 0),
        Error::UnsupportedPath => proto(err_type::UNSUPPORTED_PATH, String::new(), 0),
        Error::UnsupportedOperation => proto(err_type::UNSUPPORTED_OPERATION, String::new(), 0),
        Error::Coded { status, message } => proto(err_type::CODED, message, i64::from(status)),
        Error::Upstream(msg) => proto(err_type::CODED, msg, 502),
        Error::Unrecoverable(msg) => proto(err_type::UNRECOVERABLE, msg, 0),
        Error::Internal(msg) => proto(err_type::INTERNAL, msg, 0),
    }
}

/// The error as a `HandleRequest` reply: `(response, error)`.
pub(crate) fn to_reply(
    op: Operation,
    err: Error,
) -> (Option<pb::Response>, Option<pb::ProtoError>) {
    match err {
        Error::BadRequest(msg) => {
            let mut data = Map::new();
            data.insert("error".into(), Value::String(msg));
            let resp = pb::Response {
                data: Value::Object(data).to_string(),
                ..Default::default()
            };
            (Some(resp), None)
        }
        // An empty list, or a bare "not found" on a read: a missing entry.
        Error::NotFound(msg)
            if op == Operation::List || (op == Operation::Read && msg.is_empty()) =>
        {
            (None, None)
        }
        other => (None, Some(to_proto(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_table() {
        // (error, operation, wants a response with data.error, error type, code, message kept)
        type WantErr = Option<(u32, i64, &'static str)>;
        let cases: Vec<(Error, Operation, Option<&str>, WantErr)> = vec![
            (
                Error::bad_request("name is required"),
                Operation::Update,
                Some("name is required"),
                None,
            ),
            (Error::not_found(""), Operation::Read, None, None),
            (Error::not_found("no roles"), Operation::List, None, None),
            (
                Error::not_found("no role \"x\""),
                Operation::Read,
                None,
                Some((err_type::CODED, 404, "no role \"x\"")),
            ),
            (
                Error::not_found("no such key"),
                Operation::Delete,
                None,
                Some((err_type::CODED, 404, "no such key")),
            ),
            (
                Error::PermissionDenied,
                Operation::Read,
                None,
                Some((err_type::PERMISSION_DENIED, 0, "")),
            ),
            (
                Error::UnsupportedPath,
                Operation::Read,
                None,
                Some((err_type::UNSUPPORTED_PATH, 0, "")),
            ),
            (
                Error::UnsupportedOperation,
                Operation::Read,
                None,
                Some((err_type::UNSUPPORTED_OPERATION, 0, "")),
            ),
            (
                Error::coded(409, "conflict"),
                Operation::Update,
                None,
                Some((err_type::CODED, 409, "conflict")),
            ),
            (
                Error::upstream("balena said 500"),
                Operation::Read,
                None,
                Some((err_type::CODED, 502, "balena said 500")),
            ),
            (
                Error::Unrecoverable("gone".into()),
                Operation::Revoke,
                None,
                Some((err_type::UNRECOVERABLE, 0, "gone")),
            ),
            (
                Error::internal("disk full"),
                Operation::Update,
                None,
                Some((err_type::INTERNAL, 0, "disk full")),
            ),
        ];
        for (err, op, want_resp, want_err) in cases {
            let label = format!("{err:?} on {op}");
            let (resp, perr) = to_reply(op, err);
            match want_resp {
                Some(msg) => {
                    let data: Value = serde_json::from_str(&resp.expect(&label).data).unwrap();
                    assert_eq!(data["error"], msg, "{label}");
                }
                None => assert!(resp.is_none(), "{label}"),
            }
            match want_err {
                Some((t, code, msg)) => {
                    let perr = perr.expect(&label);
                    assert_eq!(
                        (perr.err_type, perr.err_code, perr.err_msg.as_str()),
                        (t, code, msg),
                        "{label}"
                    );
                }
                None => assert!(perr.is_none(), "{label}"),
            }
        }
    }

    #[test]
    fn no_message_is_sent_with_a_sentinel_type() {
        // Types 5-9 lose their message on the host; sending one would hide it.
        for err in [
            Error::PermissionDenied,
            Error::UnsupportedPath,
            Error::UnsupportedOperation,
        ] {
            let p = to_proto(err);
            assert!((5..=9).contains(&p.err_type));
            assert!(p.err_msg.is_empty());
        }
    }
}
