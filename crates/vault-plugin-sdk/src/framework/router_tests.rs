//! In-process tests of the router: routing, typed fields, leases, WAL,
//! periodic work, auth renew and lifecycle hooks.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::fields::{Fields, Name};
use super::wal::{WalKind, list_wal, put_wal};
use super::*;
use crate::backend::{LogicalBackend as _, SetupContext};
use crate::storage::{Storage, StorageExt};
use crate::system_view::StaticSystemView;
use crate::testing::TestBackend;
use crate::{Error, Result};

/// A fake upstream that issues and deletes keys, shared by the handlers.
#[derive(Default)]
struct State {
    keys: Mutex<Vec<String>>,
    ticks: AtomicUsize,
    cleaned: AtomicUsize,
    invalidated: Mutex<Vec<String>>,
    fail_rollback: std::sync::atomic::AtomicBool,
}

/// Arguments of `item/{name}`.
#[derive(Fields)]
struct ItemArgs {
    /// The item's name.
    #[field(path)]
    name: String,
    /// How long it lives.
    #[field(default = "1h")]
    ttl: Duration,
    /// Tags.
    tags: Vec<String>,
    /// A required number.
    #[field(required)]
    count: i64,
}

#[derive(Serialize, Deserialize)]
struct Key {
    name: String,
}

impl SecretType for Key {
    const NAME: &'static str = "key";
}

impl WalKind for Key {
    const KIND: &'static str = "key";
}

/// A secret type the test backend does not declare.
#[derive(Serialize, Deserialize)]
struct Undeclared {}

impl SecretType for Undeclared {
    const NAME: &'static str = "nope";
}

/// A WAL kind the test backend has no rollback for.
#[derive(Serialize, Deserialize)]
struct Other {}

impl WalKind for Other {
    const KIND: &'static str = "other";
}

async fn write_item(_: Arc<State>, req: Request, args: ItemArgs) -> Result<Response> {
    req.storage()
        .put_json(
            &format!("item/{}", args.name),
            &json!({"ttl": args.ttl.as_secs(), "tags": args.tags, "count": args.count}),
        )
        .await?;
    Ok(Response::empty())
}

async fn read_item(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let item: Option<Value> = req.storage().get_json(&format!("item/{name}")).await?;
    match item {
        Some(v) => Response::json(&v),
        None => Err(Error::not_found("no such item")),
    }
}

async fn patch_item(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let key = format!("item/{name}");
    let mut item: Value = req
        .storage()
        .get_json(&key)
        .await?
        .ok_or_else(|| Error::not_found("no such item"))?;
    let mut patch = Value::Object(req.data.clone());
    if let Value::Object(p) = &mut patch {
        p.remove("name");
    }
    merge_patch(&mut item, &patch);
    req.storage().put_json(&key, &item).await?;
    Response::json(&item)
}

async fn item_exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    Ok(req.storage().get(&format!("item/{name}")).await?.is_some())
}

async fn list_items(_: Arc<State>, req: Request) -> Result<Response> {
    Ok(Response::list(req.storage().list("item/").await?))
}

async fn issue(state: Arc<State>, _: Request) -> Result<Response> {
    let name = format!("key-{}", state.keys.lock().await.len());
    state.keys.lock().await.push(name.clone());
    Ok(Response::secret(&json!({"key": name}), &Key { name })?
        .ttl(Duration::from_secs(7200))
        .max_ttl(Duration::from_secs(3 * 3600)))
}

async fn issue_unknown(_: Arc<State>, _: Request) -> Result<Response> {
    Response::secret(&json!({}), &Undeclared {})
}

async fn renew_key(_: Arc<State>, req: Request, _: Key) -> Result<Response> {
    req.renew_secret(Duration::from_secs(1800), Duration::from_secs(3 * 3600))
        .await
}

async fn revoke_key(state: Arc<State>, _: Request, key: Key) -> Result<Response> {
    state.keys.lock().await.retain(|k| *k != key.name);
    Ok(Response::empty())
}

