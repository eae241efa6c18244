//! `sign` and `verify --signature`: OpenSSF Model Signing signatures over the manifest's
//! digests (docs/signing.md).
//!
//! The format (statement, envelope, bundle) is [`cmi_format::signing`]; this module loads
//! the elliptic-curve keys, signs and verifies with them (ECDSA over P-256 with SHA-256,
//! P-384 with SHA-384, P-521 with SHA-512, as `model_signing` 1.1.1's
//! `_signing/sign_ec_key.py` does), reads and writes the signature file or `s3://` object,
//! and hashes the artifact once, with [`crate::manifest::create_listed`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use cmi_format::signing::{
    is_ignored, pae, Bundle, SigningFormatError, Statement, GIT_PATHS, MAX_BUNDLE_BYTES,
};
use cmi_format::{Finding, RuleId};
use ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _, LineEnding};

use crate::aws::AwsOptions;
use crate::certificate::{Certified, SigningCertificates, TrustedCertificates};
use crate::check::{check_listed, CheckOptions};
use crate::hash::{HashOptions, Progress};
use crate::manifest::{create_listed, Manifest, ManifestError, ManifestOptions};
use crate::open::AnySource;
use crate::source::{Listing, Source};
use crate::verify::Verification;

/// Why signing or verifying could not be done (as opposed to a signature that does not
/// verify, which is a finding).
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A key file could not be read or is not a key this tool uses.
    #[error("{path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The artifact holds a symbolic link, which `model_signing` refuses.
    #[error("{path} is a symbolic link; model_signing refuses symbolic links (without --allow_symlinks), so a signature over them would not verify there: replace it by the file it points to")]
    Symlink {
        /// The link, relative to the artifact.
        path: String,
    },
    /// The signature location is not a path or an `s3://bucket/key` URI.
    #[error("{0:?} is not a signature location: give a file path or s3://bucket/key")]
    Location(String),
    /// The signature could not be read or written.
    #[error("{location}: {reason}")]
    Io {
        /// The signature file or object.
        location: String,
        /// What went wrong.
        reason: String,
    },
    /// The artifact could not be listed or hashed.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The statement could not be made.
    #[error(transparent)]
    Format(#[from] SigningFormatError),
    /// The AWS configuration could not be loaded.
    #[error(transparent)]
    Aws(#[from] crate::aws::AwsError),
    /// The environment variable that should hold a key's password is not set.
    #[error("the environment variable {variable} (--key-password-env) is not set, or not UTF-8")]
    Password {
        /// The variable's name.
        variable: String,
    },
}

fn key_error(path: &Path, reason: impl Into<String>) -> SigningError {
    SigningError::Key {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// An elliptic-curve private key of a curve `model_signing` supports.
#[derive(Clone)]
pub enum PrivateKey {
    /// NIST P-256 (secp256r1), signing with SHA-256.
    P256(p256::ecdsa::SigningKey),
    /// NIST P-384 (secp384r1), signing with SHA-384.
    P384(p384::ecdsa::SigningKey),
    /// NIST P-521 (secp521r1), signing with SHA-512.
    P521(p521::ecdsa::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.curve())
    }
}

/// The password of an encrypted private key, taken from an environment variable (never from
/// the command line, where the process list would show it).
#[derive(Clone)]
pub struct KeyPassword {
    /// The variable's name, for messages.
    pub variable: String,
    password: String,
}

impl std::fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPassword(${})", self.variable)
    }
}

impl KeyPassword {
    /// The password in the environment variable `variable`; an error when it is not set or
    /// not UTF-8.
    pub fn from_env(variable: &str) -> Result<KeyPassword, SigningError> {
        let password = std::env::var(variable).map_err(|_| SigningError::Password {
            variable: variable.to_string(),
        })?;
        Ok(KeyPassword {
            variable: variable.to_string(),
            password,
        })
    }
}

