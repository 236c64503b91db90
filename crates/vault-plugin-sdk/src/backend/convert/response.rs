//! `Response` → `pb.Response`.
//!
//! An empty response is sent as no response at all: the host JSON-decodes
//! `data` of any response it gets, and `""` is not JSON.

use vault_plugin_proto::pb;

use crate::framework::Response;

pub(crate) fn to_proto(resp: Response) -> Option<pb::Response> {
    if resp.is_empty() {
        return None;
    }
    let data = serde_json::Value::Object(resp.data.unwrap_or_default()).to_string();
    Some(pb::Response {
        data,
        secret: resp.secret.as_ref().map(super::secret::to_proto),
        auth: resp.auth.as_ref().map(super::auth::to_proto),
        redirect: resp.redirect.unwrap_or_default(),
        warnings: resp.warnings,
        headers: resp
            .headers
            .into_iter()
            .map(|(k, v)| (k, pb::Header { header: v }))
            .collect(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn data_of(resp: Response) -> Option<Value> {
        to_proto(resp).map(|p| serde_json::from_str(&p.data).expect("data is JSON"))
    }

    #[test]
    fn table() {
        let cases: Vec<(Response, Option<Value>)> = vec![
            (Response::empty(), None),
            (Response::empty().warning("careful"), Some(json!({}))),
            (
                Response::json(&json!({"a": 1})).unwrap(),
                Some(json!({"a": 1})),
            ),
            (
                Response::list(vec!["x".into()]),
                Some(json!({"keys": ["x"]})),
            ),
        ];
        for (resp, want) in cases {
            let label = format!("{resp:?}");
            assert_eq!(data_of(resp), want, "{label}");
        }
    }

    #[test]
    fn warnings_and_headers_travel() {
        let mut resp = Response::empty().warning("w1");
        resp.headers.insert("X-A".into(), vec!["1".into()]);
        let p = to_proto(resp).unwrap();
        assert_eq!(p.warnings, ["w1"]);
        assert_eq!(p.headers["X-A"].header, ["1"]);
    }
}