async fn tick(state: Arc<State>, _: Request) -> Result<()> {
    state.ticks.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

async fn undo_key(state: Arc<State>, _: Request, key: Key) -> Result<()> {
    if state.fail_rollback.load(Ordering::SeqCst) {
        return Err(Error::Upstream("upstream down".into()));
    }
    state.keys.lock().await.retain(|k| *k != key.name);
    Ok(())
}

async fn renew_token(_: Arc<State>, req: Request) -> Result<Response> {
    req.renew_auth(Duration::from_secs(600), Duration::ZERO)
        .await
}

fn backend() -> Backend<State> {
    Backend::builder(State::default())
        .help("test backend")
        .path(
            Path::new("item/{name}")
                .synopsis("an item")
                .read(read_item)
                .write(write_item, item_exists)
                .patch(patch_item),
        )
        .path(Path::new("item/?").list(list_items))
        .path(Path::new("creds").read(issue))
        .path(Path::new("bad-creds").read(issue_unknown))
        .secret(Secret::new(revoke_key).renew(renew_key))
        .wal_rollback(undo_key)
        .periodic(tick)
        .auth_renew(renew_token)
        .clean(|s: Arc<State>| async move {
            s.cleaned.fetch_add(1, Ordering::SeqCst);
        })
        .invalidate(|s: Arc<State>, key: String| async move {
            s.invalidated.lock().await.push(key);
        })
        .build()
        .expect("backend builds")
}

fn bad_request(err: Error) -> String {
    match err {
        Error::BadRequest(msg) => msg,
        other => panic!("want a bad request, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_fields_decode_cli_strings_and_captures_win() {
    let tb = TestBackend::new(backend());
    tb.request(Operation::Create, "item/a")
        .data(json!({"ttl": "90m", "tags": "x, y", "count": "3", "name": "ignored"}))
        .send()
        .await
        .unwrap();
    let item = tb
        .request(Operation::Read, "item/a")
        .data_of()
        .await
        .unwrap();
    assert_eq!(
        Value::Object(item),
        json!({"ttl": 5400, "tags": ["x", "y"], "count": 3})
    );
    assert!(tb.storage().get("item/ignored").await.unwrap().is_none());
}

#[tokio::test]
async fn defaults_apply_and_bad_input_is_a_400_that_writes_nothing() {
    let tb = TestBackend::new(backend());
    tb.request(Operation::Update, "item/d")
        .field("count", 1)
        .send()
        .await
        .unwrap();
    let item = tb
        .request(Operation::Read, "item/d")
        .data_of()
        .await
        .unwrap();
    assert_eq!(item["ttl"], 3600);

    let cases = [
        (json!({}), "missing required field \"count\""),
        (json!({"count": "many"}), "\"count\""),
        (json!({"count": 1, "ttl": "soon"}), "\"ttl\""),
    ];
    for (data, want) in cases {
        let err = tb
            .request(Operation::Update, "item/bad")
            .data(data.clone())
            .send()
            .await
            .unwrap_err();
        let msg = bad_request(err);
        assert!(msg.starts_with("Field validation failed"), "{data}: {msg}");
        assert!(msg.contains(want), "{data}: {msg}");
    }
    assert!(tb.storage().get("item/bad").await.unwrap().is_none());
}

#[tokio::test]
async fn unknown_fields_are_warned_about() {
    let tb = TestBackend::new(backend());
    let resp = tb
        .request(Operation::Update, "item/w")
        .data(json!({"count": 1, "colour": "red", "size": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.warnings,
        ["Endpoint ignored these unrecognized parameters: [colour size]"]
    );
}

#[tokio::test]
async fn list_accepts_optional_trailing_slash_and_unknowns_are_distinct() {
    let tb = TestBackend::new(backend());
    for name in ["b", "a"] {
        tb.request(Operation::Update, &format!("item/{name}"))
            .field("count", 1)
            .send()
            .await
            .unwrap();
    }
    for path in ["item", "item/"] {
        let data = tb.request(Operation::List, path).data_of().await.unwrap();
        assert_eq!(data["keys"], json!(["a", "b"]), "{path}");
    }
    let err = tb
        .request(Operation::Read, "nope")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedPath));
    let err = tb
        .request(Operation::Delete, "item/a")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedOperation));
}

#[tokio::test]
async fn existence_check_and_patch_merge() {
    let tb = TestBackend::new(backend());
    assert_eq!(tb.exists("item/p").await.unwrap(), Some(false));
    assert_eq!(tb.exists("item/").await.unwrap(), None);
    tb.request(Operation::Create, "item/p")
        .data(json!({"count": 1, "tags": "a,b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tb.exists("item/p").await.unwrap(), Some(true));
    let resp = tb
        .request(Operation::Patch, "item/p")
        .data(json!({"count": 5, "tags": null}))
        .data_of()
        .await
        .unwrap();
    assert_eq!(Value::Object(resp), json!({"ttl": 3600, "count": 5}));
}

#[test]
fn create_without_existence_check_is_refused_at_build() {
    let err = Backend::builder(State::default())
        .path(Path::new("x").create(read_item))
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::CreateWithoutExistenceCheck(ref p) if p == "x"));
}

#[tokio::test]
async fn secrets_get_their_type_renewability_and_a_capped_ttl() {
    let sv = StaticSystemView {
        default_lease_ttl: Duration::from_secs(600),
        max_lease_ttl: Duration::from_secs(3600),
        ..StaticSystemView::default()
    };
    let tb = TestBackend::with_system_view(backend(), sv);
    let resp = tb.request(Operation::Read, "creds").send().await.unwrap();
    let secret = resp.secret.expect("a secret");
    assert_eq!(secret.kind(), Some("key"));
    assert_eq!(secret.internal_data["name"], "key-0");
    assert!(secret.lease.renewable);
    // Asked 2h within a 3h role max, but the mount allows 1h.
    assert_eq!(secret.lease.ttl, Duration::from_secs(3600));
    assert!(
        resp.warnings.iter().any(|w| w.contains("capped")),
        "{:?}",
        resp.warnings
    );
    assert_eq!(resp.data.unwrap()["key"], "key-0");

    let renewed = tb.renew(&secret, Duration::from_secs(60)).await.unwrap();
    assert_eq!(renewed.secret.unwrap().lease.ttl, Duration::from_secs(60));

    tb.revoke(&secret).await.unwrap();
    assert!(tb.backend().state().keys.lock().await.is_empty());
}

#[tokio::test]
async fn an_undeclared_or_unknown_secret_type_is_an_error_and_unrecoverable_on_revoke() {
    let tb = TestBackend::new(backend());
    let err = tb
        .request(Operation::Read, "bad-creds")
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Internal(ref m) if m.contains("\"nope\"")),
        "{err:?}"
    );
    let mut orphan = SecretData::default();
    orphan
        .internal_data
        .insert(SECRET_TYPE_KEY.into(), json!("gone"));
    let err = tb.revoke(&orphan).await.unwrap_err();
    assert!(matches!(err, Error::Unrecoverable(_)), "{err:?}");
}

