//! Certificate signatures, as `model_signing` 1.1.1 makes and checks them
//! (`_signing/sign_certificate.py`): the bundle carries the signing certificate and the chain
//! given when signing instead of a public-key hint, and the verifier trusts the signing
//! certificate when a path leads from it, through those certificates, to one of the
//! certificates it was given (`--certificate-chain`), at the time the signing certificate
//! became valid, and when the certificate may sign (the digital-signature key usage, or else
//! the code-signing extended key usage). docs/signing.md describes it.
//!
//! The path is built and its signatures checked by `rustls-webpki` with the `aws-lc-rs`
//! verifiers; the certificates are parsed by `x509-cert`. Nothing is fetched: no revocation
//! lists, no OCSP, no system roots.

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyPurposeIdIter};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};
use x509_cert::Certificate;

use crate::signing::{PrivateKey, PublicKey, SigningError};

/// The code-signing extended key usage (RFC 5280, `id-kp-codeSigning`).
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

fn certificate_error(path: &Path, reason: impl Into<String>) -> SigningError {
    SigningError::Key {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads the PEM certificates of `path` (one or more `BEGIN CERTIFICATE` blocks), as DER.
fn read_certificates(path: &Path) -> Result<Vec<Vec<u8>>, SigningError> {
    let bytes = crate::files::read_document(path, 16 << 20)
        .map_err(|e| certificate_error(path, e.to_string()))?;
    let certificates = Certificate::load_pem_chain(&bytes)
        .map_err(|e| certificate_error(path, format!("not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(certificate_error(path, "holds no certificate"));
    }
    certificates
        .iter()
        .map(|c| {
            c.to_der()
                .map_err(|e| certificate_error(path, format!("cannot encode a certificate: {e}")))
        })
        .collect()
}

/// The certificates a certificate signature carries: the signing certificate (DER), whose
/// public key is the signing key's, then the chain given when signing.
#[derive(Debug, Clone)]
pub struct SigningCertificates {
    /// The signing certificate first, then the chain, as the bundle lists them.
    pub certificates: Vec<Vec<u8>>,
}

impl SigningCertificates {
    /// Reads the signing certificate `certificate` and the chain files `chain` (PEM), and
    /// checks that the certificate is the one of `key`, as `model_signing` does.
    pub fn read(
        certificate: &Path,
        chain: &[PathBuf],
        key: &PrivateKey,
    ) -> Result<SigningCertificates, SigningError> {
        let mut certificates = read_certificates(certificate)?;
        certificates.truncate(1);
        let leaf = certificates
            .first()
            .and_then(|der| Certificate::from_der(der).ok())
            .ok_or_else(|| certificate_error(certificate, "not an X.509 certificate"))?;
        let spki = leaf
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap_or_default();
        if PublicKey::from_der(&spki).map(|k| k.to_pem()) != Some(key.public_key().to_pem()) {
            return Err(certificate_error(
                certificate,
                "its public key is not the one of the private key (--key): give the certificate issued for that key",
            ));
        }
        for path in chain {
            certificates.extend(read_certificates(path)?);
        }
        Ok(SigningCertificates { certificates })
    }
}

/// The certificates a verifier trusts (`--certificate-chain`): the self-signed ones are the
/// roots, the others may complete a path to them, as OpenSSL's store does for
/// `model_signing verify certificate`.
#[derive(Debug, Clone, Default)]
pub struct TrustedCertificates {
    roots: Vec<Vec<u8>>,
    intermediates: Vec<Vec<u8>>,
}

/// Who a certificate signature was made by, once its certificate is trusted.
#[derive(Debug, Clone)]
pub struct Certified {
    /// The signing certificate's public key.
    pub public_key: PublicKey,
    /// The signing certificate's subject (RFC 4514).
    pub subject: String,
    /// The hex SHA-256 of the signing certificate's DER (its fingerprint).
    pub fingerprint: String,
}

/// Accepts any extended key usage: the signing use is checked after the path, as
/// `model_signing` checks it (key usage first).
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}

impl TrustedCertificates {
    /// Reads the PEM certificates of every file of `paths`.
    pub fn read(paths: &[PathBuf]) -> Result<TrustedCertificates, SigningError> {
        let mut trusted = TrustedCertificates::default();
        for path in paths {
            for der in read_certificates(path)? {
                let certificate = Certificate::from_der(&der)
                    .map_err(|e| certificate_error(path, format!("not a certificate: {e}")))?;
                let tbs = certificate.tbs_certificate();
                if tbs.issuer() == tbs.subject() {
                    trusted.roots.push(der);
                } else {
                    trusted.intermediates.push(der);
                }
            }
        }
        Ok(trusted)
    }

    /// Whether no certificate was given.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.intermediates.is_empty()
    }

    /// Checks the certificates of a bundle (the signing certificate first): a path from the
    /// signing certificate to one of the roots through the bundle's other certificates and
    /// the given intermediates, valid when the signing certificate became valid (the time
    /// `model_signing` verifies at), and a signing certificate that may sign. Returns why
    /// not, for an SG004 finding.
    pub fn verify(&self, certificates: &[Vec<u8>]) -> Result<Certified, String> {
        let [leaf_der, chain @ ..] = certificates else {
            return Err("holds no certificate".to_string());
        };
        let leaf = Certificate::from_der(leaf_der)
            .map_err(|e| format!("holds a signing certificate that cannot be read: {e}"))?;
        let tbs = leaf.tbs_certificate();
        let subject = tbs.subject().to_string();
        if self.roots.is_empty() {
            return Err(format!(
                "is a certificate signature (by {subject}), and no root certificate was given to trust it: give the signer's CA with --certificate-chain"
            ));
        }
        let not_before = tbs.validity().not_before.to_unix_duration();
        let leaf_cert = CertificateDer::from(leaf_der.as_slice());
        let end_entity = EndEntityCert::try_from(&leaf_cert).map_err(|e| {
            format!("holds a signing certificate ({subject}) that cannot be used: {e}")
        })?;
        let anchors = self
            .roots
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect::<Vec<_>>();
        let anchors = anchors
            .iter()
            .filter_map(|der| webpki::anchor_from_trusted_cert(der).ok())
            .collect::<Vec<_>>();
        let intermediates = chain
            .iter()
            .chain(&self.intermediates)
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect::<Vec<_>>();
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                UnixTime::since_unix_epoch(not_before),
                AnyUsage,
                None,
                None,
            )
            .map_err(|e| {
                format!(
                    "has a signing certificate ({subject}) that the given --certificate-chain does not trust: {e}"
                )
            })?;
        let digital_signature = matches!(
            tbs.get_extension::<KeyUsage>(),
            Ok(Some((_, usage))) if usage.digital_signature()
        );
        let code_signing = matches!(
            tbs.get_extension::<ExtendedKeyUsage>(),
            Ok(Some((_, usage))) if usage.0.contains(&CODE_SIGNING)
        );
        if !digital_signature && !code_signing {
            return Err(format!(
                "has a signing certificate ({subject}) that may not sign: it has neither the digital-signature key usage nor the code-signing extended key usage"
            ));
        }
        let spki = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(|e| format!("has a signing certificate whose key cannot be read: {e}"))?;
        let public_key = PublicKey::from_der(&spki).ok_or_else(|| {
            format!("has a signing certificate ({subject}) whose key is not an elliptic-curve key on P-256, P-384 or P-521")
        })?;
        Ok(Certified {
            public_key,
            subject,
            fingerprint: hex::encode(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf_der).as_ref(),
            ),
        })
    }
}