impl PrivateKey {
    /// Reads a PEM private key: PKCS #8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE
    /// KEY`), as `openssl` and `cryptography` write them, or an encrypted PKCS #8 key
    /// (`BEGIN ENCRYPTED PRIVATE KEY`, PBES2 as `cryptography`'s `BestAvailableEncryption`
    /// writes it) with `password`.
    pub fn read(path: &Path, password: Option<&KeyPassword>) -> Result<PrivateKey, SigningError> {
        let text = read_pem(path)?;
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(key_error(
                path,
                "the key is encrypted in the legacy OpenSSL PEM form, which this tool does not read: convert it to encrypted PKCS #8 with `openssl pkcs8 -topk8 -in KEY -out KEY8`",
            ));
        }
        let unsupported =
            "not a PEM elliptic-curve private key on P-256, P-384 or P-521 (PKCS #8 or SEC1)";
        if text.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            let Some(password) = password else {
                return Err(key_error(
                    path,
                    "the key is encrypted: give the name of the environment variable that holds its password with --key-password-env NAME",
                ));
            };
            let (_, document) = pkcs8::SecretDocument::from_pem(&text)
                .map_err(|e| key_error(path, format!("not a PEM encrypted private key: {e}")))?;
            let decrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(document.as_bytes())
                .ok()
                .and_then(|info| info.decrypt(password.password.as_bytes()).ok())
                .ok_or_else(|| {
                    key_error(
                        path,
                        format!(
                            "cannot decrypt the key with the password in ${}: a wrong password, or an encryption other than PKCS #5 PBES2",
                            password.variable
                        ),
                    )
                })?;
            return PrivateKey::from_pkcs8_der(decrypted.as_bytes())
                .ok_or_else(|| key_error(path, unsupported));
        }
        if let Some(password) = password {
            return Err(key_error(
                path,
                format!(
                    "the key is not encrypted, but --key-password-env {} gives a password for it",
                    password.variable
                ),
            ));
        }
        PrivateKey::from_pem(&text).ok_or_else(|| key_error(path, unsupported))
    }

    fn from_pkcs8_der(der: &[u8]) -> Option<PrivateKey> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Some(PrivateKey::P256(key));
        }
        if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Some(PrivateKey::P384(key));
        }
        p521::ecdsa::SigningKey::from_pkcs8_der(der)
            .ok()
            .map(PrivateKey::P521)
    }

    /// Parses a PEM private key of one of the supported curves.
    pub fn from_pem(text: &str) -> Option<PrivateKey> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Some(PrivateKey::P256(key));
        }
        if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Some(PrivateKey::P384(key));
        }
        if let Ok(key) = p521::ecdsa::SigningKey::from_pkcs8_pem(text) {
            return Some(PrivateKey::P521(key));
        }
        if let Ok(key) = p256::SecretKey::from_sec1_pem(text) {
            return Some(PrivateKey::P256(key.into()));
        }
        if let Ok(key) = p384::SecretKey::from_sec1_pem(text) {
            return Some(PrivateKey::P384(key.into()));
        }
        if let Ok(key) = p521::SecretKey::from_sec1_pem(text) {
            return Some(PrivateKey::P521(key.into()));
        }
        None
    }

    /// The curve's name: `P-256`, `P-384` or `P-521`.
    pub fn curve(&self) -> &'static str {
        match self {
            PrivateKey::P256(_) => "P-256",
            PrivateKey::P384(_) => "P-384",
            PrivateKey::P521(_) => "P-521",
        }
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::P256(key) => PublicKey::P256(*key.verifying_key()),
            PrivateKey::P384(key) => PublicKey::P384(*key.verifying_key()),
            PrivateKey::P521(key) => PublicKey::P521(*key.verifying_key()),
        }
    }

    /// The DER ECDSA signature of `message`, with the curve's hash.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            PrivateKey::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            PrivateKey::P384(key) => {
                let signature: p384::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            PrivateKey::P521(key) => {
                let signature: p521::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// An elliptic-curve public key of a curve `model_signing` supports.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// NIST P-256, verifying with SHA-256.
    P256(p256::ecdsa::VerifyingKey),
    /// NIST P-384, verifying with SHA-384.
    P384(p384::ecdsa::VerifyingKey),
    /// NIST P-521, verifying with SHA-512.
    P521(p521::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Reads a PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    pub fn read(path: &Path) -> Result<PublicKey, SigningError> {
        let text = read_pem(path)?;
        PublicKey::from_pem(&text).ok_or_else(|| {
            key_error(
                path,
                "not a PEM elliptic-curve public key (BEGIN PUBLIC KEY) on P-256, P-384 or P-521",
            )
        })
    }

    /// Parses a PEM public key of one of the supported curves.
    pub fn from_pem(text: &str) -> Option<PublicKey> {
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Some(PublicKey::P256(key));
        }
        if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Some(PublicKey::P384(key));
        }
        if let Ok(key) = p521::ecdsa::VerifyingKey::from_public_key_pem(text) {
            return Some(PublicKey::P521(key));
        }
        None
    }

    /// Parses a DER SubjectPublicKeyInfo of one of the supported curves (a certificate's
    /// key).
    pub fn from_der(der: &[u8]) -> Option<PublicKey> {
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Some(PublicKey::P256(key));
        }
        if let Ok(key) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Some(PublicKey::P384(key));
        }
        if let Ok(key) = p521::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Some(PublicKey::P521(key));
        }
        None
    }

    /// The SubjectPublicKeyInfo PEM, with `\n` line ends, as `cryptography` writes it (the
    /// bytes of the bundle's key hint).
    pub fn to_pem(&self) -> String {
        let pem = match self {
            PublicKey::P256(key) => key.to_public_key_pem(LineEnding::LF),
            PublicKey::P384(key) => key.to_public_key_pem(LineEnding::LF),
            PublicKey::P521(key) => key.to_public_key_pem(LineEnding::LF),
        };
        pem.unwrap_or_default()
    }

    /// The bundle's hint for this key.
    pub fn hint(&self) -> String {
        cmi_format::signing::key_hint(&self.to_pem())
    }

    /// Whether `signature` (DER) is this key's ECDSA signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok()),
            PublicKey::P384(key) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok()),
            PublicKey::P521(key) => p521::ecdsa::Signature::from_der(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok()),
        }
    }
}