#[tokio::test]
async fn wal_entries_roll_back_after_min_age_or_immediately_and_are_deleted() {
    let tb = TestBackend::new(backend());
    let state = Arc::clone(tb.backend().state());
    state.keys.lock().await.push("orphan".into());
    put_wal(
        tb.storage(),
        &Key {
            name: "orphan".into(),
        },
    )
    .await
    .unwrap();
    // Too young: left alone, but the periodic function ran.
    tb.tick(false).await.unwrap();
    assert_eq!(state.ticks.load(Ordering::SeqCst), 1);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    // A failing rollback keeps the entry for the next tick.
    state.fail_rollback.store(true, Ordering::SeqCst);
    let err = tb.tick(true).await.unwrap_err();
    assert!(err.to_string().contains("upstream down"), "{err}");
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    state.fail_rollback.store(false, Ordering::SeqCst);
    tb.tick(true).await.unwrap();
    assert!(state.keys.lock().await.is_empty());
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_mount_option_wal_rollback_min_age_decides_when_entries_roll_back() {
    let setup = |age: Option<&str>| SetupContext {
        config: age
            .map(|a| ("wal_rollback_min_age".to_owned(), a.to_owned()))
            .into_iter()
            .collect(),
        backend_uuid: String::new(),
        storage: Arc::new(crate::storage::MemoryStorage::new()),
        system_view: Arc::new(StaticSystemView::default()),
    };
    for (option, rolled_back) in [(None, false), (Some("0s"), true), (Some("1h"), false)] {
        let mut b = backend();
        b.configure(&setup(option)).unwrap();
        let tb = TestBackend::new(b);
        put_wal(tb.storage(), &Key { name: "k".into() })
            .await
            .unwrap();
        tb.tick(false).await.unwrap();
        let left = list_wal(tb.storage()).await.unwrap().len();
        assert_eq!(left, usize::from(!rolled_back), "{option:?}");
    }
    let err = backend().configure(&setup(Some("soon"))).unwrap_err();
    assert!(
        err.to_string()
            .contains("mount option wal_rollback_min_age"),
        "{err}"
    );
}

#[tokio::test]
async fn old_wal_entries_roll_back_on_a_normal_tick() {
    let b = Backend::builder(State::default())
        .wal_rollback(undo_key)
        .wal_rollback_min_age(Duration::ZERO)
        .build()
        .unwrap();
    let tb = TestBackend::new(b);
    put_wal(tb.storage(), &Key { name: "k".into() })
        .await
        .unwrap();
    put_wal(tb.storage(), &Other {}).await.unwrap();
    tb.tick(false).await.unwrap();
    // The entry of an unknown kind stays.
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn auth_renew_is_routed_and_honours_the_period() {
    let tb = TestBackend::new(backend());
    let auth = Auth {
        period: Duration::from_secs(120),
        ..Auth::default()
    };
    let resp = tb
        .request(Operation::Renew, "login")
        .auth(auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.auth.unwrap().lease.ttl, Duration::from_secs(120));

    let plain = Backend::builder(State::default()).build().unwrap();
    let tb = TestBackend::new(plain);
    let err = tb
        .request(Operation::Renew, "login")
        .auth(Auth::default())
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not renew"), "{err}");
}

#[tokio::test]
async fn lifecycle_hooks_run() {
    use crate::backend::LogicalBackend;
    let b = backend();
    b.cleanup().await;
    b.invalidate("config").await;
    assert_eq!(b.state().cleaned.load(Ordering::SeqCst), 1);
    assert_eq!(*b.state().invalidated.lock().await, ["config"]);

    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let b = Backend::builder(())
        .initialize(move |_: Arc<()>, ctx: crate::backend::HookContext| {
            let counter = Arc::clone(&counter);
            async move {
                ctx.storage.put_json("init", &true).await?;
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        })
        .build()
        .unwrap();
    let tb = TestBackend::new(b);
    tb.initialize().await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(tb.storage().get("init").await.unwrap().is_some());
}

#[tokio::test]
async fn help_answers_on_every_path() {
    let tb = TestBackend::new(backend());
    for path in ["", "item/x", "creds", "nowhere"] {
        let data = tb.request(Operation::Help, path).data_of().await.unwrap();
        assert!(data["help"].is_string(), "{path}: {data:?}");
    }
    let data = tb
        .request(Operation::Help, "item/x")
        .data_of()
        .await
        .unwrap();
    assert!(data["help"].as_str().unwrap().contains("an item"));
}

#[test]
fn item_args_schema_comes_from_the_struct() {
    let schema = ItemArgs::schema();
    let names: Vec<_> = schema.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["name", "ttl", "tags", "count"]);
    assert_eq!(schema[1].description, "How long it lives.");
    assert!(schema[3].required);
}

/// A role with the standard token fields flattened in.
#[derive(Fields)]
struct TokenRoleArgs {
    /// The role's name.
    #[field(path)]
    name: String,
    #[field(flatten)]
    token: TokenFields,
}

async fn write_token_role(_: Arc<()>, req: Request, args: TokenRoleArgs) -> Result<Response> {
    let mut params = TokenParams::default();
    params.update(&args.token)?;
    req.storage()
        .put_json(&format!("role/{}", args.name), &params)
        .await?;
    Ok(Response::empty())
}

#[tokio::test]
async fn flattened_token_fields_decode_and_are_known_to_the_path() {
    let b = Backend::builder(())
        .path(Path::new("role/{name}").update(write_token_role))
        .build()
        .unwrap();
    let tb = TestBackend::new(b);
    let resp = tb
        .request(Operation::Update, "role/r")
        .data(json!({"token_ttl": "1h", "policies": "a,b"}))
        .send()
        .await
        .unwrap();
    assert!(resp.warnings.is_empty(), "{:?}", resp.warnings);
    let params: TokenParams = tb.storage().get_json("role/r").await.unwrap().unwrap();
    assert_eq!(params.token_ttl, Duration::from_secs(3600));
    assert_eq!(params.token_policies, ["a", "b"]);
    let err = tb
        .request(Operation::Update, "role/r")
        .field("token_type", "bulk")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("token_type"), "{err}");
}

async fn name_op(_: Arc<()>, req: Request) -> Result<Response> {
    Response::json(&json!({ "op": req.operation.as_str() }))
}

#[tokio::test]
async fn auth_lookahead_resolve_role_and_header_operations_are_routed() {
    let b = Backend::builder(())
        .path(
            Path::new("login")
                .update(name_op)
                .alias_lookahead(name_op)
                .resolve_role(name_op)
                .header(name_op),
        )
        .build()
        .unwrap();
    let tb = TestBackend::new(b);
    for op in [
        Operation::Update,
        Operation::AliasLookahead,
        Operation::ResolveRole,
        Operation::Header,
    ] {
        let data = tb.request(op, "login").data_of().await.unwrap();
        assert_eq!(data["op"], op.as_str());
    }
    let err = tb
        .request(Operation::Read, "login")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedOperation));
}

