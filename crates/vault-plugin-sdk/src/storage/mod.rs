//! Plugin storage: the mount's own key/value space inside the host.
//!
//! Handlers see one [`Storage`] trait. In a running plugin it is backed by
//! the host's `pb.Storage` service reached through the broker
//! ([`GrpcStorage`]); in tests by [`MemoryStorage`]. Both behave the same way,
//! including `list`, which returns only the next level of keys below a
//! prefix, with folders ending in `/`, like Vault.

mod entry;
mod grpc;
mod memory;
pub mod secs;

pub use entry::{Collection, Entry};
pub use grpc::GrpcStorage;
pub use memory::MemoryStorage;

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageEntry {
    /// The key, relative to the mount.
    pub key: String,
    /// The raw bytes.
    pub value: Vec<u8>,
    /// Ask the host to seal-wrap this entry where supported.
    pub seal_wrap: bool,
}

impl StorageEntry {
    /// An entry holding `value` under `key`.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            seal_wrap: false,
        }
    }
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The host answered with an error.
    #[error("storage error from host: {0}")]
    Host(String),
    /// The call to the host failed (connection, timeout, ...).
    #[error("storage call failed: {0}")]
    Transport(String),
    /// A stored value could not be decoded as the expected type.
    #[error("stored value at {key:?} is not valid: {reason}")]
    Decode {
        /// The key whose value did not decode.
        key: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// There is no storage (the plugin runs in metadata mode).
    #[error("storage is not available in metadata mode")]
    Unavailable,
}

/// The mount's key/value storage.
#[async_trait]
pub trait Storage: Send + Sync {
    /// The entry at `key`, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<StorageEntry>, StorageError>;
    /// Stores `entry`, replacing any previous value.
    async fn put(&self, entry: StorageEntry) -> Result<(), StorageError>;
    /// Removes `key`; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// The keys directly below `prefix`; sub-folders end in `/`.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
}

/// JSON helpers for any [`Storage`]. Their errors are the SDK's [`Error`](crate::Error),
/// so `?` works in handlers; [`Entry`] and [`Collection`] build on them.
#[async_trait]
pub trait StorageExt: Storage {
    /// Reads and decodes the JSON value at `key`.
    async fn get_json<T: DeserializeOwned>(&self, key: &str) -> crate::Result<Option<T>> {
        let Some(entry) = self.get(key).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&entry.value)
            .map(Some)
            .map_err(|err| {
                StorageError::Decode {
                    key: key.to_owned(),
                    reason: err.to_string(),
                }
                .into()
            })
    }

    /// Encodes `value` as JSON and stores it at `key`.
    async fn put_json<T: Serialize + Sync>(&self, key: &str, value: &T) -> crate::Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|err| StorageError::Decode {
            key: key.to_owned(),
            reason: err.to_string(),
        })?;
        Ok(self.put(StorageEntry::new(key, bytes)).await?)
    }
}

impl<S: Storage + ?Sized> StorageExt for S {}

/// The storage of a plugin started in metadata mode: every call fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStorage;

#[async_trait]
impl Storage for NoStorage {
    async fn get(&self, _key: &str) -> Result<Option<StorageEntry>, StorageError> {
        Err(StorageError::Unavailable)
    }
    async fn put(&self, _entry: StorageEntry) -> Result<(), StorageError> {
        Err(StorageError::Unavailable)
    }
    async fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Err(StorageError::Unavailable)
    }
    async fn list(&self, _prefix: &str) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Unavailable)
    }
}