fn read_pem(path: &Path) -> Result<String, SigningError> {
    let bytes =
        crate::files::read_document(path, 1 << 20).map_err(|e| key_error(path, e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| key_error(path, "not a PEM file (not UTF-8)"))
}

/// Where a signature lives: a local file, or an S3 object anywhere (not necessarily under
/// the artifact's prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureLocation {
    /// A local file.
    Local(PathBuf),
    /// An S3 object.
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
}

impl std::fmt::Display for SignatureLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureLocation::Local(path) => write!(f, "{}", path.display()),
            SignatureLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

impl SignatureLocation {
    /// A local path, or `s3://bucket/key`.
    pub fn parse(text: &str) -> Result<SignatureLocation, SigningError> {
        if !crate::open::is_s3(text) {
            return Ok(SignatureLocation::Local(PathBuf::from(text)));
        }
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| SigningError::Location(text.to_string()))?;
        match rest.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() && !key.ends_with('/') => {
                Ok(SignatureLocation::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            _ => Err(SigningError::Location(text.to_string())),
        }
    }

    /// The path of the signature relative to the artifact, when it lies inside it (so that
    /// it is left out of what is signed, as `model_signing` leaves its signature out).
    pub fn inside(&self, source: &AnySource) -> Option<String> {
        match (self, source) {
            (SignatureLocation::Local(path), AnySource::Local(local)) => {
                let root = std::fs::canonicalize(local.root()).ok()?;
                let name = path.file_name()?;
                let parent = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent,
                    _ => Path::new("."),
                };
                let full = std::fs::canonicalize(parent).ok()?.join(name);
                let relative = full.strip_prefix(&root).ok()?;
                let text = relative.to_str()?;
                (!text.is_empty()).then(|| text.to_string())
            }
            (SignatureLocation::S3 { bucket, key }, AnySource::S3(s3)) => {
                let uri = s3.uri();
                if *bucket != uri.bucket {
                    return None;
                }
                key.strip_prefix(uri.prefix.as_str())
                    .filter(|rest| !rest.is_empty())
                    .map(str::to_string)
            }
            _ => None,
        }
    }

    async fn client(
        source: &AnySource,
        aws: &AwsOptions,
    ) -> Result<aws_sdk_s3::Client, SigningError> {
        Ok(match source {
            AnySource::S3(s3) => s3.client().clone(),
            AnySource::Local(_) | AnySource::Hub(_) => {
                crate::s3::s3_client(&crate::aws::load(aws).await?)
            }
        })
    }

    /// Reads the signature; `None` when the file or object does not exist (SG001).
    pub async fn read(
        &self,
        source: &AnySource,
        aws: &AwsOptions,
    ) -> Result<Option<Vec<u8>>, SigningError> {
        let io = |reason: String| SigningError::Io {
            location: self.to_string(),
            reason,
        };
        match self {
            SignatureLocation::Local(path) => {
                match crate::files::read_document(path, MAX_BUNDLE_BYTES) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io(e.to_string())),
                }
            }
            SignatureLocation::S3 { bucket, key } => {
                let client = SignatureLocation::client(source, aws).await?;
                let output = match client.get_object().bucket(bucket).key(key).send().await {
                    Ok(output) => output,
                    Err(error) => {
                        let missing = error.as_service_error().is_some_and(|e| e.is_no_such_key());
                        if missing {
                            return Ok(None);
                        }
                        return Err(io(crate::s3::describe_sdk_error(&error)));
                    }
                };
                if output.content_length().unwrap_or(0) as u64 > MAX_BUNDLE_BYTES {
                    return Err(io(format!(
                        "the object is larger than {MAX_BUNDLE_BYTES} bytes, too large for a signature"
                    )));
                }
                let bytes = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| io(e.to_string()))?
                    .into_bytes();
                Ok(Some(bytes.to_vec()))
            }
        }
    }

    /// Writes the signature: a local file as the manifest is written
    /// ([`crate::files::write_output`]), or an S3 object.
    pub async fn write(
        &self,
        bytes: &[u8],
        source: &AnySource,
        aws: &AwsOptions,
    ) -> Result<(), SigningError> {
        let io = |reason: String| SigningError::Io {
            location: self.to_string(),
            reason,
        };
        match self {
            SignatureLocation::Local(path) => {
                crate::files::write_output(path, bytes).map_err(|e| io(e.to_string()))
            }
            SignatureLocation::S3 { bucket, key } => {
                let client = SignatureLocation::client(source, aws).await?;
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .content_type("application/json")
                    .body(ByteStream::from(bytes.to_vec()))
                    .send()
                    .await
                    .map_err(|e| io(crate::s3::describe_sdk_error(&e)))?;
                Ok(())
            }
        }
    }
}