/// Arguments that repeat `ttl`, which `TokenFields` also declares.
#[derive(Fields)]
struct ClashingArgs {
    /// A ttl of our own.
    ttl: Option<Duration>,
    #[field(flatten)]
    token: TokenFields,
}

async fn clashing(_: Arc<()>, _: Request, args: ClashingArgs) -> Result<Response> {
    Response::json(
        &json!({ "ttl": args.ttl.map(|d| d.as_secs()), "token_ttl": args.token.token_ttl.map(|d| d.as_secs()) }),
    )
}

#[test]
fn a_field_declared_twice_in_one_handler_is_refused_at_build() {
    let err = Backend::builder(())
        .path(Path::new("role").update(clashing))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::DuplicateField { ref field, .. } if field == "ttl"),
        "{err}"
    );
}

async fn login(_: Arc<()>, _: Request) -> Result<Response> {
    let mut auth = Auth::default();
    auth.lease.renewable = true;
    Ok(Response::auth(auth))
}

#[tokio::test]
async fn tokens_are_renewable_only_when_the_backend_renews_them() {
    let without = Backend::builder(())
        .path(Path::new("login").update(login))
        .build()
        .unwrap();
    let resp = TestBackend::new(without)
        .request(Operation::Update, "login")
        .send()
        .await
        .unwrap();
    assert!(!resp.auth.unwrap().lease.renewable);
    let with = Backend::builder(())
        .path(Path::new("login").update(login))
        .auth_renew(|_: Arc<()>, req: Request| async move {
            req.renew_auth(Duration::ZERO, Duration::ZERO).await
        })
        .build()
        .unwrap();
    let resp = TestBackend::new(with)
        .request(Operation::Update, "login")
        .send()
        .await
        .unwrap();
    assert!(resp.auth.unwrap().lease.renewable);
}

