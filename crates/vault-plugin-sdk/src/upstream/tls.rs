//! The TLS side of every upstream connection, HTTP or gRPC: rustls with the
//! ring provider passed explicitly (no process-wide provider, so no "no
//! crypto provider" panic, and never aws-lc-rs or OpenSSL), the system's
//! roots through rustls-platform-verifier plus the settings' `ca_cert`, or no
//! check at all when `insecure_skip_tls_verify` says so.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::UpstreamSettings;

/// The certificates of a PEM text (a `ca_cert` setting); an error, safe to
/// show, unless it holds at least one.
pub fn parse_ca_cert(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca_cert is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("ca_cert holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned());
    }
    Ok(certs)
}

/// The client TLS configuration for `upstream` under `settings`, offering
/// `alpn` (e.g. `h2` for gRPC).
///
/// A machine without system roots can still use plain connections (or
/// `ca_cert`): `tls_needed` says whether their absence is an error now or
/// only when a handshake is tried.
pub(crate) fn client_config(
    upstream: &str,
    settings: &UpstreamSettings,
    tls_needed: bool,
    alpn: &[&[u8]],
) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let extra_roots = match settings.ca_cert.trim() {
        "" => Vec::new(),
        pem => parse_ca_cert(pem)?,
    };
    let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure_skip_tls_verify {
        tracing::warn!(
            upstream,
            "insecure_skip_tls_verify is set: the upstream's TLS certificate is not checked, \
             so anyone on the network path can read and change its calls"
        );
        Arc::new(NoCheck(provider.clone()))
    } else {
        match rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra_roots,
            provider.clone(),
        ) {
            Ok(verifier) => Arc::new(verifier),
            Err(e) if tls_needed => {
                return Err(format!(
                    "no CA certificates to check {upstream}'s TLS certificate with ({e}); \
                     install the system's CA bundle or set ca_cert"
                ));
            }
            Err(_) => Arc::new(NoRoots(provider.clone())),
        }
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Accepts any certificate (`insecure_skip_tls_verify`), while still
/// checking that the handshake is signed by the certificate's key.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Trusts nothing: the TLS side of a client for a plain-HTTP upstream on a
/// machine without CA certificates.
#[derive(Debug)]
struct NoRoots(Arc<CryptoProvider>);

impl ServerCertVerifier for NoRoots {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(
            "no CA certificates are available on this system; set ca_cert".to_owned(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no trusted certificates".to_owned()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no trusted certificates".to_owned()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_cert_must_hold_a_certificate() {
        assert!(
            parse_ca_cert("hello")
                .unwrap_err()
                .contains("no PEM certificate")
        );
        let garbled = "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(parse_ca_cert(garbled).is_err());
        let settings = UpstreamSettings {
            ca_cert: "hello".into(),
            ..UpstreamSettings::default()
        };
        let err = client_config("X", &settings, true, &[]).unwrap_err();
        assert!(err.contains("ca_cert"), "{err}");
    }
}
