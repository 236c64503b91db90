//! A read-only view of a [`Storage`], refusing writes as the host does on a
//! standby node.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Storage, StorageEntry, StorageError};

/// Reads go to the wrapped storage; every write (`put`, `delete`) fails with
/// [`StorageError::ReadOnly`], the error a plugin gets from the host on a
/// standby node or during the read-only phase of an unseal. The test kit
/// (feature `test-util`) uses it for `TestBackend::set_standby`.
#[derive(Clone)]
pub struct ReadOnlyStorage {
    inner: Arc<dyn Storage>,
}

impl ReadOnlyStorage {
    /// A read-only view of `inner`: what it holds stays readable.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Debug for ReadOnlyStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadOnlyStorage")
    }
}

#[async_trait]
impl Storage for ReadOnlyStorage {
    async fn get(&self, key: &str) -> Result<Option<StorageEntry>, StorageError> {
        self.inner.get(key).await
    }

    async fn put(&self, _entry: StorageEntry) -> Result<(), StorageError> {
        Err(StorageError::ReadOnly)
    }

    async fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Err(StorageError::ReadOnly)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.list(prefix).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MemoryStorage, StorageExt};

    #[tokio::test]
    async fn reads_pass_through_and_writes_fail_as_on_the_host() {
        let memory = Arc::new(MemoryStorage::new());
        memory.put_json("a/b", &1).await.unwrap();
        let ro = ReadOnlyStorage::new(memory.clone());
        assert_eq!(ro.get_json::<u32>("a/b").await.unwrap(), Some(1));
        assert_eq!(ro.list("a/").await.unwrap(), ["b"]);
        for err in [
            ro.put_json("a/c", &2).await.unwrap_err(),
            ro.delete("a/b").await.unwrap_err().into(),
        ] {
            assert!(matches!(err, crate::Error::ReadOnly), "{err:?}");
            assert_eq!(err.to_string(), "cannot write to readonly storage");
        }
        assert_eq!(memory.list("a/").await.unwrap(), ["b"], "nothing changed");
    }
}
