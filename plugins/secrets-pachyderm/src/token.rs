//! pachd tokens made by the plugin: the new root token of
//! `config/rotate-root` and every robot token of `login`.
//!
//! Why the plugin makes them instead of pachd: a token the plugin chose is
//! known (and written to the WAL) before pachd holds it, so an interrupted
//! call can always be checked or undone. A token has pachd's own form, 32
//! random lowercase hex digits, and pachd stores only its SHA-256 in hex
//! ([`hash`]), which is what `RestoreAuthToken` takes.

use ring::digest::{SHA256, digest};
use vault_plugin_sdk::Result;
use vault_plugin_sdk::framework::fields::Redacted;
use vault_plugin_sdk::random;

/// A new token: 128 random bits as 32 lowercase hex digits.
pub fn random() -> Result<Redacted<String>> {
    Ok(Redacted::new(random::hex(16)?))
}

/// The SHA-256 of `token` in lowercase hex: how pachd stores and finds it.
pub fn hash(token: &str) -> String {
    let sha = digest(&SHA256, token.as_bytes());
    sha.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_pachds_form_and_differ() {
        let a = random().unwrap();
        let b = random().unwrap();
        assert_eq!(a.expose().len(), 32);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // The SHA-256 test vector of "abc" (FIPS 180-2).
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
