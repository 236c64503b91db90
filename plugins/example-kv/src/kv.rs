//! `kv/<name>`: a JSON object per name, with an optional expiry that the
//! periodic tidy enforces.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};
use vault_plugin_sdk::framework::fields::{FieldType, Name};
use vault_plugin_sdk::framework::merge_patch;
use vault_plugin_sdk::storage::{StorageEntry, StorageExt};
use vault_plugin_sdk::{Error, Request, Response, Result};

use crate::State;

const PREFIX: &str = "kv/";
const EXPIRY: &str = "kv-expiry/";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the entry exists.
pub async fn exists(_: Arc<State>, req: Request, Name(name): Name) -> Result<bool> {
    Ok(req
        .storage()
        .get(&format!("{PREFIX}{name}"))
        .await?
        .is_some())
}

/// Returns the entry, unless it is missing or expired. Only an entry with a
/// `ttl` field costs a second storage read (its expiry record).
pub async fn read(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let gone = || Error::not_found(format!("no entry {name:?}"));
    let entry = req
        .storage()
        .get(&format!("{PREFIX}{name}"))
        .await?
        .ok_or_else(gone)?;
    let data: Map<String, Value> = serde_json::from_slice(&entry.value)
        .map_err(|e| Error::internal(format!("the entry {name:?} is not valid JSON: {e}")))?;
    if data.contains_key("ttl") {
        let expires: Option<u64> = req.storage().get_json(&format!("{EXPIRY}{name}")).await?;
        if expires.is_some_and(|t| t <= now()) {
            return Err(gone());
        }
    }
    Ok(Response::with_data(data))
}

/// Stores every given field as the entry; a `ttl` field ("30s", "1h")
/// makes the entry expire.
pub async fn write(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let mut data = req.data.clone();
    data.remove("name");
    if data.is_empty() {
        return Err(Error::bad_request(
            "nothing to write: give at least one field, e.g. `value=hello`",
        ));
    }
    store(&req, &name, data).await
}

/// Merges the given fields into the entry (JSON merge patch: a null
/// removes a field).
pub async fn patch(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    let Some(entry) = req.storage().get(&format!("{PREFIX}{name}")).await? else {
        return Err(Error::not_found(format!("no entry {name:?}")));
    };
    let mut current: Value = serde_json::from_slice(&entry.value)
        .map_err(|e| Error::internal(format!("the entry {name:?} is not valid JSON: {e}")))?;
    let mut changes = req.data.clone();
    changes.remove("name");
    merge_patch(&mut current, &Value::Object(changes));
    let Value::Object(data) = current else {
        return Err(Error::internal("a patched entry is always an object"));
    };
    store(&req, &name, data).await
}

async fn store(req: &Request, name: &str, data: Map<String, Value>) -> Result<Response> {
    let ttl = match data.get("ttl") {
        Some(raw) => {
            let secs = FieldType::DurationSecond
                .normalize(raw)
                .map_err(|e| Error::bad_request(format!("ttl: {e}")))?;
            Some(Duration::from_secs(secs.as_u64().unwrap_or(0)))
        }
        None => None,
    };
    req.storage()
        .put(StorageEntry::new(
            format!("{PREFIX}{name}"),
            serde_json::to_vec(&data)?,
        ))
        .await?;
    // An expiry record left from an earlier version of the entry is
    // harmless: it is only read for entries with a `ttl` field, which
    // always write a new one.
    if let Some(ttl) = ttl {
        req.storage()
            .put_json(&format!("{EXPIRY}{name}"), &(now() + ttl.as_secs()))
            .await?;
    }
    Ok(Response::empty())
}

/// Deletes the entry.
pub async fn delete(_: Arc<State>, req: Request, Name(name): Name) -> Result<Response> {
    req.storage().delete(&format!("{PREFIX}{name}")).await?;
    req.storage().delete(&format!("{EXPIRY}{name}")).await?;
    Ok(Response::empty())
}

/// Lists the entry names.
pub async fn list(_: Arc<State>, req: Request) -> Result<Response> {
    let keys = req.storage().list(PREFIX).await?;
    if keys.is_empty() {
        return Err(Error::not_found("no entries"));
    }
    Ok(Response::list(keys))
}

/// The periodic tidy: removes expired entries (and stale expiry records)
/// from storage.
pub async fn tidy(_: Arc<State>, req: Request) -> Result<()> {
    let now = now();
    for name in req.storage().list(EXPIRY).await? {
        let record = format!("{EXPIRY}{name}");
        let expires: Option<u64> = req.storage().get_json(&record).await?;
        if expires.is_none_or(|t| t > now) {
            continue;
        }
        let entry: Option<Map<String, Value>> =
            req.storage().get_json(&format!("{PREFIX}{name}")).await?;
        // Rewritten since without a ttl: the entry stays, the record goes.
        if entry.is_some_and(|data| data.contains_key("ttl")) {
            req.storage().delete(&format!("{PREFIX}{name}")).await?;
        }
        req.storage().delete(&record).await?;
    }
    Ok(())
}
