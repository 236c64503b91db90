//! Password hashes: what is stored instead of a user's password.
//!
//! A password is never stored, logged or returned; only a PBKDF2-HMAC-SHA256
//! hash of it with a random salt of its own. The iteration count is stored
//! with each hash, so raising it later leaves existing users able to log in.
//! Checking a password compares in constant time, and a login for a user
//! who does not exist checks against a dummy hash, so neither the answer
//! nor its timing tells whether the user exists.

use std::fmt;
use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::pbkdf2;
use serde::{Deserialize, Serialize};
use vault_plugin_sdk::{Error, Result, random};

/// Iterations of new hashes (checked non-zero when compiling).
pub const ITERATIONS: NonZeroU32 = NonZeroU32::new(50_000).unwrap();

const ALGORITHM: pbkdf2::Algorithm = pbkdf2::PBKDF2_HMAC_SHA256;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A stored password hash: salt and derived key in base64, with the
/// iteration count used to derive it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordHash {
    iterations: u32,
    salt: String,
    hash: String,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub fn new(password: &str) -> Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        random::fill(&mut salt)?;
        let mut hash = [0u8; HASH_LEN];
        pbkdf2::derive(ALGORITHM, ITERATIONS, &salt, password.as_bytes(), &mut hash);
        Ok(Self {
            iterations: ITERATIONS.get(),
            salt: B64.encode(salt),
            hash: B64.encode(hash),
        })
    }

    /// Whether `password` is the one hashed, compared in constant time.
    /// A stored hash that cannot be read is an error, not a mismatch, so an
    /// operator sees why nobody can log in.
    pub fn verify(&self, password: &str) -> Result<bool> {
        let unreadable = || Error::internal("a stored password hash is unreadable");
        let iterations = NonZeroU32::new(self.iterations).ok_or_else(unreadable)?;
        let salt = B64.decode(&self.salt).map_err(|_| unreadable())?;
        let hash = B64.decode(&self.hash).map_err(|_| unreadable())?;
        Ok(pbkdf2::verify(ALGORITHM, iterations, &salt, password.as_bytes(), &hash).is_ok())
    }

    /// Spends the time of one verification, for logins of unknown users.
    pub fn check_nothing(password: &str) {
        let mut out = [0u8; HASH_LEN];
        pbkdf2::derive(
            ALGORITHM,
            ITERATIONS,
            &[0u8; SALT_LEN],
            password.as_bytes(),
            &mut out,
        );
        std::hint::black_box(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_password_verifies_and_others_do_not() {
        let hash = PasswordHash::new("correct horse").unwrap();
        assert!(hash.verify("correct horse").unwrap());
        assert!(!hash.verify("correct hors").unwrap());
        assert!(!hash.verify("").unwrap());
    }

    #[test]
    fn each_hash_has_its_own_salt_and_hides_the_password() {
        let a = PasswordHash::new("pw").unwrap();
        let b = PasswordHash::new("pw").unwrap();
        assert_ne!(a, b);
        let stored = serde_json::to_string(&a).unwrap();
        assert!(!stored.contains("\"pw\""), "{stored}");
        assert!(!format!("{a:?}").contains(&a.hash));
    }

    #[test]
    fn a_damaged_hash_is_an_error_not_a_mismatch() {
        let mut hash = PasswordHash::new("pw").unwrap();
        hash.salt = "not base64!".into();
        assert!(hash.verify("pw").is_err());
    }
}
