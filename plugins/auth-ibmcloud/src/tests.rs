//! In-process tests of every path, the login and the renewal, against the
//! fake IBM Cloud IAM, as an operator and a logging-in workload see them.

use std::time::{Duration, SystemTime};

use integration_tests::fake_iam::{FakeApiKey, FakeIam, Identity, Route, now_secs};
use integration_tests::faults::Fault;
use serde_json::{Value, json};
use vault_plugin_sdk::framework::{Auth, TokenType};
use vault_plugin_sdk::storage::Storage;
use vault_plugin_sdk::system_view::StaticSystemView;
use vault_plugin_sdk::testing::TestBackend;
use vault_plugin_sdk::{Error, Operation, Response};

use super::*;

const ACCOUNT: &str = "acct-1";
const GROUP: &str = "AccessGroupId-devs";

type Tb = TestBackend<Backend<State>>;

struct Setup {
    fake: FakeIam,
    tb: Tb,
    admin: Identity,
    admin_key: FakeApiKey,
    app: Identity,
}

/// The fake IAM with an admin service ID and an app service ID; a mount
/// configured with the admin's key and a role `dev` binding the app.
async fn setup() -> Setup {
    let fake = FakeIam::start().await.unwrap();
    let admin = Identity::service_id("admin", ACCOUNT);
    let app = Identity::service_id("app", ACCOUNT);
    fake.add_identity(&admin);
    fake.add_identity(&app);
    let admin_key = fake.create_api_key(&admin);
    let tb = TestBackend::with_system_view(
        backend().unwrap(),
        StaticSystemView {
            default_lease_ttl: Duration::from_secs(3600),
            max_lease_ttl: Duration::from_secs(86400),
            ..StaticSystemView::default()
        },
    );
    tb.request(Operation::Create, "config")
        .data(json!({
            "api_key": admin_key.value,
            "account_id": ACCOUNT,
            "iam_endpoint": fake.url(),
            "user_management_endpoint": fake.user_management_url(),
        }))
        .send()
        .await
        .unwrap();
    tb.request(Operation::Create, "role/dev")
        .data(json!({"bound_subjects": app.sub, "token_policies": "dev", "token_ttl": "10m"}))
        .send()
        .await
        .unwrap();
    Setup {
        fake,
        tb,
        admin,
        admin_key,
        app,
    }
}

async fn login(tb: &Tb, data: Value) -> Result<Response> {
    tb.request(Operation::Update, "login")
        .unauthenticated()
        .remote_addr("127.0.0.1")
        .data(data)
        .send()
        .await
}

async fn login_auth(tb: &Tb, data: Value) -> Auth {
    login(tb, data)
        .await
        .unwrap()
        .auth
        .expect("a login answers with auth")
}

/// The token the host makes from a login's auth, as a renew request carries
/// it: `default` added to the policies, issued a minute ago.
fn issued(mut auth: Auth) -> Auth {
    auth.policies.push("default".into());
    auth.token_policies = auth.policies.clone();
    auth.client_token = "s.test".into();
    auth.lease.issue_time = Some(SystemTime::now() - Duration::from_secs(60));
    auth
}

fn bad_request(err: &Error) -> &str {
    match err {
        Error::BadRequest(message) => message,
        other => panic!("not a 400: {other:?}"),
    }
}

