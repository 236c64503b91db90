//! What almost every plugin module needs, in one import:
//! `use vault_plugin_sdk::prelude::*;`

pub use crate::backend::{BackendType, HookContext, SetupContext, SpecialPaths};
pub use crate::framework::fields::{Fields, JsonMap, Name, Redacted, Update};
pub use crate::framework::wal::{Refusal, WalGuard, WalKind, delete_wal, put_wal};
pub use crate::framework::{
    Alias, Auth, Backend, Operation, Path, Record, Request, Response, Secret, SecretType,
    TokenFields, TokenParams, merge_patch,
};
pub use crate::storage::{Collection, Entry, Storage, StorageExt};
pub use crate::{Error, Result};
