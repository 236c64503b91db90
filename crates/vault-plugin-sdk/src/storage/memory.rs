//! In-memory [`Storage`] for tests, with the host's listing rules.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Storage, StorageEntry, StorageError};

/// A [`Storage`] kept in a map in memory.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    entries: Mutex<BTreeMap<String, StorageEntry>>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StorageEntry>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every operation is a single map call), so a poisoned lock is safe.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<StorageEntry>, StorageError> {
        Ok(self.entries().get(key).cloned())
    }

    async fn put(&self, entry: StorageEntry) -> Result<(), StorageError> {
        self.entries().insert(entry.key.clone(), entry);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.entries().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let entries = self.entries();
        let mut keys: Vec<String> = Vec::new();
        for key in entries.keys().filter(|k| k.starts_with(prefix)) {
            let rest = &key[prefix.len()..];
            let child = match rest.find('/') {
                Some(i) => &rest[..=i],
                None => rest,
            };
            if keys.last().map(String::as_str) != Some(child) {
                keys.push(child.to_owned());
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageExt;

    #[tokio::test]
    async fn list_returns_one_level_with_folders() {
        let s = MemoryStorage::new();
        for key in ["a", "b/c", "b/d", "b/e/f", "c"] {
            s.put(StorageEntry::new(key, b"x".to_vec())).await.unwrap();
        }
        assert_eq!(s.list("").await.unwrap(), ["a", "b/", "c"]);
        assert_eq!(s.list("b/").await.unwrap(), ["c", "d", "e/"]);
        assert!(s.list("z/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn json_round_trip_and_decode_error() {
        let s = MemoryStorage::new();
        s.put_json("k", &vec![1, 2, 3]).await.unwrap();
        assert_eq!(
            s.get_json::<Vec<u32>>("k").await.unwrap(),
            Some(vec![1, 2, 3])
        );
        let err = s.get_json::<String>("k").await.unwrap_err();
        assert!(err.to_string().contains("\"k\" is not valid"), "{err}");
        s.delete("k").await.unwrap();
        assert_eq!(s.get_json::<Vec<u32>>("k").await.unwrap(), None);
    }
}
