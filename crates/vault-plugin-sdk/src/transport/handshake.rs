//! Protocol negotiation and the one handshake line on stdout.
//!
//! The line is `1|<app version>|<network>|<address>|grpc|<cert>`, where the
//! certificate is DER in base64 *without padding* (go-plugin decodes it with
//! Go's `RawStdEncoding`; padded output fails for some certificate lengths).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;

use super::env::HostEnv;

/// go-plugin's core protocol version.
const CORE_PROTOCOL_VERSION: u32 = 1;

/// Application protocol versions this SDK speaks, best first. 5 adds
/// multiplexing and AutoMTLS; 3 and 4 carry the same backend service.
const SUPPORTED: [u32; 3] = [5, 4, 3];

/// How the connection to the host is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Mutual TLS with the certificate the host put in `PLUGIN_CLIENT_CERT`.
    AutoMtls,
    /// Plain gRPC; only accepted when the host asks for metadata alone
    /// (OpenBao's second probe at registration).
    PlaintextMetadata,
}

/// The outcome of negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The application protocol version to serve.
    pub version: u32,
    /// How connections are secured.
    pub security: Security,
}

impl Negotiated {
    /// Whether one process may serve many mounts (protocol 5 only).
    pub fn multiplexing(&self) -> bool {
        self.version >= 5
    }
}

/// Negotiation failed; the message ends up in the host's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// No common protocol version.
    #[error(
        "the host offers plugin protocol versions {offered:?}, but this plugin speaks {supported:?}; \
         upgrade the server (Vault 1.12+ or any OpenBao)"
    )]
    NoCommonVersion {
        /// What the host offered.
        offered: Vec<u32>,
        /// What we speak.
        supported: Vec<u32>,
    },
    /// The host wants the legacy TLS bootstrap through `VAULT_UNWRAP_TOKEN`.
    #[error(
        "the host asked for the legacy TLS bootstrap (VAULT_UNWRAP_TOKEN), which this plugin does not \
         support; use a server with AutoMTLS (Vault 1.12+ or OpenBao), which needs no api_addr or CA setup"
    )]
    LegacyTls,
    /// The host gave no client certificate and is not in metadata mode.
    #[error(
        "the host did not enable AutoMTLS (no PLUGIN_CLIENT_CERT) outside metadata mode; \
         refusing to serve the plugin without TLS"
    )]
    NoTls,
}

/// Picks the protocol version and security for this start.
pub fn negotiate(env: &HostEnv) -> Result<Negotiated, HandshakeError> {
    let offered: &[u32] = if env.protocol_versions.is_empty() {
        &SUPPORTED
    } else {
        &env.protocol_versions
    };
    let version = SUPPORTED
        .iter()
        .copied()
        .find(|v| offered.contains(v))
        .ok_or_else(|| HandshakeError::NoCommonVersion {
            offered: offered.to_vec(),
            supported: SUPPORTED.to_vec(),
        })?;
    let security = if env.client_cert_pem.is_some() {
        Security::AutoMtls
    } else if env.unwrap_token {
        return Err(HandshakeError::LegacyTls);
    } else if env.metadata_mode {
        Security::PlaintextMetadata
    } else {
        return Err(HandshakeError::NoTls);
    };
    Ok(Negotiated { version, security })
}

/// The handshake line (without the trailing newline).
pub fn line(version: u32, network: &str, address: &str, server_cert_der: Option<&[u8]>) -> String {
    let cert = server_cert_der
        .map(|der| STANDARD_NO_PAD.encode(der))
        .unwrap_or_default();
    format!("{CORE_PROTOCOL_VERSION}|{version}|{network}|{address}|grpc|{cert}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(versions: &[u32], cert: bool, unwrap: bool, metadata: bool) -> HostEnv {
        HostEnv {
            protocol_versions: versions.to_vec(),
            client_cert_pem: cert.then(|| "pem".to_owned()),
            unwrap_token: unwrap,
            metadata_mode: metadata,
            ..HostEnv::default()
        }
    }

    #[test]
    fn negotiation_table() {
        use Security::*;
        let cases: Vec<(HostEnv, Result<Negotiated, HandshakeError>)> = vec![
            // OpenBao 2.7.2, first probe and normal starts.
            (
                env(&[5], true, false, false),
                Ok(Negotiated {
                    version: 5,
                    security: AutoMtls,
                }),
            ),
            // OpenBao's second probe: metadata only, no certificate.
            (
                env(&[3, 4], false, false, true),
                Ok(Negotiated {
                    version: 4,
                    security: PlaintextMetadata,
                }),
            ),
            // Older Vault with AutoMTLS on protocol 4.
            (
                env(&[3, 4], true, false, false),
                Ok(Negotiated {
                    version: 4,
                    security: AutoMtls,
                }),
            ),
            (
                env(&[4, 5], true, false, false),
                Ok(Negotiated {
                    version: 5,
                    security: AutoMtls,
                }),
            ),
            (
                env(&[4], false, true, false),
                Err(HandshakeError::LegacyTls),
            ),
            (env(&[5], false, false, false), Err(HandshakeError::NoTls)),
            (
                env(&[2], true, false, false),
                Err(HandshakeError::NoCommonVersion {
                    offered: vec![2],
                    supported: vec![5, 4, 3],
                }),
            ),
        ];
        for (e, want) in cases {
            assert_eq!(negotiate(&e), want, "{e:?}");
        }
    }

    #[test]
    fn only_v5_multiplexes() {
        assert!(
            Negotiated {
                version: 5,
                security: Security::AutoMtls
            }
            .multiplexing()
        );
        assert!(
            !Negotiated {
                version: 4,
                security: Security::AutoMtls
            }
            .multiplexing()
        );
    }

    #[test]
    fn line_has_six_fields_and_unpadded_base64() {
        // Every DER length modulo 3 must come out without '=' padding.
        for len in [30usize, 31, 32, 400, 401, 402] {
            let der = vec![0xABu8; len];
            let l = line(5, "unix", "/tmp/plugin1/plugin", Some(&der));
            let fields: Vec<&str> = l.split('|').collect();
            assert_eq!(fields.len(), 6, "{l}");
            assert_eq!(
                &fields[..5],
                ["1", "5", "unix", "/tmp/plugin1/plugin", "grpc"]
            );
            assert!(!fields[5].contains('='), "padded: {l}");
            let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(fields[5])
                .unwrap();
            assert_eq!(decoded, der);
        }
        assert_eq!(
            line(4, "tcp", "127.0.0.1:10000", None),
            "1|4|tcp|127.0.0.1:10000|grpc|"
        );
    }
}