/// Refuses a local artifact that is, or holds, a symbolic link anywhere (even under an
/// ignored path), as `model_signing`'s `check_file_or_directory` does.
pub fn refuse_symlinks(source: &AnySource) -> Result<(), SigningError> {
    let AnySource::Local(local) = source else {
        return Ok(());
    };
    for item in walkdir::WalkDir::new(local.root()).follow_links(false) {
        let Ok(item) = item else { continue };
        if item.path_is_symlink() {
            let relative = item
                .path()
                .strip_prefix(local.root())
                .unwrap_or(item.path())
                .display()
                .to_string();
            return Err(SigningError::Symlink {
                path: if relative.is_empty() {
                    local.root().display().to_string()
                } else {
                    relative
                },
            });
        }
    }
    Ok(())
}

/// The listing without the paths a signature leaves out.
pub fn without_ignored(mut listing: Listing, ignore_paths: &[String]) -> Listing {
    listing
        .entries
        .retain(|e| !is_ignored(&e.path, ignore_paths));
    listing
        .not_files
        .retain(|(path, _)| !is_ignored(path, ignore_paths));
    listing
        .unreadable
        .retain(|(path, _)| !is_ignored(path, ignore_paths));
    listing
        .meta
        .retain(|path, _| !is_ignored(path, ignore_paths));
    listing
}

/// The model's name in the statement, informative only: the folder's name, as
/// `model_signing` takes it, the last segment of the S3 prefix (else the bucket), or the
/// Hub repository's name.
pub fn model_name(source: &AnySource) -> String {
    match source {
        AnySource::Local(local) => {
            let named = local
                .root()
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| *n != "..");
            match named {
                Some(name) => name.to_string(),
                None => std::fs::canonicalize(local.root())
                    .ok()
                    .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
                    .unwrap_or_default(),
            }
        }
        AnySource::S3(s3) => {
            let uri = s3.uri();
            uri.prefix
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|name| !name.is_empty())
                .unwrap_or(&uri.bucket)
                .to_string()
        }
        AnySource::Hub(hub) => hub
            .uri()
            .repo_id
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// How `sign` chooses what to sign.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// How the files are hashed and the model summarized.
    pub manifest: ManifestOptions,
    /// Paths relative to the artifact to leave out (a folder leaves out everything under
    /// it), recorded in the statement.
    pub ignore_paths: Vec<String>,
    /// Leave out the git paths (`.git`, `.gitattributes`, `.github`, `.gitignore`), as
    /// `model_signing` does by default.
    pub ignore_git_paths: bool,
}

