//! The write-ahead log: undo for side effects that storage never learned of.
//!
//! Before a handler does something outside Vault (creates an upstream key),
//! it writes a WAL entry saying how to undo it; once the result is safely in
//! storage (or in a lease), it deletes the entry. If the plugin dies in
//! between, the entry stays, and on a later periodic tick the backend's
//! rollback for the entry's kind undoes the side effect. Entries live under
//! `wal/` as `{"type", "data", "created_at"}`, as the Go SDK writes them.
//!
//! The data of each kind of entry is a Rust type implementing [`WalKind`]:
//! [`put_wal`] writes it, and the rollback the backend declares for it
//! ([`Builder::wal_rollback`](super::Builder::wal_rollback)) receives it, so
//! the two cannot disagree on the kind or the shape.

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::storage::{Storage, StorageExt};
use crate::{Error, Result};

/// The storage prefix of WAL entries.
pub const WAL_PREFIX: &str = "wal/";

/// One WAL entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalEntry {
    /// The entry's id (its key below `wal/`).
    #[serde(skip)]
    pub id: String,
    /// What kind of side effect it covers; picks the rollback handler.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the rollback needs.
    pub data: Value,
    /// When it was written, in seconds since the epoch.
    pub created_at: i64,
}

impl WalEntry {
    /// The entry's age now.
    pub fn age(&self) -> Duration {
        let created = SystemTime::UNIX_EPOCH + Duration::from_secs(self.created_at.max(0) as u64);
        SystemTime::now()
            .duration_since(created)
            .unwrap_or(Duration::ZERO)
    }

    /// The data decoded as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_value(self.data.clone()).map_err(|e| {
            Error::internal(format!(
                "WAL entry {} ({}) is unreadable: {e}",
                self.id, self.kind
            ))
        })
    }
}

/// The data of one kind of WAL entry, with the kind's name.
///
/// The name is stored in the entry (`type`) and picks the rollback, so it
/// must never change while entries may exist.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use vault_plugin_sdk::framework::wal::WalKind;
///
/// /// A key being minted: enough to find and delete it.
/// #[derive(Serialize, Deserialize)]
/// struct PendingKey {
///     key_name: String,
/// }
///
/// impl WalKind for PendingKey {
///     const KIND: &'static str = "pending_key";
/// }
/// ```
pub trait WalKind: Serialize + DeserializeOwned + Send + 'static {
    /// The kind's name in the entry; never change it.
    const KIND: &'static str;
}

/// Writes a WAL entry holding `data`; returns its id.
pub async fn put_wal<T: WalKind + Sync>(storage: &dyn Storage, data: &T) -> Result<String> {
    let id = new_id()?;
    let entry = WalEntry {
        id: id.clone(),
        kind: T::KIND.to_owned(),
        data: serde_json::to_value(data)?,
        created_at: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    storage
        .put_json(&format!("{WAL_PREFIX}{id}"), &entry)
        .await?;
    Ok(id)
}

/// A failed side effect that can say whether it certainly changed nothing:
/// an upstream that refused the call (a 4xx) made nothing, while after a
/// timeout or a 5xx it may have.
pub trait Refusal {
    /// Whether the upstream refused the call, so nothing exists to undo.
    fn is_refusal(&self) -> bool;
}

/// A WAL entry covering one side effect while it is under way.
///
/// [`begin`](Self::begin) writes the entry before the side effect (on a
/// read-only standby the request stops there, before anything exists
/// upstream); [`attempt`](Self::attempt) runs the side effect, forgetting
/// the entry when the upstream refused it; [`done`](Self::done) deletes the
/// entry once the result is in a lease or in storage. Dropped without
/// `done`, the entry stays and the backend's rollback undoes the effect.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # use vault_plugin_sdk::framework::wal::{Refusal, WalGuard, WalKind, list_wal};
/// # use vault_plugin_sdk::storage::MemoryStorage;
/// # #[derive(Serialize, Deserialize)]
/// # struct PendingKey { name: String }
/// # impl WalKind for PendingKey { const KIND: &'static str = "pending_key"; }
/// # struct Refused;
/// # impl Refusal for Refused { fn is_refusal(&self) -> bool { true } }
/// # async fn create_key(name: &str) -> Result<String, Refused> { Ok(format!("secret-of-{name}")) }
/// # async fn quota_exceeded(_: &str) -> Result<String, Refused> { Err(Refused) }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let storage = MemoryStorage::new();
/// let name = "vault-ci-1".to_owned();
/// let pending = WalGuard::begin(&storage, &PendingKey { name: name.clone() }).await?;
/// let key = pending.attempt(create_key(&name)).await.ok();
/// // ... the key goes into a lease; from now on the lease owns it.
/// pending.done().await?;
/// assert!(key.is_some() && list_wal(&storage).await?.is_empty());
///
/// // A refusal created nothing: no entry is left for the rollback.
/// let pending = WalGuard::begin(&storage, &PendingKey { name: name.clone() }).await?;
/// assert!(pending.attempt(quota_exceeded(&name)).await.is_err());
/// assert!(list_wal(&storage).await?.is_empty());
/// # Ok::<(), vault_plugin_sdk::Error>(()) }).unwrap();
/// ```
#[must_use = "without `done`, the entry stays and the rollback undoes the side effect"]
pub struct WalGuard<'a> {
    storage: &'a dyn Storage,
    id: String,
}

