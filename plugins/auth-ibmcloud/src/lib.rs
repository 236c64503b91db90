//! An auth method for IBM Cloud: workloads and people log in with an IAM
//! access token or API key and get a Vault/OpenBao token.
//!
//! The identity is IBM Cloud's: a service ID, a user of the account, or a
//! trusted profile. A login is accepted when IAM signed the token (checked
//! against the keys IAM publishes, see [`verify`]), the identity belongs to
//! the configured account, and the role binds its subject or one of its
//! access groups.

pub mod keys;
pub mod verify;

#[cfg(test)]
mod published;