/// What `sign` made.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The manifest of the signed files (hashed once, in parallel).
    pub manifest: Manifest,
    /// The statement that was signed.
    pub statement: Statement,
    /// The signature file's content.
    pub bundle: Bundle,
}

/// What signs: a private key, and for a certificate signature the certificates the bundle
/// carries instead of the key's hint.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The private key.
    pub key: PrivateKey,
    /// The signing certificate (the key's) and its chain; `None` for a key signature.
    pub certificates: Option<SigningCertificates>,
}

impl From<PrivateKey> for Signer {
    fn from(key: PrivateKey) -> Signer {
        Signer {
            key,
            certificates: None,
        }
    }
}

/// Hashes the artifact of `source` as `manifest` does, leaving out the ignored paths (and
/// `signature_inside`, the signature's own path when it lies in the artifact), and signs the
/// statement over the digests with `signer`.
pub async fn sign(
    source: &AnySource,
    signer: &Signer,
    signature_inside: Option<String>,
    options: &SignOptions,
    progress: Arc<dyn Progress>,
) -> Result<Signed, SigningError> {
    refuse_symlinks(source)?;
    let mut ignore_paths = options.ignore_paths.clone();
    ignore_paths.extend(signature_inside);
    if options.ignore_git_paths {
        ignore_paths.extend(GIT_PATHS.iter().map(|p| p.to_string()));
    }
    let listing = source.list().await.map_err(ManifestError::from)?;
    let listing = without_ignored(listing, &ignore_paths);
    let summary = check_listed(source, listing.clone(), options.manifest.check.clone())
        .await
        .summary;
    let manifest =
        create_listed(source, listing, summary, &options.manifest, None, progress).await?;
    let (statement, bundle) = sign_digests(
        &model_name(source),
        manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str())),
        &ignore_paths,
        signer,
    )?;
    Ok(Signed {
        manifest,
        statement,
        bundle,
    })
}

/// Signs the statement over digests already computed (`(path, hex SHA-256)` of every signed
/// file, as `push` has them from the upload), with no read of the files: the statement
/// named `name`, recording `ignore_paths`, and its bundle (with the key's hint, or the
/// signer's certificates).
pub fn sign_digests<'a>(
    name: &str,
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ignore_paths: &[String],
    signer: &Signer,
) -> Result<(Statement, Bundle), SigningError> {
    let statement = Statement::new(name, files, ignore_paths)?;
    let payload = statement.to_payload();
    let signature = signer.key.sign(&pae(&payload));
    let bundle = match &signer.certificates {
        Some(certificates) => {
            Bundle::with_certificates(&payload, &signature, &certificates.certificates)
        }
        None => Bundle::new(&payload, &signature, &signer.key.public_key().to_pem()),
    };
    Ok((statement, bundle))
}

/// What a signature is verified with: public keys (`--public-key`) for key signatures, the
/// trusted certificates (`--certificate-chain`) for certificate signatures.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The public keys, in the order given.
    pub keys: Vec<PublicKey>,
    /// The certificates a signing certificate must chain to.
    pub certificates: TrustedCertificates,
}

impl From<Vec<PublicKey>> for Trust {
    fn from(keys: Vec<PublicKey>) -> Trust {
        Trust {
            keys,
            certificates: TrustedCertificates::default(),
        }
    }
}

/// A signature that verified: its statement and what verified it.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signed statement.
    pub statement: Statement,
    /// For a key signature, the index, among the keys given, of the key that verified it.
    pub key: Option<usize>,
    /// For a certificate signature, its trusted signing certificate.
    pub certificate: Option<Certified>,
}

impl Verified {
    /// The hint of the key that verified the signature (a certificate's key too), as a key
    /// signature's bundle holds it.
    pub fn key_hint(&self, trust: &Trust) -> Option<String> {
        match (&self.certificate, self.key) {
            (Some(certified), _) => Some(certified.public_key.hint()),
            (None, Some(key)) => trust.keys.get(key).map(PublicKey::hint),
            (None, None) => None,
        }
    }
}

