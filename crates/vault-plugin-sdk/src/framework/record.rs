//! Stored records behind generated paths: the mount's `config`, and named
//! ones such as `role/<name>` with their list, each in a line of the
//! backend builder.
//!
//! Every plugin has a config and roles, and their handlers were the same in
//! each: load, apply the sent fields, check, save; read without the
//! secrets; delete; list; an existence check. A type implementing
//! [`Record`] gets all of them from [`Entry::path`], [`Collection::path`]
//! and [`Collection::list_path`]; the plugin writes only what is its own,
//! the checks and what a read adds.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use vault_plugin_sdk::prelude::*;
//!
//! /// A role, as written, stored and read.
//! #[derive(Fields, Serialize, Deserialize)]
//! struct Role {
//!     /// What the issued keys may do.
//!     #[field(required)]
//!     scopes: Vec<String>,
//! }
//!
//! impl<S: Send + Sync> Record<S> for Role {
//!     async fn check(&mut self, _: &S, _: &Request) -> Result<()> {
//!         if self.scopes.is_empty() {
//!             return Err(Error::bad_request("scopes must name at least one scope"));
//!         }
//!         Ok(())
//!     }
//! }
//!
//! const ROLES: Collection<Role> = Collection::new("role/");
//!
//! let backend = Backend::builder(())
//!     .path(ROLES.path().synopsis("Manage the roles."))
//!     .path(ROLES.list_path().synopsis("List the roles."))
//!     .build();
//! assert!(backend.is_ok());
//! ```
//!
//! The generated handlers are these:
//!
//! | operation | what it does |
//! |---|---|
//! | read | the stored JSON less the `secret` fields and what [`Fields::redact`] takes out, plus what [`Record::show`] adds; an empty response (the host's 404) when there is none |
//! | create, update | the sent fields applied onto the stored value (a create applies the defaults and insists on required fields), then [`Record::check`], then stored |
//! | delete | removes the value (removing nothing is no error) |
//! | list | the names (collections) |
//!
//! A path needing another handler replaces the generated one as usual:
//! `CONFIG.path().read(my_read)`, or `.create(my_write).update(my_write)` for
//! the write, which keeps the generated existence check.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::fields::{Fields, JsonMap, Name, Update};
use super::{Path, Request, Response};
use crate::storage::{Collection, Entry};
use crate::{Error, Result};

/// A value a plugin stores and lets users write and read whole: a config,
/// a role. `S` is the backend's state, which [`check`](Self::check) may use
/// (a client of the upstream, to test credentials before storing them).
pub trait Record<S>: Fields + Serialize + DeserializeOwned + Send + Sync {
    /// Checks a value a write is about to store (the sent fields already
    /// applied onto the stored value, or onto the defaults) and may
    /// complete or normalise it; an error refuses the write and nothing is
    /// stored. Accepts everything unless implemented.
    fn check(&mut self, state: &S, req: &Request) -> impl Future<Output = Result<()>> + Send {
        let _ = (state, req);
        async { Ok(()) }
    }

    /// Adds to a read what derives from the stored value; `data` already
    /// holds the stored JSON, less what must not be shown. Adds nothing
    /// unless implemented.
    fn show(&self, data: &mut JsonMap) {
        let _ = data;
    }
}

impl<T: Serialize + DeserializeOwned + Sync> Entry<T> {
    /// The path at the entry's key, with read, write (create and update,
    /// with an existence check) and delete handlers.
    pub fn path<S>(self) -> Path<S>
    where
        S: Send + Sync + 'static,
        T: Record<S> + 'static,
    {
        let write = move |state: Arc<S>, req: Request, update: Update<T>| async move {
            let value = update.apply(self.load(req.storage()).await?)?;
            let value = checked(value, &state, &req).await?;
            self.save(req.storage(), &value).await?;
            Ok(Response::empty())
        };
        let exists = move |_: Arc<S>, req: Request| async move { self.exists(req.storage()).await };
        Path::new(self.key())
            .read(move |_: Arc<S>, req: Request| async move {
                shown::<S, T>(self.load(req.storage()).await?)
            })
            .write(write, exists)
            .delete(move |_: Arc<S>, req: Request| async move {
                self.delete(req.storage()).await?;
                Ok(Response::empty())
            })
    }
}

impl<T: Serialize + DeserializeOwned + Sync> Collection<T> {
    /// The path `<prefix>{name}` (e.g. `role/{name}`), with read, write
    /// (create and update, with an existence check) and delete handlers.
    pub fn path<S>(self) -> Path<S>
    where
        S: Send + Sync + 'static,
        T: Record<S> + 'static,
    {
        let write = move |state: Arc<S>, req: Request, (Name(name), update): (Name, Update<T>)| async move {
            let value = update.apply(self.load(req.storage(), &name).await?)?;
            let value = checked(value, &state, &req).await?;
            self.save(req.storage(), &name, &value).await?;
            Ok(Response::empty())
        };
        let exists = move |_: Arc<S>, req: Request, Name(name): Name| async move {
            self.exists(req.storage(), &name).await
        };
        Path::new(format!("{}{{name}}", self.prefix()))
            .read(
                move |_: Arc<S>, req: Request, Name(name): Name| async move {
                    shown::<S, T>(self.load(req.storage(), &name).await?)
                },
            )
            .write(write, exists)
            .delete(
                move |_: Arc<S>, req: Request, Name(name): Name| async move {
                    self.delete(req.storage(), &name).await?;
                    Ok(Response::empty())
                },
            )
    }

