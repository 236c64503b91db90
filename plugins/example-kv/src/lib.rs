//! A small key/value secrets engine, kept as the SDK's living example and as
//! the benchmark vehicle.
//!
//! Paths:
//! * `kv/<name>`: read, write (create or update) and delete a JSON object;
//! * `kv/`: list the names;
//! * `ping`: read, answers without touching storage.

use std::sync::Arc;

use serde_json::{Map, Value};
use vault_plugin_sdk::{Backend, Error, Path, Request, Response, Result, SetupContext};

const PREFIX: &str = "kv/";

/// Builds the backend for one mount.
pub async fn factory(_ctx: SetupContext) -> Result<Backend<()>> {
    backend().map_err(Error::internal)
}

/// The routes, built once per mount.
pub fn backend() -> Result<Backend<()>, vault_plugin_sdk::framework::BuildError> {
    Backend::builder(())
        .help("A key/value store kept in the mount's storage, to show how a plugin is written.")
        .path(
            Path::new("kv/{name}")
                .synopsis("Read, write or delete one entry.")
                .description("Writing stores every given field as the entry; reading returns them.")
                .existence_check(exists)
                .read(read)
                .create(write)
                .update(write)
                .delete(delete),
        )
        .path(Path::new("kv/?").synopsis("List the entries.").list(list))
        .path(
            Path::new("ping")
                .synopsis("Answer without touching storage.")
                .read(ping),
        )
        .build()
}

fn key(req: &Request) -> Result<String> {
    req.param("name")
        .map(|name| format!("{PREFIX}{name}"))
        .ok_or_else(|| Error::bad_request("the path must name an entry: kv/<name>"))
}

async fn exists(_: Arc<()>, req: Request) -> Result<bool> {
    Ok(req.storage().get(&key(&req)?).await?.is_some())
}

async fn read(_: Arc<()>, req: Request) -> Result<Response> {
    let key = key(&req)?;
    let Some(entry) = req.storage().get(&key).await? else {
        return Err(Error::not_found(format!("no entry at {key}")));
    };
    let data: Map<String, Value> = serde_json::from_slice(&entry.value)
        .map_err(|e| Error::internal(format!("the entry at {key} is not valid JSON: {e}")))?;
    Ok(Response::with_data(data))
}

async fn write(_: Arc<()>, req: Request) -> Result<Response> {
    let key = key(&req)?;
    if req.data.is_empty() {
        return Err(Error::bad_request(
            "nothing to write: give at least one field, e.g. `value=hello`",
        ));
    }
    let bytes = serde_json::to_vec(&req.data)?;
    req.storage()
        .put(vault_plugin_sdk::storage::StorageEntry::new(key, bytes))
        .await?;
    Ok(Response::empty())
}

async fn delete(_: Arc<()>, req: Request) -> Result<Response> {
    req.storage().delete(&key(&req)?).await?;
    Ok(Response::empty())
}

async fn list(_: Arc<()>, req: Request) -> Result<Response> {
    let keys = req.storage().list(PREFIX).await?;
    if keys.is_empty() {
        return Err(Error::not_found("no entries"));
    }
    Ok(Response::list(keys))
}

async fn ping(_: Arc<()>, _req: Request) -> Result<Response> {
    let mut data = Map::new();
    data.insert("message".into(), Value::String("pong".into()));
    data.insert(
        "version".into(),
        Value::String(vault_plugin_sdk::plugin_version!().into()),
    );
    Ok(Response::with_data(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vault_plugin_sdk::storage::{MemoryStorage, Storage};
    use vault_plugin_sdk::system_view::StaticSystemView;
    use vault_plugin_sdk::{LogicalBackend, Operation};

    struct Kit {
        backend: Backend<()>,
        storage: Arc<MemoryStorage>,
    }

    impl Kit {
        fn new() -> Self {
            Self {
                backend: backend().unwrap(),
                storage: Arc::new(MemoryStorage::new()),
            }
        }
        fn req(&self, op: Operation, path: &str, data: Value) -> Request {
            let Value::Object(map) = data else {
                panic!("data must be an object")
            };
            Request::new(
                op,
                path,
                self.storage.clone(),
                Arc::new(StaticSystemView::default()),
            )
            .with_data(map)
        }
        async fn call(&self, op: Operation, path: &str, data: Value) -> Result<Response> {
            self.backend.handle_request(self.req(op, path, data)).await
        }
    }

    #[tokio::test]
    async fn write_read_list_delete() {
        let kit = Kit::new();
        assert_eq!(
            kit.backend
                .existence_check(kit.req(Operation::Update, "kv/a", json!({})))
                .await
                .unwrap(),
            Some(false)
        );
        kit.call(Operation::Create, "kv/a", json!({"value": "1"}))
            .await
            .unwrap();
        kit.call(Operation::Update, "kv/b", json!({"value": "2", "n": 3}))
            .await
            .unwrap();
        assert_eq!(
            kit.backend
                .existence_check(kit.req(Operation::Update, "kv/a", json!({})))
                .await
                .unwrap(),
            Some(true)
        );
        let read = kit.call(Operation::Read, "kv/b", json!({})).await.unwrap();
        assert_eq!(
            Value::Object(read.data.unwrap()),
            json!({"value": "2", "n": 3})
        );
        let list = kit.call(Operation::List, "kv/", json!({})).await.unwrap();
        assert_eq!(list.data.unwrap()["keys"], json!(["a", "b"]));
        kit.call(Operation::Delete, "kv/a", json!({}))
            .await
            .unwrap();
        let err = kit
            .call(Operation::Read, "kv/a", json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)));
    }

    #[tokio::test]
    async fn empty_write_is_a_clear_bad_request_and_stores_nothing() {
        let kit = Kit::new();
        let err = kit
            .call(Operation::Update, "kv/x", json!({}))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::BadRequest(ref m) if m.contains("value=")),
            "{err:?}"
        );
        assert!(kit.storage.list("").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn ping_answers_without_storage() {
        let kit = Kit::new();
        let resp = kit.call(Operation::Read, "ping", json!({})).await.unwrap();
        assert_eq!(resp.data.unwrap()["message"], "pong");
        assert!(kit.storage.list("").await.unwrap().is_empty());
    }
}
