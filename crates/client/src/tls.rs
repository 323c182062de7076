//! How the client trusts the server: pin its certificate, or trust a CA.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::Error;
use strata_format::protocol::ALPN;

/// Which server certificates the client accepts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Exactly this certificate (e.g. the server's self-signed
    /// `DIR/tls/cert.pem`), whatever name or validity it has. The handshake
    /// still proves the server holds its key.
    Pin(CertificateDer<'static>),
    /// Any certificate these roots sign for the server name.
    Ca(Vec<CertificateDer<'static>>),
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |r: String| Error::Tls(format!("{}: {r}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}

impl Trust {
    /// Pins the first certificate of a PEM file.
    pub fn pin_file(path: &Path) -> Result<Trust, Error> {
        let mut certs = read_pem(path)?;
        Ok(Trust::Pin(certs.swap_remove(0)))
    }

    /// Trusts every certificate of a PEM file as a root.
    pub fn ca_file(path: &Path) -> Result<Trust, Error> {
        Ok(Trust::Ca(read_pem(path)?))
    }
}

#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The QUIC client crypto for `trust`.
pub fn client_crypto(trust: &Trust) -> Result<quinn::crypto::rustls::QuicClientConfig, Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut cfg = match trust {
        Trust::Ca(roots) => {
            let mut store = rustls::RootCertStore::empty();
            for c in roots {
                store
                    .add(c.clone())
                    .map_err(|e| Error::Tls(format!("a CA certificate is not usable: {e}")))?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
        Trust::Pin(cert) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                cert: cert.clone(),
                algs,
            }))
            .with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    quinn::crypto::rustls::QuicClientConfig::try_from(cfg).map_err(|e| Error::Tls(e.to_string()))
}