#[test]
fn special_path_wildcards_are_checked_at_build() {
    let build = |unauthenticated: &[&str]| {
        Backend::builder(())
            .special_paths(crate::SpecialPaths {
                unauthenticated: unauthenticated.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            })
            .build()
    };
    for ok in ["login", "login/*", "role/+/login", "+/x/*"] {
        assert!(build(&[ok]).is_ok(), "{ok}");
    }
    for bad in ["lo*gin", "role/a+/login", "*/x"] {
        let err = build(&[bad]).unwrap_err();
        assert!(
            matches!(err, BuildError::SpecialPath(ref p) if p == bad),
            "{bad}: {err}"
        );
    }
}

/// A stored account: `password` is write-only.
#[derive(Fields, Serialize, Deserialize)]
struct Account {
    #[field(required)]
    user: String,
    #[field(secret, required)]
    password: fields::Redacted<String>,
    #[field(default = "1h")]
    #[serde(with = "crate::storage::secs")]
    ttl: Duration,
}

const ACCOUNTS: crate::storage::Collection<Account> = crate::storage::Collection::new("account/");

async fn write_account(
    _: Arc<()>,
    req: Request,
    (Name(name), update): (Name, fields::Update<Account>),
) -> Result<Response> {
    let account = update.apply(ACCOUNTS.load(req.storage(), &name).await?)?;
    ACCOUNTS.save(req.storage(), &name, &account).await?;
    Ok(Response::empty())
}

