//! In-process tests of a backend on read-only storage, as an OpenBao
//! standby runs it: writes fail with the host's error and that error goes
//! back unchanged; the periodic tick and WAL rollbacks stay quiet.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::wal::{WalKind, list_wal, put_wal};
use super::*;
use crate::backend::HookContext;
use crate::storage::StorageExt;
use crate::testing::TestBackend;
use crate::{Error, Result};

#[derive(Default)]
struct State {
    periodic_runs: AtomicUsize,
    rolled_back: AtomicUsize,
    writable_seen_by_initialize: std::sync::Mutex<Vec<bool>>,
}

#[derive(Serialize, Deserialize)]
struct Pending {
    name: String,
}

impl WalKind for Pending {
    const KIND: &'static str = "pending";
}

async fn write(_: Arc<State>, req: Request) -> Result<Response> {
    req.storage().put_json("value", &req.data).await?;
    Ok(Response::empty())
}

async fn read(_: Arc<State>, req: Request) -> Result<Response> {
    let data: Option<serde_json::Map<String, serde_json::Value>> =
        req.storage().get_json("value").await?;
    data.map(Response::with_data)
        .ok_or_else(|| Error::not_found("nothing stored"))
}

async fn exists(_: Arc<State>, req: Request) -> Result<bool> {
    Ok(req.storage().get("value").await?.is_some())
}

/// Writes on every tick, without asking whether it may.
async fn periodic(state: Arc<State>, req: Request) -> Result<()> {
    state.periodic_runs.fetch_add(1, Ordering::SeqCst);
    req.storage().put_json("last_tick", &1).await?;
    Ok(())
}

async fn roll_back(state: Arc<State>, _: Request, _: Pending) -> Result<()> {
    state.rolled_back.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Notes whether storage is writable, then writes anyway, so the test sees
/// what reaches the host.
async fn initialize(state: Arc<State>, ctx: HookContext) -> Result<()> {
    let writable = ctx.storage_writable().await?;
    state
        .writable_seen_by_initialize
        .lock()
        .unwrap()
        .push(writable);
    ctx.storage.put_json("initialized", &true).await?;
    Ok(())
}

fn kit() -> TestBackend<Backend<State>> {
    let backend = Backend::builder(State::default())
        .path(Path::new("value").read(read).write(write, exists))
        .periodic(periodic)
        .wal_rollback(roll_back)
        .wal_rollback_min_age(Duration::ZERO)
        .initialize(initialize)
        .build()
        .expect("backend builds");
    TestBackend::new(backend)
}

#[tokio::test]
async fn a_write_on_a_standby_fails_with_the_read_only_error_and_reads_work() {
    let mut tb = kit();
    tb.request(Operation::Update, "value")
        .field("v", 1)
        .send()
        .await
        .unwrap();
    tb.set_standby(true);
    assert!(
        !tb.request(Operation::Read, "value")
            .send()
            .await
            .unwrap()
            .data
            .unwrap()
            .is_empty()
    );
    let err = tb
        .request(Operation::Update, "value")
        .field("v", 2)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err:?}");
    assert_eq!(err.to_string(), "cannot write to readonly storage");
    let stored: serde_json::Value = tb.storage().get_json("value").await.unwrap().unwrap();
    assert_eq!(stored["v"], 1, "the standby changed nothing");
}

#[tokio::test]
async fn hooks_see_whether_storage_is_writable() {
    let mut tb = kit();
    let state = Arc::clone(tb.backend().state());
    tb.initialize().await.unwrap();
    tb.set_standby(true);
    let err = tb.initialize().await.unwrap_err();
    assert!(matches!(err, Error::ReadOnly), "{err:?}");
    assert_eq!(
        *state.writable_seen_by_initialize.lock().unwrap(),
        [true, false]
    );
}

#[tokio::test]
async fn a_tick_on_a_standby_succeeds_and_leaves_wal_entries_to_the_active_node() {
    let mut tb = kit();
    let state = Arc::clone(tb.backend().state());
    put_wal(tb.storage(), &Pending { name: "k".into() })
        .await
        .unwrap();
    tb.set_standby(true);
    tb.tick(true).await.unwrap();
    assert_eq!(state.periodic_runs.load(Ordering::SeqCst), 1);
    assert_eq!(state.rolled_back.load(Ordering::SeqCst), 0);
    assert_eq!(list_wal(tb.storage()).await.unwrap().len(), 1);
    tb.set_standby(false);
    tb.tick(true).await.unwrap();
    assert_eq!(state.rolled_back.load(Ordering::SeqCst), 1);
    assert!(list_wal(tb.storage()).await.unwrap().is_empty());
    assert_eq!(
        tb.storage().get_json::<u32>("last_tick").await.unwrap(),
        Some(1)
    );
}
