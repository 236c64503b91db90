//! Typed storage entries: a singleton (`config`) and a named collection
//! (`role/<name>`), each declared once as a constant.
//!
//! Every plugin stores a config and a set of named roles as JSON; these
//! two types say where and as what, so handlers read
//! `CONFIG.load(req.storage()).await?` instead of repeating keys, formats
//! and decode errors.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Storage, StorageExt};
use crate::Result;

/// One JSON value of type `T` at a fixed key, e.g. the mount's `config`.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// use vault_plugin_sdk::storage::{Entry, MemoryStorage};
///
/// #[derive(Serialize, Deserialize)]
/// struct Config {
///     url: String,
/// }
///
/// const CONFIG: Entry<Config> = Entry::new("config");
///
/// # tokio_test(async {
/// let storage = MemoryStorage::new();
/// assert!(CONFIG.load(&storage).await?.is_none());
/// CONFIG.save(&storage, &Config { url: "https://x".into() }).await?;
/// assert_eq!(CONFIG.load(&storage).await?.map(|c| c.url).as_deref(), Some("https://x"));
/// # Ok::<(), vault_plugin_sdk::Error>(()) });
/// # fn tokio_test<F: std::future::Future<Output = vault_plugin_sdk::Result<()>>>(f: F) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f).unwrap()
/// # }
/// ```
pub struct Entry<T> {
    key: &'static str,
    _value: PhantomData<fn() -> T>,
}

// By hand: the derives would ask `T: Clone`, and only the key is copied.
impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Entry<T> {}

impl<T: Serialize + DeserializeOwned + Sync> Entry<T> {
    /// The entry stored at `key`.
    pub const fn new(key: &'static str) -> Self {
        Self {
            key,
            _value: PhantomData,
        }
    }

    /// The storage key.
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The stored value, if any.
    pub async fn load(&self, storage: &dyn Storage) -> Result<Option<T>> {
        storage.get_json(self.key).await
    }

    /// Whether a value is stored (an existence check).
    pub async fn exists(&self, storage: &dyn Storage) -> Result<bool> {
        Ok(storage.get(self.key).await?.is_some())
    }

    /// Stores `value`, replacing the old one.
    pub async fn save(&self, storage: &dyn Storage, value: &T) -> Result<()> {
        storage.put_json(self.key, value).await
    }

    /// Removes the value (removing nothing is not an error).
    pub async fn delete(&self, storage: &dyn Storage) -> Result<()> {
        Ok(storage.delete(self.key).await?)
    }
}

/// JSON values of type `T` under a prefix, one per name, e.g. the roles at
/// `role/<name>`.
pub struct Collection<T> {
    prefix: &'static str,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Collection<T> {}

impl<T: Serialize + DeserializeOwned + Sync> Collection<T> {
    /// The collection below `prefix` (which ends in `/`, e.g. `"role/"`).
    pub const fn new(prefix: &'static str) -> Self {
        Self {
            prefix,
            _value: PhantomData,
        }
    }

    /// The prefix, ending in `/`.
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The storage key of `name`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The value called `name`, if any.
    pub async fn load(&self, storage: &dyn Storage, name: &str) -> Result<Option<T>> {
        storage.get_json(&self.key(name)).await
    }

    /// The value called `name`; a 400 `no role "<name>"` (the prefix's
    /// last word) when there is none, for handlers that use one (`creds/<role>`).
    pub async fn require(&self, storage: &dyn Storage, name: &str) -> Result<T> {
        self.load(storage, name).await?.ok_or_else(|| {
            let kind = self.prefix.trim_end_matches('/').rsplit('/').next();
            crate::Error::bad_request(format!("no {} {name:?}", kind.unwrap_or_default()))
        })
    }

    /// Whether `name` exists (an existence check).
    pub async fn exists(&self, storage: &dyn Storage, name: &str) -> Result<bool> {
        Ok(storage.get(&self.key(name)).await?.is_some())
    }

    /// Stores `value` as `name`.
    pub async fn save(&self, storage: &dyn Storage, name: &str, value: &T) -> Result<()> {
        storage.put_json(&self.key(name), value).await
    }

    /// Removes `name` (removing nothing is not an error).
    pub async fn delete(&self, storage: &dyn Storage, name: &str) -> Result<()> {
        Ok(storage.delete(&self.key(name)).await?)
    }

    /// The names stored, in storage order.
    pub async fn list(&self, storage: &dyn Storage) -> Result<Vec<String>> {
        Ok(storage.list(self.prefix).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    const ROLES: Collection<u32> = Collection::new("role/");

    #[tokio::test]
    async fn a_collection_saves_lists_and_deletes_by_name() {
        let s = MemoryStorage::new();
        assert!(ROLES.list(&s).await.unwrap().is_empty());
        ROLES.save(&s, "a", &1).await.unwrap();
        ROLES.save(&s, "b", &2).await.unwrap();
        assert_eq!(ROLES.load(&s, "b").await.unwrap(), Some(2));
        assert_eq!(ROLES.require(&s, "b").await.unwrap(), 2);
        let err = ROLES.require(&s, "c").await.unwrap_err();
        assert_eq!(
            (err.status(), err.to_string()),
            (400, r#"no role "c""#.into())
        );
        assert!(ROLES.exists(&s, "a").await.unwrap());
        assert_eq!(ROLES.list(&s).await.unwrap(), ["a", "b"]);
        ROLES.delete(&s, "a").await.unwrap();
        assert!(!ROLES.exists(&s, "a").await.unwrap());
        assert_eq!(ROLES.list(&s).await.unwrap(), ["b"]);
    }

    #[tokio::test]
    async fn a_value_that_does_not_decode_is_an_error_naming_the_key() {
        let s = MemoryStorage::new();
        s.put(crate::storage::StorageEntry::new("role/x", "\"text\""))
            .await
            .unwrap();
        let err = ROLES.load(&s, "x").await.unwrap_err();
        assert!(err.to_string().contains("role/x"), "{err}");
    }
}