#[tokio::test]
async fn a_token_login_gives_the_roles_token_with_alias_and_metadata() {
    let s = setup().await;
    let auth = login_auth(
        &s.tb,
        json!({"role": "Dev", "token": s.fake.access_token(&s.app)}),
    )
    .await;
    assert_eq!(auth.policies, ["dev"]);
    assert_eq!(auth.lease.ttl, Duration::from_secs(600));
    assert!(auth.lease.renewable);
    assert_eq!(auth.token_type, TokenType::DefaultService);
    let alias = auth.alias.clone().expect("alias");
    assert_eq!(alias.name, s.app.iam_id);
    assert_eq!(alias.metadata["subject"], s.app.sub);
    assert_eq!(alias.metadata["sub_type"], "ServiceId");
    assert_eq!(alias.metadata["account_id"], ACCOUNT);
    assert_eq!(auth.display_name, "app");
    let metadata: Vec<(&str, &str)> = {
        let mut m: Vec<_> = auth
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        m.sort();
        m
    };
    assert_eq!(
        metadata,
        [
            ("IAM_ID", s.app.iam_id.as_str()),
            ("role", "dev"),
            ("subject", s.app.sub.as_str())
        ]
    );
    // Nothing of the caller's credential is kept in the token.
    let internal = Value::Object(auth.internal_data.clone()).to_string();
    assert!(
        !internal.contains('.'),
        "no JWT in internal data: {internal}"
    );
}

#[tokio::test]
async fn an_api_key_login_exchanges_the_key_and_never_keeps_it() {
    let s = setup().await;
    let key = s.fake.create_api_key(&s.app);
    let auth = login_auth(&s.tb, json!({"role": "dev", "api_key": key.value})).await;
    assert_eq!(auth.alias.map(|a| a.name), Some(s.app.iam_id.clone()));
    let internal = Value::Object(auth.internal_data).to_string();
    assert!(!internal.contains(&key.value), "{internal}");
    assert!(!format!("{:?}", auth.metadata).contains(&key.value));
    // The admin token is exchanged once and reused.
    login_auth(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await;
    assert_eq!(
        s.fake.hits(Route::Token),
        2,
        "one exchange for the key, one for the admin"
    );
}

#[tokio::test]
async fn users_and_profiles_are_checked_in_their_own_apis() {
    let s = setup().await;
    let user = Identity::user("ann@example.com", ACCOUNT);
    let profile = Identity::profile("vm", ACCOUNT);
    let foreign_profile = Identity::profile("vm", "acct-2");
    for i in [&user, &profile, &foreign_profile] {
        s.fake.add_identity(i);
    }
    s.fake.add_to_group(GROUP, &user.iam_id);
    s.tb.request(Operation::Create, "role/people")
        .data(json!({
            "bound_access_group_ids": GROUP,
            "bound_subjects": [profile.sub, foreign_profile.sub],
        }))
        .send()
        .await
        .unwrap();
    for who in [&user, &profile] {
        let auth = login_auth(
            &s.tb,
            json!({"role": "people", "token": s.fake.access_token(who)}),
        )
        .await;
        assert_eq!(auth.metadata["IAM_ID"], who.iam_id);
    }
    let err = login(
        &s.tb,
        json!({"role": "people", "token": s.fake.access_token(&foreign_profile)}),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied), "{err:?}");
    assert_eq!(s.fake.hits(Route::Profile), 2);
    assert_eq!(s.fake.hits(Route::User), 1);
}

#[tokio::test]
async fn refusals_are_permission_denied_and_bad_input_is_a_400() {
    let s = setup().await;
    let stranger = Identity::service_id("app", "acct-2");
    s.fake.add_identity(&stranger);
    let token = s.fake.access_token(&s.app);
    let mut expired = s.app.claims(&s.fake.issuer());
    expired["exp"] = json!(now_secs() - 600);
    s.tb.request(Operation::Update, "role/dev")
        .field("bound_subjects", format!("{},{}", s.app.sub, stranger.sub))
        .send()
        .await
        .unwrap();
    for data in [
        json!({"role": "nope", "token": token}),
        json!({"role": "dev", "token": s.fake.access_token(&stranger)}),
        json!({"role": "dev", "token": s.fake.sign(&expired)}),
        json!({"role": "dev", "token": "x.y.z"}),
        json!({"role": "dev", "api_key": "unknown-key"}),
    ] {
        let err = login(&s.tb, data.clone()).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied), "{data}: {err:?}");
    }
    s.tb.request(Operation::Update, "role/dev")
        .field("token_bound_cidrs", "10.0.0.0/8")
        .send()
        .await
        .unwrap();
    let err = login(&s.tb, json!({"role": "dev", "token": token}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied), "{err:?}");

    for (data, want) in [
        (
            json!({"role": "dev"}),
            "either token or api_key is required",
        ),
        (
            json!({"role": "dev", "token": "a", "api_key": "b"}),
            "not both",
        ),
        (json!({"role": " ", "token": "a"}), "role name is required"),
    ] {
        let err = login(&s.tb, data.clone()).await.unwrap_err();
        assert!(bad_request(&err).contains(want), "{data}: {err}");
    }
    let err = login(&s.tb, json!({"token": "a"})).await.unwrap_err();
    assert!(bad_request(&err).contains("role"), "{err}");
}