/// Verifies a signature file's bytes with `trust`, as `model_signing verify key` does: the
/// bundle's media type and envelope, the key hint, the ECDSA signature over the DSSE
/// pre-authentication encoding, then the statement. A signature by none of the keys is
/// SG002; a malformed bundle, or a payload that the hinted key did not sign, or a statement
/// this tool does not read, is SG003. A certificate signature (`model_signing sign
/// certificate`) is verified with the certificate's key once [`TrustedCertificates::verify`]
/// trusts it, else SG004.
pub fn verify_bundle(bytes: &[u8], trust: &Trust, location: &str) -> Result<Verified, Finding> {
    let keys = trust.keys.as_slice();
    let tampered = |reason: String| Finding::new(RuleId::SignatureTampered, location, reason);
    let bundle = Bundle::from_json(bytes).map_err(|e| tampered(e.to_string()))?;
    let (payload, signature) = bundle.signed_parts().map_err(|e| tampered(e.to_string()))?;
    let message = pae(&payload);
    if let Some(certificates) = bundle.certificates().map_err(|e| tampered(e.to_string()))? {
        let certified = trust.certificates.verify(&certificates).map_err(|reason| {
            Finding::new(RuleId::SignatureUntrustedCertificate, location, reason)
        })?;
        if !certified.public_key.verifies(&message, &signature) {
            return Err(tampered(format!(
                "has a trusted signing certificate ({}), but its envelope signature does not verify with the certificate's key: the payload or the signature was altered after signing",
                certified.subject
            )));
        }
        let statement = Statement::from_payload(&payload).map_err(|e| tampered(e.to_string()))?;
        return Ok(Verified {
            statement,
            key: None,
            certificate: Some(certified),
        });
    }
    let hint = bundle.hint();
    let hinted: Vec<usize> = (0..keys.len())
        .filter(|&i| hint.is_none_or(|hint| keys[i].hint() == hint))
        .collect();
    if hinted.is_empty() {
        return Err(Finding::new(
            RuleId::SignatureWrongKey,
            location,
            format!(
                "was made with the key whose hint is {}, which none of the {} public key(s) given has",
                hint.unwrap_or("(none)"),
                keys.len()
            ),
        ));
    }
    let Some(key) = hinted
        .iter()
        .copied()
        .find(|&i| keys[i].verifies(&message, &signature))
    else {
        return Err(match hint {
            Some(_) => tampered(
                "names the given public key, but its envelope signature does not verify with it: the payload or the signature was altered after signing".to_string(),
            ),
            None => Finding::new(
                RuleId::SignatureWrongKey,
                location,
                format!(
                    "does not verify with any of the {} public key(s) given",
                    keys.len()
                ),
            ),
        });
    };
    let statement = Statement::from_payload(&payload).map_err(|e| tampered(e.to_string()))?;
    Ok(Verified {
        statement,
        key: Some(key),
        certificate: None,
    })
}

/// The findings of comparing a manifest with a verified statement: every file the statement
/// signs must be in the manifest with the same SHA-256, and every file of the manifest that
/// the signature does not leave out must be signed; a difference is SG003 (the manifest is
/// not the one that was signed).
pub fn compare_manifest(
    manifest: &Manifest,
    statement: &Statement,
    location: &str,
) -> Vec<Finding> {
    let ignored = statement.ignored_when_verifying();
    let signed: std::collections::BTreeMap<&str, &str> = statement
        .predicate
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.digest.as_str()))
        .collect();
    let mut findings = Vec::new();
    for file in &manifest.files {
        if is_ignored(&file.path, &ignored) {
            continue;
        }
        match signed.get(file.path.as_str()) {
            None => findings.push(Finding::new(
                RuleId::SignatureTampered,
                file.path.clone(),
                format!("is in the manifest but not signed in {location}"),
            )),
            Some(digest) if *digest != file.sha256 => findings.push(Finding::new(
                RuleId::SignatureTampered,
                file.path.clone(),
                format!(
                    "has SHA-256 {} in the manifest; {location} signs {digest}",
                    file.sha256
                ),
            )),
            Some(_) => {}
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for name in signed.keys().filter(|name| !listed.contains(*name)) {
        findings.push(Finding::new(
            RuleId::SignatureTampered,
            name.to_string(),
            format!("is signed in {location} but not in the manifest"),
        ));
    }
    findings
}

/// The signature outcome that the `import` and `push` documents carry (docs/signing.md):
/// where the signature is, the key that verified or made it, what it signs, and the
/// findings that failed it. Fields in the alphabetical order of the tool's documents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignatureRecord {
    /// For a certificate signature, its trusted signing certificate; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateRecord>,
    /// The statement's subject digest, `sha256:<hex>`; absent when the signature could not
    /// be read or verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// How many files the statement signs (0 when it could not be read).
    pub files: usize,
    /// The SG and MF findings that failed the signature gate; empty when it passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<cmi_format::document::FindingRecord>,
    /// The key file as given: the `--public-key` that verified the signature, or the
    /// `--sign-key` that made it; absent when none verified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The bundle's public-key hint of that key: the hex SHA-256 of its SubjectPublicKeyInfo
    /// PEM, as `model_signing` writes it; absent when none verified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_hint: Option<String>,
    /// Whether the signature verified and the artifact matched it (always true for a
    /// signature `push` made).
    pub passed: bool,
    /// The signature file or `s3://` object as given.
    pub path: String,
}

