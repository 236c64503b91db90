//! What almost every plugin module needs, in one import:
//! `use vault_plugin_sdk::prelude::*;`

pub use crate::backend::{BackendType, HookContext, SetupContext, SpecialPaths};
pub use crate::framework::fields::Fields;
pub use crate::framework::wal::{delete_wal, put_wal};
pub use crate::framework::{
    Alias, Auth, Backend, Operation, Path, Request, Response, Secret, TokenFields, TokenParams,
    merge_patch,
};
pub use crate::storage::{Storage, StorageExt};
pub use crate::{Error, Result};