#[tokio::test]
async fn an_unconfigured_mount_and_an_unreachable_iam_say_so() {
    let s = setup().await;
    s.fake.fail(Route::Keys, 503);
    let err = login(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    assert!(
        err.to_string().contains("503") && err.to_string().contains("signing keys"),
        "{err}"
    );
    s.fake.heal(Route::Keys);

    s.tb.request(Operation::Delete, "config")
        .send()
        .await
        .unwrap();
    let err = login(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not configured"), "{err}");
    let err =
        s.tb.request(Operation::Read, "config")
            .send()
            .await
            .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn config_is_redacted_validated_and_kept_across_partial_writes() {
    let s = setup().await;
    let data =
        s.tb.request(Operation::Read, "config")
            .data_of()
            .await
            .unwrap();
    assert_eq!(
        Value::Object(data),
        json!({
            "api_key": "<redacted>",
            "account_id": ACCOUNT,
            "iam_endpoint": s.fake.url(),
            "user_management_endpoint": s.fake.user_management_url(),
            "bound_issuer": "",
        })
    );
    let stored = s.tb.storage().get("config").await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&stored.value).contains(&s.admin_key.value));

    // A partial write keeps the rest.
    s.tb.request(Operation::Update, "config")
        .field("bound_issuer", s.fake.issuer())
        .send()
        .await
        .unwrap();
    let data =
        s.tb.request(Operation::Read, "config")
            .data_of()
            .await
            .unwrap();
    assert_eq!(data["account_id"], ACCOUNT);
    assert_eq!(data["bound_issuer"], json!(s.fake.issuer()));
    login_auth(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await;
    assert_eq!(
        s.fake.hits(Route::Discovery),
        0,
        "the configured issuer needs no discovery"
    );

    for (data, want) in [
        (json!({"iam_endpoint": "ftp://x"}), "https://"),
        (
            json!({"iam_endpoint": "https://user:pw@iam"}),
            "credentials",
        ),
        (json!({"account_id": "a/../b"}), "letters, digits"),
        (json!({"api_key": " "}), "api_key is missing"),
    ] {
        let err =
            s.tb.request(Operation::Update, "config")
                .data(data.clone())
                .send()
                .await
                .unwrap_err();
        assert!(bad_request(&err).contains(want), "{data}: {err}");
    }
    let tb = TestBackend::new(backend().unwrap());
    let err = tb
        .request(Operation::Create, "config")
        .field("account_id", ACCOUNT)
        .send()
        .await
        .unwrap_err();
    assert!(
        bad_request(&err).contains("missing required field \"api_key\""),
        "{err}"
    );
    let err = tb
        .request(Operation::Create, "config")
        .field("api_key", "k")
        .send()
        .await
        .unwrap_err();
    assert!(
        bad_request(&err).contains("missing required field \"account_id\""),
        "{err}"
    );
    tb.request(Operation::Create, "config")
        .data(json!({"api_key": "k", "account_id": ACCOUNT}))
        .send()
        .await
        .unwrap();
    let data = tb
        .request(Operation::Read, "config")
        .data_of()
        .await
        .unwrap();
    assert_eq!(data["iam_endpoint"], "https://iam.cloud.ibm.com");
    assert_eq!(
        data["user_management_endpoint"],
        "https://user-management.cloud.ibm.com"
    );
}

#[tokio::test]
async fn roles_need_a_binding_keep_what_is_not_sent_and_list() {
    let s = setup().await;
    let err =
        s.tb.request(Operation::Create, "role/empty")
            .field("token_policies", "x")
            .send()
            .await
            .unwrap_err();
    assert!(
        bad_request(&err).contains("at least one bound constraint"),
        "{err}"
    );
    let err =
        s.tb.request(Operation::Create, "role/bad")
            .field("bound_access_group_ids", "AccessGroupId-a,../x")
            .send()
            .await
            .unwrap_err();
    assert!(bad_request(&err).contains("letters, digits"), "{err}");
    for (data, want) in [
        (
            json!({"token_ttl": "2h", "token_max_ttl": "1h"}),
            "token_max_ttl",
        ),
        (json!({"token_num_uses": -1}), "negative"),
        (json!({"token_period": "48h"}), "maximum lease TTL"),
    ] {
        let err =
            s.tb.request(Operation::Update, "role/dev")
                .data(data.clone())
                .send()
                .await
                .unwrap_err();
        assert!(bad_request(&err).contains(want), "{data}: {err}");
    }
    let resp =
        s.tb.request(Operation::Update, "role/dev")
            .field("token_max_ttl", "48h")
            .send()
            .await
            .unwrap();
    assert!(
        resp.warnings[0].contains("truncated"),
        "{:?}",
        resp.warnings
    );

    s.tb.request(Operation::Update, "role/DEV")
        .field("bound_access_group_ids", GROUP)
        .send()
        .await
        .unwrap();
    let data =
        s.tb.request(Operation::Read, "role/dev")
            .data_of()
            .await
            .unwrap();
    assert_eq!(data["bound_subjects"], json!([s.app.sub]));
    assert_eq!(data["bound_access_group_ids"], json!([GROUP]));
    assert_eq!(data["token_policies"], json!(["dev"]));
    assert_eq!(data["token_ttl"], 600);
    assert_eq!(data["token_max_ttl"], 172800);
    assert_eq!(data["token_type"], "default-service");

    let list = s.tb.request(Operation::List, "role/").send().await.unwrap();
    assert_eq!(list.data.as_ref().unwrap()["keys"], json!(["dev"]));
    s.tb.request(Operation::Delete, "role/dev")
        .send()
        .await
        .unwrap();
    let err =
        s.tb.request(Operation::Read, "role/dev")
            .send()
            .await
            .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn renewal_checks_the_role_the_policies_the_account_and_the_bindings() {
    let s = setup().await;
    let token = issued(
        login_auth(
            &s.tb,
            json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
        )
        .await,
    );
    let renewed =
        s.tb.renew_auth(&token, Duration::ZERO)
            .await
            .unwrap()
            .auth
            .unwrap();
    assert_eq!(renewed.lease.ttl, Duration::from_secs(600));

    s.tb.request(Operation::Update, "role/dev")
        .field("token_policies", "dev,more")
        .send()
        .await
        .unwrap();
    let err = s.tb.renew_auth(&token, Duration::ZERO).await.unwrap_err();
    assert!(
        bad_request(&err).contains("policies on role \"dev\" have changed"),
        "{err}"
    );
    s.tb.request(Operation::Update, "role/dev")
        .field("token_policies", "DEV")
        .send()
        .await
        .unwrap();
    s.tb.renew_auth(&token, Duration::ZERO).await.unwrap();

    s.fake.remove_identity(&s.app.iam_id);
    let err = s.tb.renew_auth(&token, Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied), "{err:?}");
    s.fake.add_identity(&s.app);

    s.tb.request(Operation::Update, "role/dev")
        .field("bound_subjects", "ServiceId-someone-else")
        .send()
        .await
        .unwrap();
    let err = s.tb.renew_auth(&token, Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied), "{err:?}");

    s.tb.request(Operation::Delete, "role/dev")
        .send()
        .await
        .unwrap();
    let err = s.tb.renew_auth(&token, Duration::ZERO).await.unwrap_err();
    assert_eq!(
        bad_request(&err),
        "role \"dev\" no longer exists: not renewing"
    );
}

#[tokio::test]
async fn rotate_root_keeps_a_working_key_at_every_step() {
    let s = setup().await;
    let resp =
        s.tb.request(Operation::Update, "config/rotate-root")
            .send()
            .await
            .unwrap();
    let new_id = resp.data.as_ref().unwrap()["api_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(resp.warnings.is_empty(), "{:?}", resp.warnings);
    assert!(s.fake.api_key(&s.admin_key.id).unwrap().deleted);
    let new = s.fake.api_key(&new_id).unwrap();
    assert_eq!(
        (new.iam_id.as_str(), new.deleted),
        (s.admin.iam_id.as_str(), false)
    );
    let stored = s.tb.storage().get("config").await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&stored.value).contains(&new.value));
    assert!(!format!("{:?}", resp.data).contains(&new.value));
    login_auth(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await;

    // Creation fails: nothing changes.
    s.fake.fail(Route::ApiKeyCreate, 500);
    let err =
        s.tb.request(Operation::Update, "config/rotate-root")
            .send()
            .await
            .unwrap_err();
    assert_eq!(err.status(), 502, "{err}");
    s.fake.heal(Route::ApiKeyCreate);
    let stored_after = s.tb.storage().get("config").await.unwrap().unwrap();
    assert_eq!(stored.value, stored_after.value);
    assert_eq!(s.fake.live_api_keys(&s.admin.iam_id).len(), 1);

    // Deletion fails: the new key is kept, the answer names the old one.
    s.fake.fail(Route::ApiKeyDelete, 500);
    let resp =
        s.tb.request(Operation::Update, "config/rotate-root")
            .send()
            .await
            .unwrap();
    assert!(resp.warnings[0].contains(&new_id), "{:?}", resp.warnings);
    assert_eq!(s.fake.live_api_keys(&s.admin.iam_id).len(), 2);
    s.fake.heal(Route::ApiKeyDelete);
    login_auth(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await;
}

/// The stored config's bytes.
async fn stored_config(tb: &Tb) -> Vec<u8> {
    tb.storage().get("config").await.unwrap().unwrap().value
}

async fn rotate(tb: &Tb) -> Result<Response> {
    tb.request(Operation::Update, "config/rotate-root")
        .send()
        .await
}

async fn wal_entries(tb: &Tb) -> usize {
    vault_plugin_sdk::framework::wal::list_wal(tb.storage())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_lost_creation_answer_is_a_clear_error_and_the_rollback_deletes_the_orphan() {
    let s = setup().await;
    let before = stored_config(&s.tb).await;
    for (fault, says) in [
        (Fault::status(500), "answered 500"),
        (
            Fault::Hang(Duration::from_secs(5)),
            "no answer within the time limit",
        ),
    ] {
        s.tb.request(Operation::Update, "config")
            .field("timeout", "1s")
            .send()
            .await
            .unwrap();
        let before = stored_config(&s.tb).await;
        // IAM creates the key, then its answer is lost.
        s.fake
            .faults()
            .inject_after_effect("POST", "/v1/apikeys", 1, fault);
        let err = rotate(&s.tb).await.unwrap_err();
        assert_eq!(err.status(), 502, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(says)
                && text.contains("may have created the API key \"vault-root-")
                && text.contains("config still holds the old key")
                && text.contains("can be retried"),
            "{text}"
        );
        let live = s.fake.live_api_keys(&s.admin.iam_id);
        assert_eq!(live.len(), 2, "the orphan exists at IAM");
        assert!(text.contains(&live[1].name), "{text}");
        assert!(!text.contains(&live[1].value), "{text}");
        assert_eq!(
            stored_config(&s.tb).await,
            before,
            "the config is unchanged"
        );
        assert_eq!(wal_entries(&s.tb).await, 1);

        // The rollback deletes the orphan, and only it; the config works.
        s.tb.tick(true).await.unwrap();
        let live = s.fake.live_api_keys(&s.admin.iam_id);
        assert_eq!(live.len(), 1, "the orphan is gone");
        assert_eq!(live[0].value, s.admin_key.value, "the configured key stays");
        assert_eq!(wal_entries(&s.tb).await, 0);
        login_auth(
            &s.tb,
            json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
        )
        .await;
    }
    assert_ne!(stored_config(&s.tb).await, before, "the timeout was stored");

    // A refusal created nothing: no WAL entry is left for a rollback.
    s.fake.fail(Route::ApiKeyCreate, 403);
    let err = rotate(&s.tb).await.unwrap_err();
    assert!(err.to_string().contains("answered 403"), "{err}");
    assert_eq!(wal_entries(&s.tb).await, 0);
    s.fake.heal(Route::ApiKeyCreate);

    // A retry rotates; the next rollback tick changes nothing.
    let resp = rotate(&s.tb).await.unwrap();
    let new_id = resp.data.as_ref().unwrap()["api_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let live = s.fake.live_api_keys(&s.admin.iam_id);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, new_id);
    assert!(live[0].name.starts_with("vault-root-"), "{}", live[0].name);
    assert_eq!(wal_entries(&s.tb).await, 0);
    s.tb.tick(true).await.unwrap();
    assert_eq!(s.fake.live_api_keys(&s.admin.iam_id).len(), 1);
    login_auth(
        &s.tb,
        json!({"role": "dev", "token": s.fake.access_token(&s.app)}),
    )
    .await;
}

#[tokio::test]
async fn the_rollback_finishes_a_rotation_that_stopped_after_storing_the_new_key() {
    let s = setup().await;
    let resp = rotate(&s.tb).await.unwrap();
    let new_id = resp.data.as_ref().unwrap()["api_key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = s.fake.api_key(&new_id).unwrap();
    // As if the plugin died after storing the new key, before deleting the
    // old one (a key of the admin the config no longer holds).
    let old = s.fake.create_api_key(&s.admin);
    let pending = rotate::PendingRootKey {
        name: new.name.clone(),
        iam_id: s.admin.iam_id.clone(),
        account_id: ACCOUNT.into(),
        old_key_id: old.id.clone(),
    };
    vault_plugin_sdk::framework::wal::put_wal(s.tb.storage(), &pending)
        .await
        .unwrap();
    s.tb.tick(true).await.unwrap();
    assert!(
        s.fake.api_key(&old.id).unwrap().deleted,
        "the old key is deleted"
    );
    assert!(
        !s.fake.api_key(&new_id).unwrap().deleted,
        "the stored key stays"
    );
    assert_eq!(wal_entries(&s.tb).await, 0);
    // Once more, with the old key gone already: nothing to do, no error.
    vault_plugin_sdk::framework::wal::put_wal(s.tb.storage(), &pending)
        .await
        .unwrap();
    s.tb.tick(true).await.unwrap();
    assert_eq!(wal_entries(&s.tb).await, 0);
    assert_eq!(s.fake.live_api_keys(&s.admin.iam_id).len(), 1);

    // IAM down: the entry stays for the next tick.
    vault_plugin_sdk::framework::wal::put_wal(s.tb.storage(), &pending)
        .await
        .unwrap();
    s.fake.fail(Route::ApiKeyList, 503);
    let _ = s.tb.tick(true).await;
    assert_eq!(wal_entries(&s.tb).await, 1);
    s.fake.heal(Route::ApiKeyList);
    s.tb.tick(true).await.unwrap();
    assert_eq!(wal_entries(&s.tb).await, 0);
}

#[tokio::test]
async fn rotate_root_refuses_a_key_of_another_account() {
    let s = setup().await;
    let foreign = Identity::service_id("admin", "acct-2");
    s.fake.add_identity(&foreign);
    let key = s.fake.create_api_key(&foreign);
    s.tb.request(Operation::Update, "config")
        .field("api_key", key.value.as_str())
        .send()
        .await
        .unwrap();
    let err =
        s.tb.request(Operation::Update, "config/rotate-root")
            .send()
            .await
            .unwrap_err();
    assert!(
        bad_request(&err).contains("belongs to account \"acct-2\""),
        "{err}"
    );
    assert_eq!(
        s.fake.live_api_keys(&foreign.iam_id).len(),
        1,
        "no key was created"
    );
}

#[tokio::test]
async fn secrets_are_marked_sensitive_and_storage_is_seal_wrapped() {
    use vault_plugin_sdk::Fields as _;
    for (schema, name) in [
        (config::Config::schema(), "api_key"),
        (login::LoginArgs::schema(), "api_key"),
        (login::LoginArgs::schema(), "token"),
    ] {
        let field = schema.iter().find(|f| f.name == name).expect(name);
        assert!(field.display.sensitive, "{name} is masked in UIs");
    }
    let paths = vault_plugin_sdk::LogicalBackend::special_paths(&backend().unwrap());
    assert_eq!(paths.unauthenticated, ["login"]);
    assert_eq!(paths.seal_wrap_storage, ["config"]);
}

#[tokio::test]
async fn config_ca_cert_insecure_skip_tls_verify_and_timeout_are_used() {
    use vault_plugin_sdk::testing::upstream::HttpsFront;
    let s = setup().await;
    let write = |data: Value| s.tb.request(Operation::Update, "config").data(data).send();
    let app_login = || {
        login(
            &s.tb,
            json!({"role": "dev", "api_key": s.fake.create_api_key(&s.app).value}),
        )
    };
    let plain: std::net::SocketAddr = s.fake.url().trim_start_matches("http://").parse().unwrap();
    let front = HttpsFront::forwarding_to(plain).unwrap();
    let endpoints = json!({
        "iam_endpoint": front.url(),
        "user_management_endpoint": s.fake.user_management_url().replace(&s.fake.url(), front.url()),
    });

    // HTTPS with a private CA: refused until the config trusts it.
    write(endpoints.clone()).await.unwrap();
    let err = app_login().await.unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    write(json!({"ca_cert": front.ca_pem()})).await.unwrap();
    app_login().await.unwrap();
    let data =
        s.tb.request(Operation::Read, "config")
            .data_of()
            .await
            .unwrap();
    assert_eq!(data["has_ca_cert"], json!(true));
    let err = write(json!({"ca_cert": "not a certificate"}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadRequest(_)), "{err:?}");

    // No check at all.
    write(json!({"ca_cert": "", "insecure_skip_tls_verify": true}))
        .await
        .unwrap();
    app_login().await.unwrap();

    // An IAM that never answers: the configured timeout ends the call.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let err = write(json!({"timeout": 0})).await.unwrap_err();
    assert!(matches!(err, Error::BadRequest(_)), "{err:?}");
    write(json!({"timeout": "1s", "iam_endpoint": silent_url}))
        .await
        .unwrap();
    let data =
        s.tb.request(Operation::Read, "config")
            .data_of()
            .await
            .unwrap();
    assert_eq!(data["timeout"], json!(1));
    let err = app_login().await.unwrap_err();
    assert!(err.to_string().contains("time limit"), "{err}");
}
