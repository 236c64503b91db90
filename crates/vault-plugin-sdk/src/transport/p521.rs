//! ECDSA P-521 signature verification for rustls.
//!
//! The host's AutoMTLS certificate uses a P-521 key, which `ring` cannot
//! verify. Rather than pull in a second, much larger crypto provider, this
//! module plugs the RustCrypto `p521` implementation into rustls' signature
//! checks; everything else stays on `ring`.

use rustls::pki_types::alg_id;
use rustls::pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};

use p521::ecdsa::signature::Verifier as _;
use p521::ecdsa::{Signature, VerifyingKey};

/// ECDSA with curve P-521 and SHA-512 (TLS scheme `ecdsa_secp521r1_sha512`).
#[derive(Debug)]
pub(crate) struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::SigningKey;
    use p521::ecdsa::signature::Signer as _;

    #[test]
    fn verifies_a_good_signature_and_rejects_tampering() {
        let signing = SigningKey::from_slice(&[1u8; 66]).unwrap();
        let public = VerifyingKey::from(&signing).to_sec1_point(false);
        let sig: Signature = signing.sign(b"hello");
        let der = sig.to_der();
        let alg = EcdsaP521Sha512;
        assert!(
            alg.verify_signature(public.as_bytes(), b"hello", der.as_bytes())
                .is_ok()
        );
        assert!(
            alg.verify_signature(public.as_bytes(), b"hellO", der.as_bytes())
                .is_err()
        );
        assert!(
            alg.verify_signature(&public.as_bytes()[1..], b"hello", der.as_bytes())
                .is_err()
        );
    }
}
