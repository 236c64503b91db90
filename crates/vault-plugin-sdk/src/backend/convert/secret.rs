//! `SecretData` ⇄ `pb.Secret`: the lease plus JSON internal data.

use vault_plugin_proto::pb;

use super::lease;
use crate::Error;
use crate::framework::SecretData;

pub(crate) fn to_proto(secret: &SecretData) -> pb::Secret {
    pb::Secret {
        lease_options: Some(lease::to_proto(&secret.lease)),
        internal_data: serde_json::Value::Object(secret.internal_data.clone()).to_string(),
        lease_id: secret.lease_id.clone(),
    }
}

pub(crate) fn from_proto(secret: pb::Secret) -> Result<SecretData, Error> {
    Ok(SecretData {
        lease: lease::from_proto(secret.lease_options.unwrap_or_default()),
        internal_data: super::json_object(&secret.internal_data, "secret internal data")?,
        lease_id: secret.lease_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn table() {
        let cases: &[(&str, Result<serde_json::Value, &str>)] = &[
            ("", Ok(json!({}))),
            (
                r#"{"secret_type":"key","id":7}"#,
                Ok(json!({"secret_type":"key","id":7})),
            ),
            ("[1]", Err("must be a JSON object")),
            ("{", Err("not valid JSON")),
        ];
        for (raw, want) in cases {
            let got = from_proto(pb::Secret {
                internal_data: (*raw).into(),
                lease_id: "creds/x/abc".into(),
                lease_options: Some(pb::LeaseOptions {
                    ttl: 5_000_000_000,
                    ..Default::default()
                }),
            });
            match (got, want) {
                (Ok(s), Ok(v)) => {
                    assert_eq!(serde_json::Value::Object(s.internal_data), *v, "{raw}");
                    assert_eq!(s.lease_id, "creds/x/abc");
                    assert_eq!(s.lease.ttl, Duration::from_secs(5));
                }
                (Err(e), Err(frag)) => assert!(e.to_string().contains(frag), "{raw}: {e}"),
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn internal_data_is_sent_as_json_text() {
        let mut s = SecretData::default();
        s.internal_data.insert("secret_type".into(), json!("key"));
        s.lease.ttl = Duration::from_secs(60);
        let p = to_proto(&s);
        assert_eq!(p.internal_data, r#"{"secret_type":"key"}"#);
        assert_eq!(p.lease_options.unwrap().ttl, 60_000_000_000);
    }
}
