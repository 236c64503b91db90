//! Random bytes, names and secrets from the system's secure generator.
//!
//! Plugins need randomness to make upstream names unique (a key per lease)
//! and to make secrets (a token, a salt). Each used to call `ring` with its
//! own error message; these two functions are that call, once.

use ring::rand::{SecureRandom, SystemRandom};

use crate::{Error, Result};

/// Fills `bytes` from the system's secure random generator; an internal
/// error (500) in the rare case the system has none.
pub fn fill(bytes: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(bytes)
        .map_err(|_| Error::internal("the system's random generator failed"))
}

/// `len` random bytes as `2 * len` lowercase hex digits: a name suffix
/// (`hex(8)`, 64 bits) or a secret (`hex(16)`, 128 bits).
///
/// ```
/// let suffix = vault_plugin_sdk::random::hex(8)?;
/// assert_eq!(suffix.len(), 16);
/// assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
/// assert_ne!(suffix, vault_plugin_sdk::random::hex(8)?);
/// # Ok::<(), vault_plugin_sdk::Error>(())
/// ```
pub fn hex(len: usize) -> Result<String> {
    let mut bytes = vec![0u8; len];
    fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