/// The signing certificate of a certificate signature, as the documents name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertificateRecord {
    /// The hex SHA-256 of its DER.
    pub fingerprint: String,
    /// Its subject (RFC 4514).
    pub subject: String,
}

impl CertificateRecord {
    /// The record of a trusted signing certificate.
    pub fn of(certified: &Certified) -> CertificateRecord {
        CertificateRecord {
            fingerprint: certified.fingerprint.clone(),
            subject: certified.subject.clone(),
        }
    }
}

impl SignatureRecord {
    /// The record of a signature just made with `key` (named `key_name`) over `statement`,
    /// written to `path`.
    pub fn signed(path: &str, key_name: &str, key: &PrivateKey, statement: &Statement) -> Self {
        SignatureRecord {
            certificate: None,
            digest: Some(statement.digest()),
            files: statement.predicate.resources.len(),
            findings: Vec::new(),
            key: Some(key_name.to_string()),
            key_hint: Some(key.public_key().hint()),
            passed: true,
            path: path.to_string(),
        }
    }

    /// The record of verifying the signature at `path` with `trust` (its keys named
    /// `key_names`, in the same order): what verified it, whether it `passed`, and
    /// `findings`, those that failed it.
    pub fn verified(
        path: &str,
        trust: &Trust,
        key_names: &[String],
        verified: Option<&Verified>,
        passed: bool,
        findings: &[Finding],
    ) -> Self {
        SignatureRecord {
            certificate: verified
                .and_then(|v| v.certificate.as_ref())
                .map(CertificateRecord::of),
            digest: verified.map(|v| v.statement.digest()),
            files: verified.map_or(0, |v| v.statement.predicate.resources.len()),
            findings: findings
                .iter()
                .map(cmi_format::document::FindingRecord::of)
                .collect(),
            key: verified
                .and_then(|v| v.key)
                .and_then(|key| key_names.get(key).cloned()),
            key_hint: verified.and_then(|v| v.key_hint(trust)),
            passed,
            path: path.to_string(),
        }
    }
}

/// What verifying an artifact with its signature found.
#[derive(Debug, Clone)]
pub struct SignatureOutcome {
    /// The signature that verified, if one did.
    pub verified: Option<Verified>,
    /// The comparison of the artifact with the signed digests (or with the manifest, once it
    /// was shown to be the one signed); absent when the signature failed, whose findings are
    /// then in `findings`.
    pub verification: Option<Verification>,
    /// The SG findings, when the signature is missing, by another key or tampered, or the
    /// manifest is not the one signed.
    pub findings: Vec<Finding>,
}

impl SignatureOutcome {
    fn failed(findings: Vec<Finding>, verified: Option<Verified>) -> SignatureOutcome {
        SignatureOutcome {
            verified,
            verification: None,
            findings,
        }
    }
}