async fn read_account(_: Arc<()>, req: Request, Name(name): Name) -> Result<Response> {
    // The whole stored value, password included: the router removes it.
    Response::stored(ACCOUNTS.load(req.storage(), &name).await?.as_ref())
}

async fn account_exists(_: Arc<()>, req: Request, Name(name): Name) -> Result<bool> {
    ACCOUNTS.exists(req.storage(), &name).await
}

fn accounts() -> Backend<()> {
    Backend::builder(())
        .path(
            Path::new("account/{name}")
                .read(read_account)
                .write(write_account, account_exists),
        )
        .build()
        .expect("backend builds")
}

#[tokio::test]
async fn partial_updates_change_only_what_was_sent_and_create_applies_defaults() {
    let tb = TestBackend::new(accounts());
    // A create must send the required fields.
    let err = tb
        .request(Operation::Create, "account/a")
        .field("user", "alice")
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("\"password\""));
    assert!(!ACCOUNTS.exists(tb.storage(), "a").await.unwrap());
    tb.request(Operation::Create, "account/a")
        .data(json!({"user": "alice", "password": "pw1"}))
        .send()
        .await
        .unwrap();
    let stored = ACCOUNTS.load(tb.storage(), "a").await.unwrap().unwrap();
    assert_eq!(stored.ttl, Duration::from_secs(3600));
    // An update sends one field; the others keep their values.
    tb.request(Operation::Update, "account/a")
        .field("ttl", "5m")
        .send()
        .await
        .unwrap();
    let stored = ACCOUNTS.load(tb.storage(), "a").await.unwrap().unwrap();
    assert_eq!(
        (
            stored.user.as_str(),
            stored.password.expose().as_str(),
            stored.ttl
        ),
        ("alice", "pw1", Duration::from_secs(300))
    );
    // A bad value is a 400 before anything changes.
    let err = tb
        .request(Operation::Update, "account/a")
        .data(json!({"ttl": "soon", "user": "bob"}))
        .send()
        .await
        .unwrap_err();
    assert!(bad_request(err).contains("\"ttl\""));
    let stored = ACCOUNTS.load(tb.storage(), "a").await.unwrap().unwrap();
    assert_eq!(stored.user, "alice");
    assert_eq!(format!("{:?}", stored.password), "[redacted]");
}

#[tokio::test]
async fn write_only_fields_never_come_back_on_read_and_missing_reads_are_empty() {
    let tb = TestBackend::new(accounts());
    let missing = tb
        .request(Operation::Read, "account/a")
        .send()
        .await
        .unwrap();
    assert!(missing.is_empty(), "{missing:?}");
    tb.request(Operation::Create, "account/a")
        .data(json!({"user": "alice", "password": "pw1"}))
        .send()
        .await
        .unwrap();
    let data = tb
        .request(Operation::Read, "account/a")
        .data_of()
        .await
        .unwrap();
    assert_eq!(Value::Object(data), json!({"user": "alice", "ttl": 3600}));
}

#[test]
fn a_handler_taking_a_capture_the_pattern_lacks_is_refused_at_build() {
    let err = Backend::builder(())
        .path(Path::new("account").read(read_account))
        .build()
        .unwrap_err();
    assert!(
        matches!(err, BuildError::MissingCapture { ref field, .. } if field == "name"),
        "{err}"
    );
    let err = Backend::builder(())
        .path(Path::new("account/{id}").write(write_account, account_exists))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("{name}"), "{err}");
}
