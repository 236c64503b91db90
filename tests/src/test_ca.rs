//! A certificate authority of the test's own, for servers with a TLS
//! listener: the CA certificate goes to the clients (`BAO_CACERT`), a server
//! certificate for `127.0.0.1` and `localhost` to each server.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// A fresh CA (ECDSA P-256) that lives as long as the test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// The files of one server certificate.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl TestCa {
    /// Generates the CA's key and self-signed certificate.
    pub fn new() -> Result<TestCa> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "vault-plugins-rs test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().context("generating the CA key")?;
        let issuer =
            CertifiedIssuer::self_signed(params, key).context("self-signing the CA certificate")?;
        Ok(TestCa { issuer })
    }

    /// Writes the CA certificate (PEM) to `path`, for the clients.
    pub fn write_ca_cert(&self, path: &Path) -> Result<()> {
        fs::write(path, self.issuer.pem())
            .with_context(|| format!("writing the CA certificate to {}", path.display()))
    }

    /// Issues a server certificate for `127.0.0.1` and `localhost` and
    /// writes it and its key as `<name>.pem` and `<name>-key.pem` in `dir`.
    pub fn write_server_cert(&self, dir: &Path, name: &str) -> Result<ServerCert> {
        let mut params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .context("server certificate names")?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().context("generating a server key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing the server certificate")?;
        let files = ServerCert {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        fs::write(&files.cert, cert.pem())
            .with_context(|| format!("writing {}", files.cert.display()))?;
        fs::write(&files.key, key.serialize_pem())
            .with_context(|| format!("writing {}", files.key.display()))?;
        Ok(files)
    }
}