/// Verifies `source` with the signature at `location` and `trust`, as `verify --signature`
/// does (docs/signing.md): SG001 when it does not exist, [`verify_bundle`]'s SG002, SG003
/// and SG004,
/// then, with `manifest`, SG003 if it is not the one signed and the comparison with it; else
/// the comparison with the signed digests (MF001, MF002, MF004), leaving out the statement's
/// ignore paths, the git paths and the signature itself. The model summary comes from a
/// check of the listed files (headers and small files only).
pub async fn verify_signature(
    source: &AnySource,
    location: &SignatureLocation,
    trust: &Trust,
    manifest: Option<&Manifest>,
    aws: &AwsOptions,
    options: &HashOptions,
    progress: Arc<dyn Progress>,
) -> Result<SignatureOutcome, SigningError> {
    let name = location.to_string();
    let Some(bytes) = location.read(source, aws).await? else {
        return Ok(SignatureOutcome::failed(
            vec![Finding::new(
                RuleId::SignatureMissing,
                name,
                "does not exist",
            )],
            None,
        ));
    };
    let verified = match verify_bundle(&bytes, trust, &name) {
        Ok(verified) => verified,
        Err(finding) => return Ok(SignatureOutcome::failed(vec![finding], None)),
    };
    let statement = &verified.statement;
    if let Some(manifest) = manifest {
        let findings = compare_manifest(manifest, statement, &name);
        if !findings.is_empty() {
            return Ok(SignatureOutcome::failed(findings, Some(verified)));
        }
        let verification = crate::verify::verify(source, manifest, options, progress).await?;
        return Ok(SignatureOutcome {
            verified: Some(verified),
            verification: Some(verification),
            findings: Vec::new(),
        });
    }
    let mut ignored = statement.ignored_when_verifying();
    ignored.extend(location.inside(source));
    refuse_symlinks(source)?;
    let listing = source.list().await.map_err(ManifestError::from)?;
    let listing = without_ignored(listing, &ignored);
    let files: Vec<(String, String)> = statement
        .predicate
        .resources
        .iter()
        .map(|r| (r.name.clone(), r.digest.clone()))
        .collect();
    let summary = check_listed(source, listing.clone(), CheckOptions::default())
        .await
        .summary;
    let mut verification =
        crate::verify::verify_signed(source, &files, &listing, options, progress).await?;
    verification.report.summary = summary;
    Ok(SignatureOutcome {
        verified: Some(verified),
        verification: Some(verification),
        findings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P256_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMiHzmCsz9rY6dKeAElRFFgNmPoe4WXOoh+tjpVMFSN+oAoGCCqGSM49
AwEHoUQDQgAE+YGr5AH5QrxmX8LYMGEYFbdur1cu+E5zenBec5exvqUPhPQSlPpz
TzhBSkbWc2tDAupiWEpBbnfJGbxsQC98Yg==
-----END EC PRIVATE KEY-----
";

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let key = PrivateKey::from_pem(P256_SEC1).expect("P-256 key");
        assert_eq!(key.curve(), "P-256");
        let public = key.public_key();
        assert!(PublicKey::from_pem(&public.to_pem()).is_some());
        let statement =
            Statement::new("m", [("a", "00".repeat(32).as_str())], &[]).expect("statement");
        let payload = statement.to_payload();
        let bundle = Bundle::new(&payload, &key.sign(&pae(&payload)), &public.to_pem());
        let bytes = bundle.to_json().into_bytes();
        let trust = Trust::from(vec![public.clone()]);
        let verified = verify_bundle(&bytes, &trust, "model.sig").expect("verifies");
        assert_eq!(verified.statement, statement);
        assert_eq!(verified.key, Some(0));
        assert_eq!(verified.key_hint(&trust), Some(public.hint()));

        let mut tampered = bundle.clone();
        tampered.dsse_envelope.payload = tampered.dsse_envelope.payload.replace('A', "B");
        let finding = verify_bundle(tampered.to_json().as_bytes(), &trust, "model.sig")
            .expect_err("tampered");
        assert_eq!(finding.rule, RuleId::SignatureTampered);
    }

    #[test]
    fn signature_locations() {
        assert_eq!(
            SignatureLocation::parse("s3://b/k/model.sig").unwrap(),
            SignatureLocation::S3 {
                bucket: "b".into(),
                key: "k/model.sig".into()
            }
        );
        assert!(SignatureLocation::parse("s3://b/").is_err());
        assert!(SignatureLocation::parse("s3://b").is_err());
        assert_eq!(
            SignatureLocation::parse("model.sig").unwrap(),
            SignatureLocation::Local("model.sig".into())
        );
    }
}