impl<'a> WalGuard<'a> {
    /// Writes the entry holding `data`, before the side effect.
    pub async fn begin<T: WalKind + Sync>(storage: &'a dyn Storage, data: &T) -> Result<Self> {
        let id = put_wal(storage, data).await?;
        Ok(Self { storage, id })
    }

    /// Runs the side effect. When the upstream refused it, the entry is
    /// deleted (there is nothing to undo); after any other failure it stays
    /// for the rollback. The effect's own result comes back unchanged.
    pub async fn attempt<R, E: Refusal>(
        &self,
        effect: impl Future<Output = std::result::Result<R, E>>,
    ) -> std::result::Result<R, E> {
        let result = effect.await;
        if result.as_ref().is_err_and(Refusal::is_refusal)
            && let Err(err) = delete_wal(self.storage, &self.id).await
        {
            // Harmless: the rollback finds nothing to undo.
            tracing::warn!(error = %err, "could not delete the WAL entry of a refused call");
        }
        result
    }

    /// The side effect is recorded elsewhere now (a lease, storage): deletes
    /// the entry.
    pub async fn done(self) -> Result<()> {
        delete_wal(self.storage, &self.id).await
    }
}

/// Reads the WAL entry `id`, if it still exists.
pub async fn get_wal(storage: &dyn Storage, id: &str) -> Result<Option<WalEntry>> {
    let entry: Option<WalEntry> = storage.get_json(&format!("{WAL_PREFIX}{id}")).await?;
    Ok(entry.map(|mut e| {
        e.id = id.to_owned();
        e
    }))
}

/// Deletes the WAL entry `id` (the side effect is now recorded elsewhere).
pub async fn delete_wal(storage: &dyn Storage, id: &str) -> Result<()> {
    storage.delete(&format!("{WAL_PREFIX}{id}")).await?;
    Ok(())
}

/// The ids of every WAL entry.
pub async fn list_wal(storage: &dyn Storage) -> Result<Vec<String>> {
    Ok(storage.list(WAL_PREFIX).await?)
}

/// A random UUID (version 4), as the Go SDK names entries.
fn new_id() -> Result<String> {
    let mut b = [0u8; 16];
    crate::random::fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;
    use serde_json::json;

    #[derive(Serialize, Deserialize)]
    struct Key {
        name: String,
    }

    impl WalKind for Key {
        const KIND: &'static str = "key";
    }

    #[tokio::test]
    async fn put_get_list_delete() {
        let s = MemoryStorage::new();
        let key = Key {
            name: "k1".to_owned(),
        };
        let id = put_wal(&s, &key).await.unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(list_wal(&s).await.unwrap(), vec![id.clone()]);
        let entry = get_wal(&s, &id).await.unwrap().unwrap();
        assert_eq!(entry.kind, "key");
        assert_eq!(entry.data, json!({"name": "k1"}));
        assert!(entry.age() < Duration::from_secs(5));
        // The stored form is the Go SDK's.
        let raw: Value = s.get_json(&format!("wal/{id}")).await.unwrap().unwrap();
        assert_eq!(raw["type"], "key");
        assert!(raw["created_at"].is_i64());
        delete_wal(&s, &id).await.unwrap();
        assert!(get_wal(&s, &id).await.unwrap().is_none());
        assert!(list_wal(&s).await.unwrap().is_empty());
    }

    #[test]
    fn ids_are_distinct_uuids() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
    }
}