    /// The path `<prefix>` (e.g. `role/`, also without the slash) listing
    /// the names.
    pub fn list_path<S: Send + Sync + 'static>(self) -> Path<S>
    where
        T: 'static,
    {
        Path::new(format!("{}/?", self.prefix().trim_end_matches('/'))).list(
            move |_: Arc<S>, req: Request| async move {
                Ok(Response::list(self.list(req.storage()).await?))
            },
        )
    }
}

/// `value` after [`Record::check`].
async fn checked<S, T: Record<S>>(mut value: T, state: &S, req: &Request) -> Result<T> {
    value.check(state, req).await?;
    Ok(value)
}

/// The read of a stored value: an empty response when there is none, which
/// the host answers with a 404, as for any missing entry.
fn shown<S, T: Record<S>>(value: Option<T>) -> Result<Response> {
    let Some(value) = value else {
        return Ok(Response::empty());
    };
    let Value::Object(mut data) = serde_json::to_value(&value)? else {
        return Err(Error::internal("a stored record must be a JSON object"));
    };
    value.redact(&mut data);
    value.show(&mut data);
    Ok(Response::with_data(data))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::framework::Backend;
    use crate::framework::fields::Redacted;
    use crate::testing::TestBackend;

    /// Role checks refuse a `limit` over `max`.
    #[derive(Default)]
    struct State {
        max: u32,
    }

    #[derive(Fields, Serialize, Deserialize)]
    struct Config {
        #[field(required)]
        url: String,
        #[field(secret)]
        password: Redacted<String>,
        #[field(flatten)]
        #[serde(flatten)]
        inner: Shown,
    }

    impl Record<State> for Config {
        async fn check(&mut self, _: &State, _: &Request) -> Result<()> {
            self.url = self.url.trim_end_matches('/').to_owned();
            Ok(())
        }

        fn show(&self, data: &mut JsonMap) {
            data.insert(
                "host".into(),
                self.url.trim_start_matches("https://").into(),
            );
        }
    }

    /// A flattened block with its own redaction: `pin` reads as `has_pin`.
    #[derive(Fields, Serialize, Deserialize)]
    #[fields(redact = Self::hide_pin)]
    struct Shown {
        pin: String,
    }

    impl Shown {
        fn hide_pin(&self, data: &mut JsonMap) {
            data.remove("pin");
            data.insert("has_pin".into(), (!self.pin.is_empty()).into());
        }
    }

    #[derive(Fields, Serialize, Deserialize)]
    struct Role {
        #[field(default = 1)]
        limit: u32,
        note: String,
    }

    impl Record<State> for Role {
        async fn check(&mut self, state: &State, _: &Request) -> Result<()> {
            match self.limit > state.max {
                true => Err(Error::bad_request(format!("limit over {}", state.max))),
                false => Ok(()),
            }
        }
    }

    const CONFIG: Entry<Config> = Entry::new("config");
    const ROLES: Collection<Role> = Collection::new("role/");

    fn engine() -> TestBackend<Backend<State>> {
        let backend = Backend::builder(State { max: 5 })
            .path(CONFIG.path())
            .path(ROLES.path())
            .path(ROLES.list_path())
            .build();
        TestBackend::new(backend.unwrap())
    }

    #[tokio::test]
    async fn a_config_reads_without_its_secrets_and_with_what_show_adds() {
        let tb = engine();
        let missing = tb.read("config").await.unwrap();
        assert!(missing.is_empty(), "nothing stored: the host says 404");
        let config = json!({"url": "https://h/", "password": "pw-1", "pin": "1234"});
        tb.write("config", config).await.unwrap();
        let read = tb.read("config").await.unwrap().data.unwrap();
        let want = json!({"url": "https://h", "host": "h", "has_pin": true});
        assert_eq!(json!(read), want);
        // An update keeps what it does not send, the secrets included.
        tb.write("config", json!({"pin": ""})).await.unwrap();
        let stored = CONFIG.load(tb.storage()).await.unwrap().unwrap();
        assert_eq!(
            (stored.password.expose().as_str(), stored.url.as_str()),
            ("pw-1", "https://h")
        );
        assert_eq!(
            tb.read("config").await.unwrap().data.unwrap()["has_pin"],
            false
        );
        tb.delete("config").await.unwrap();
        assert!(!CONFIG.exists(tb.storage()).await.unwrap());
    }

    #[tokio::test]
    async fn roles_are_created_updated_checked_listed_and_deleted() {
        let tb = engine();
        assert_eq!(tb.exists("role/a").await.unwrap(), Some(false));
        tb.write("role/a", json!({"note": "first"})).await.unwrap();
        tb.write("role/b", json!({"limit": 5})).await.unwrap();
        tb.write("role/a", json!({"limit": "3"})).await.unwrap();
        let a = tb.read("role/a").await.unwrap().data.unwrap();
        assert_eq!(json!(a), json!({"limit": 3, "note": "first"}));
        // A refused write changes nothing.
        let err = tb
            .write("role/a", json!({"limit": 6, "note": "x"}))
            .await
            .unwrap_err();
        assert_eq!(
            (err.status(), err.to_string()),
            (400, "limit over 5".into())
        );
        assert_eq!(
            ROLES.require(tb.storage(), "a").await.unwrap().note,
            "first"
        );
        let err = tb.write("role/c", json!({"limit": 9})).await.unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(tb.list("role/").await.unwrap(), ["a", "b"]);
        assert_eq!(tb.list("role").await.unwrap(), ["a", "b"]);
        tb.delete("role/a").await.unwrap();
        tb.delete("role/a").await.unwrap(); // nothing to delete is fine
        assert!(tb.read("role/a").await.unwrap().is_empty());
        assert_eq!(tb.list("role/").await.unwrap(), ["b"]);
    }
}
