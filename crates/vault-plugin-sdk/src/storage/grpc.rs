//! [`Storage`] backed by the host's `pb.Storage` service over the broker.

use async_trait::async_trait;
use tonic::transport::Channel;
use vault_plugin_proto::pb;
use vault_plugin_proto::pb::storage_client::StorageClient;

use super::{READ_ONLY_MESSAGE, Storage, StorageEntry, StorageError};

/// The host's storage for one mount, reached through a brokered channel.
#[derive(Debug, Clone)]
pub struct GrpcStorage {
    client: StorageClient<Channel>,
}

impl GrpcStorage {
    /// Storage calls over `channel`, with message limits raised to the host's.
    pub fn new(channel: Channel) -> Self {
        let client = StorageClient::new(channel)
            .max_decoding_message_size(crate::transport::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(crate::transport::MAX_MESSAGE_SIZE);
        Self { client }
    }
}

fn transport(status: tonic::Status) -> StorageError {
    StorageError::Transport(status.message().to_owned())
}

/// The host's error string of a storage reply (empty when the call worked).
/// The host sends `logical.ErrReadOnly` as its bare text; like the host, we
/// recognise it by that text.
fn host(err: String) -> Result<(), StorageError> {
    if err.is_empty() {
        Ok(())
    } else if err.contains(READ_ONLY_MESSAGE) {
        Err(StorageError::ReadOnly)
    } else {
        Err(StorageError::Host(err))
    }
}

#[async_trait]
impl Storage for GrpcStorage {
    async fn get(&self, key: &str) -> Result<Option<StorageEntry>, StorageError> {
        let args = pb::StorageGetArgs {
            key: key.to_owned(),
            ..Default::default()
        };
        let reply = self
            .client
            .clone()
            .get(args)
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)?;
        Ok(reply.entry.map(|e| StorageEntry {
            key: e.key,
            value: e.value,
            seal_wrap: e.seal_wrap,
        }))
    }

    async fn put(&self, entry: StorageEntry) -> Result<(), StorageError> {
        let args = pb::StoragePutArgs {
            entry: Some(pb::StorageEntry {
                key: entry.key,
                value: entry.value,
                seal_wrap: entry.seal_wrap,
            }),
            ..Default::default()
        };
        let reply = self
            .client
            .clone()
            .put(args)
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let args = pb::StorageDeleteArgs {
            key: key.to_owned(),
            ..Default::default()
        };
        let reply = self
            .client
            .clone()
            .delete(args)
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let args = pb::StorageListArgs {
            prefix: prefix.to_owned(),
            ..Default::default()
        };
        let reply = self
            .client
            .clone()
            .list(args)
            .await
            .map_err(transport)?
            .into_inner();
        host(reply.err)?;
        Ok(reply.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_read_only_error_is_recognised_and_others_are_kept() {
        assert!(host(String::new()).is_ok());
        let err = host("cannot write to readonly storage".into()).unwrap_err();
        assert!(matches!(err, StorageError::ReadOnly), "{err:?}");
        assert_eq!(err.to_string(), "cannot write to readonly storage");
        let err = host("raft: node is not the leader".into()).unwrap_err();
        assert!(matches!(err, StorageError::Host(ref m) if m == "raft: node is not the leader"));
    }
}
