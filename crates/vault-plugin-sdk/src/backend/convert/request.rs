//! `pb.Request` → `Request`.

use std::sync::Arc;

use vault_plugin_proto::pb;

use crate::Error;
use crate::framework::{Operation, Request};
use crate::storage::Storage;
use crate::system_view::SystemView;

pub(crate) fn from_proto(
    req: pb::Request,
    storage: Arc<dyn Storage>,
    system_view: Arc<dyn SystemView>,
) -> Result<Request, Error> {
    let operation: Operation = req
        .operation
        .parse()
        .map_err(|_| Error::UnsupportedOperation)?;
    let data = super::json_object(&req.data, "request data")?;
    let mut out = Request::new(operation, req.path, storage, system_view).with_data(data);
    out.id = req.id;
    out.mount_point = req.mount_point;
    out.mount_type = req.mount_type;
    out.mount_accessor = req.mount_accessor;
    out.display_name = req.display_name;
    out.entity_id = req.entity_id;
    out.headers = req
        .headers
        .into_iter()
        .map(|(k, v)| (k, v.header))
        .collect();
    out.client_token_accessor = req.client_token_accessor;
    out.unauthenticated = req.unauthenticated;
    out.secret = req.secret.map(super::secret::from_proto).transpose()?;
    out.auth = req.auth.map(super::auth::from_proto).transpose()?;
    out.remote_addr = req
        .connection
        .map(|c| c.remote_addr)
        .filter(|a| !a.is_empty());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use crate::system_view::StaticSystemView;
    use serde_json::{Value, json};

    fn convert(req: pb::Request) -> Result<Request, Error> {
        from_proto(
            req,
            Arc::new(MemoryStorage::new()),
            Arc::new(StaticSystemView::default()),
        )
    }

    #[test]
    fn data_table() {
        let cases: &[(&str, Result<Value, &str>)] = &[
            ("", Ok(json!({}))),
            ("null", Ok(json!({}))),
            (r#"{"a":"1","b":[1]}"#, Ok(json!({"a": "1", "b": [1]}))),
            ("[1]", Err("must be a JSON object")),
            ("{", Err("not valid JSON")),
        ];
        for (raw, want) in cases {
            let got = convert(pb::Request {
                operation: "update".into(),
                data: (*raw).into(),
                ..Default::default()
            });
            match (got, want) {
                (Ok(r), Ok(v)) => assert_eq!(Value::Object(r.data), *v, "{raw}"),
                (Err(Error::BadRequest(msg)), Err(frag)) => {
                    assert!(msg.contains(frag), "{raw}: {msg}")
                }
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn fields_are_carried_over() {
        let mut headers = std::collections::HashMap::new();
        headers.insert(
            "X-Test".to_string(),
            pb::Header {
                header: vec!["v".into()],
            },
        );
        let r = convert(pb::Request {
            id: "req-1".into(),
            operation: "list".into(),
            path: "kv/".into(),
            mount_point: "kv-a/".into(),
            mount_type: "example-kv".into(),
            display_name: "root".into(),
            headers,
            connection: Some(pb::Connection {
                remote_addr: "10.0.0.1".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(r.operation, Operation::List);
        assert_eq!(r.path, "kv/");
        assert_eq!(r.id, "req-1");
        assert_eq!(r.mount_point, "kv-a/");
        assert_eq!(r.mount_type, "example-kv");
        assert_eq!(r.display_name, "root");
        assert_eq!(r.headers["X-Test"], ["v"]);
        assert_eq!(r.remote_addr.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn unknown_operation_is_unsupported() {
        let got = convert(pb::Request {
            operation: "frobnicate".into(),
            ..Default::default()
        });
        assert!(matches!(got, Err(Error::UnsupportedOperation)));
    }
}
