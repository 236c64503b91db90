//! `Auth` ⇄ `pb.Auth`: login results and tokens being renewed.

use vault_plugin_proto::{logical, pb};

use super::lease;
use crate::Error;
use crate::framework::{Alias, Auth, TokenType};

fn alias_to_proto(alias: &Alias) -> logical::Alias {
    logical::Alias {
        name: alias.name.clone(),
        metadata: alias.metadata.clone(),
        ..Default::default()
    }
}

fn alias_from_proto(alias: logical::Alias) -> Alias {
    Alias {
        name: alias.name,
        metadata: alias.metadata,
    }
}

pub(crate) fn to_proto(auth: &Auth) -> pb::Auth {
    pb::Auth {
        lease_options: Some(lease::to_proto(&auth.lease)),
        internal_data: serde_json::Value::Object(auth.internal_data.clone()).to_string(),
        display_name: auth.display_name.clone(),
        policies: auth.policies.clone(),
        metadata: auth.metadata.clone(),
        client_token: auth.client_token.clone(),
        accessor: auth.accessor.clone(),
        period: lease::to_nanos(auth.period),
        num_uses: auth.num_uses,
        entity_id: auth.entity_id.clone(),
        alias: auth.alias.as_ref().map(alias_to_proto),
        group_aliases: auth.group_aliases.iter().map(alias_to_proto).collect(),
        bound_cidrs: auth.bound_cidrs.clone(),
        token_policies: auth.token_policies.clone(),
        identity_policies: auth.identity_policies.clone(),
        explicit_max_ttl: lease::to_nanos(auth.explicit_max_ttl),
        token_type: auth.token_type.wire(),
        no_default_policy: auth.no_default_policy,
    }
}

pub(crate) fn from_proto(auth: pb::Auth) -> Result<Auth, Error> {
    Ok(Auth {
        lease: lease::from_proto(auth.lease_options.unwrap_or_default()),
        internal_data: super::json_object(&auth.internal_data, "token internal data")?,
        display_name: auth.display_name,
        policies: auth.policies,
        token_policies: auth.token_policies,
        identity_policies: auth.identity_policies,
        metadata: auth.metadata,
        client_token: auth.client_token,
        accessor: auth.accessor,
        period: lease::from_nanos(auth.period),
        num_uses: auth.num_uses,
        entity_id: auth.entity_id,
        alias: auth.alias.map(alias_from_proto),
        group_aliases: auth
            .group_aliases
            .into_iter()
            .map(alias_from_proto)
            .collect(),
        bound_cidrs: auth.bound_cidrs,
        explicit_max_ttl: lease::from_nanos(auth.explicit_max_ttl),
        token_type: TokenType::from_wire(auth.token_type),
        no_default_policy: auth.no_default_policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn full() -> Auth {
        let mut auth = Auth {
            display_name: "alice".into(),
            policies: vec!["dev".into()],
            token_policies: vec!["dev".into()],
            period: Duration::from_secs(3600),
            num_uses: 3,
            alias: Some(Alias::new("alice")),
            group_aliases: vec![Alias::new("admins")],
            bound_cidrs: vec!["10.0.0.0/8".into()],
            explicit_max_ttl: Duration::from_secs(7200),
            token_type: TokenType::Batch,
            no_default_policy: true,
            ..Auth::default()
        };
        auth.metadata.insert("team".into(), "blue".into());
        auth.internal_data.insert("role".into(), json!("dev"));
        auth.lease.ttl = Duration::from_secs(60);
        auth.lease.renewable = true;
        auth
    }

    #[test]
    fn every_field_round_trips() {
        let auth = full();
        assert_eq!(from_proto(to_proto(&auth)).unwrap(), auth);
    }

    #[test]
    fn wire_units_and_numbers() {
        let p = to_proto(&full());
        let table: &[(&str, i64, i64)] = &[
            ("period", p.period, 3_600_000_000_000),
            ("explicit_max_ttl", p.explicit_max_ttl, 7_200_000_000_000),
            ("ttl", p.lease_options.as_ref().unwrap().ttl, 60_000_000_000),
            ("token_type", i64::from(p.token_type), 2),
        ];
        for (name, got, want) in table {
            assert_eq!(got, want, "{name}");
        }
        assert_eq!(p.internal_data, r#"{"role":"dev"}"#);
    }

    #[test]
    fn bad_internal_data_is_an_error() {
        let err = from_proto(pb::Auth {
            internal_data: "nope".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("token internal data"), "{err}");
    }
}
