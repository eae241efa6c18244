//! Signatures in the format of OpenSSF Model Signing (the `model_signing` package on PyPI,
//! version 1.1.1, `model_signing sign key` / `verify key`), without any I/O or cryptography:
//! the in-toto statement, its canonical JSON, the DSSE pre-authentication encoding and the
//! Sigstore bundle that carries it.
//!
//! The layout follows `model_signing` 1.1.1: `_signing/signing.py` (`Payload`, the statement
//! and its subject digest), `manifest.py` (`_FileSerialization`, the resource order),
//! `_signing/sign_sigstore_pb.py` (`pae`, the bundle media type), `_signing/sign_ec_key.py`
//! (the envelope and the public-key hint), `_signing/sign_certificate.py` (the certificate
//! chain of a certificate signature) and `hashing.py` (the git paths ignored by default).
//! docs/signing.md describes the format field by field.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a model signature, v1.0.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The predicate type of the signatures `model_signing` wrote before 1.0, which this crate
/// does not read.
pub const PREDICATE_TYPE_COMPAT: &str = "https://model_signing/Digests/v0.1";
/// The media type of the Sigstore bundle.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The paths `model_signing` ignores unless told `--no-ignore-git-paths`, relative to the
/// model folder (`hashing.Config.hash`).
pub const GIT_PATHS: &[&str] = &[".git", ".gitattributes", ".github", ".gitignore"];
/// The serialization method of a signature over whole files.
pub const METHOD_FILES: &str = "files";
/// The hash of every file, and of the subject.
pub const HASH_SHA256: &str = "sha256";
/// The largest signature file read: 64 MiB, far beyond a statement of 100,000 files.
pub const MAX_BUNDLE_BYTES: u64 = 64 << 20;

/// Why a bundle or a statement cannot be used; every case is a tampered or unsupported
/// signature (SG003).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigningFormatError {
    /// The bundle is not the JSON of a Sigstore bundle with a DSSE envelope.
    #[error("the signature is not a Sigstore bundle with a DSSE envelope: {0}")]
    Bundle(String),
    /// The envelope does not hold what `model_signing` signs.
    #[error("the envelope {0}")]
    Envelope(String),
    /// The statement is not what `model_signing` signs.
    #[error("the signed statement {0}")]
    Statement(String),
}

fn bundle_error(reason: impl Into<String>) -> SigningFormatError {
    SigningFormatError::Bundle(reason.into())
}

fn statement_error(reason: impl Into<String>) -> SigningFormatError {
    SigningFormatError::Statement(reason.into())
}

/// One signed file: its path relative to the model folder (`/`-separated) and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Path relative to the model folder.
    pub name: String,
    /// The digest algorithm, [`HASH_SHA256`].
    pub algorithm: String,
    /// Lowercase hex digest of the content.
    pub digest: String,
}

/// How the files were serialized, as the predicate records it (`_FileSerialization`).
///
/// The fields are written in the order `model_signing` 1.1.1 writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serialization {
    /// Paths, relative to the model folder, that were left out of the signature; a folder
    /// leaves out everything under it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_paths: Vec<String>,
    /// The digest of every file, [`HASH_SHA256`].
    pub hash_type: String,
    /// The serialization method, [`METHOD_FILES`].
    pub method: String,
    /// Whether symbolic links were followed; `false` here, as `model_signing` defaults to.
    pub allow_symlinks: bool,
}

/// The predicate of a model signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Predicate {
    /// How the files were serialized.
    pub serialization: Serialization,
    /// Every signed file, in [`compare_paths`] order.
    pub resources: Vec<Resource>,
}

/// The subject's digest set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectDigest {
    /// SHA-256 over the concatenated raw digests of the resources, in their order.
    pub sha256: String,
}

/// The subject of the statement: the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The model's name (the folder's name); informative only.
    pub name: String,
    /// The digest over the resources.
    pub digest: SubjectDigest,
}

/// The in-toto statement that is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// Exactly one subject.
    pub subject: Vec<Subject>,
    /// [`PREDICATE_TYPE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The resources and how they were serialized.
    pub predicate: Predicate,
}

/// The order of resources in a statement: `pathlib.PurePosixPath` order, which compares
/// paths segment by segment (`a/b` before `a.txt`, unlike a byte-wise string order).
pub fn compare_paths(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// The segments of a relative path, without empty and `.` segments, as `pathlib` reads it.
fn segments(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect()
}

/// Whether `path` is one of `ignore_paths` or under one of them (`Path.is_relative_to`).
pub fn is_ignored(path: &str, ignore_paths: &[String]) -> bool {
    let path = segments(path);
    ignore_paths.iter().any(|ignored| {
        let ignored = segments(ignored);
        !ignored.is_empty() && path.starts_with(&ignored)
    })
}

/// The subject digest: SHA-256 over the raw digests of `resources`, in their order.
pub fn root_digest(resources: &[Resource]) -> Result<String, SigningFormatError> {
    let mut hasher = Sha256::new();
    for resource in resources {
        let raw = decode_hex(&resource.digest).ok_or_else(|| {
            statement_error(format!(
                "has a digest for {:?} that is not hexadecimal",
                resource.name
            ))
        })?;
        hasher.update(raw);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Statement {
    /// The statement over `files` (path and lowercase hex SHA-256), which leaves out
    /// `ignore_paths`: resources sorted as `model_signing` sorts them, and the subject digest
    /// over them.
    pub fn new<'a>(
        model_name: &str,
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        ignore_paths: &[String],
    ) -> Result<Statement, SigningFormatError> {
        let mut resources: Vec<Resource> = files
            .into_iter()
            .map(|(path, sha256)| Resource {
                name: path.to_string(),
                algorithm: HASH_SHA256.to_string(),
                digest: sha256.to_string(),
            })
            .collect();
        resources.sort_by(|a, b| compare_paths(&a.name, &b.name));
        let ignore_paths: BTreeSet<String> = ignore_paths.iter().cloned().collect();
        Ok(Statement {
            statement_type: STATEMENT_TYPE.to_string(),
            subject: vec![Subject {
                name: model_name.to_string(),
                digest: SubjectDigest {
                    sha256: root_digest(&resources)?,
                },
            }],
            predicate_type: PREDICATE_TYPE.to_string(),
            predicate: Predicate {
                serialization: Serialization {
                    ignore_paths: ignore_paths.into_iter().collect(),
                    hash_type: HASH_SHA256.to_string(),
                    method: METHOD_FILES.to_string(),
                    allow_symlinks: false,
                },
                resources,
            },
        })
    }

    /// The statement as signed: JSON indented by two spaces, as protobuf's
    /// `json_format.MessageToJson` writes it, without a trailing newline.
    pub fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// Reads a signed payload as `model_signing` does (`dsse_payload_to_manifest`): the
    /// statement type, the predicate type, one subject, a `files` serialization with SHA-256,
    /// and a subject digest equal to the digest over the resources. Also refuses what this
    /// tool cannot compare safely: a resource path that is absolute, has `..`, or repeats.
    pub fn from_payload(payload: &[u8]) -> Result<Statement, SigningFormatError> {
        let value: serde_json::Value = serde_json::from_slice(payload)
            .map_err(|e| statement_error(format!("is not JSON: {e}")))?;
        let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        if field("_type") != Some(STATEMENT_TYPE) {
            return Err(statement_error(format!(
                "has type {:?}, not {STATEMENT_TYPE}",
                field("_type").unwrap_or("(none)")
            )));
        }
        match field("predicateType") {
            Some(PREDICATE_TYPE) => {}
            Some(PREDICATE_TYPE_COMPAT) => {
                return Err(statement_error(format!(
                    "has the pre-1.0 predicate {PREDICATE_TYPE_COMPAT}, which this tool does not read; sign the model again with model_signing 1.0 or later"
                )))
            }
            other => {
                return Err(statement_error(format!(
                    "has predicate type {:?}, not {PREDICATE_TYPE}",
                    other.unwrap_or("(none)")
                )))
            }
        }
        let method = value
            .pointer("/predicate/serialization/method")
            .and_then(serde_json::Value::as_str);
        if method != Some(METHOD_FILES) {
            return Err(statement_error(format!(
                "uses serialization method {:?}; this tool reads signatures over whole files ({METHOD_FILES:?}) only",
                method.unwrap_or("(none)")
            )));
        }
        let statement: Statement = serde_json::from_value(value)
            .map_err(|e| statement_error(format!("is not a model signature statement: {e}")))?;
        statement.validate()?;
        Ok(statement)
    }

    fn validate(&self) -> Result<(), SigningFormatError> {
        let [subject] = self.subject.as_slice() else {
            return Err(statement_error(format!(
                "has {} subjects, not one",
                self.subject.len()
            )));
        };
        let serialization = &self.predicate.serialization;
        if serialization.hash_type != HASH_SHA256 {
            return Err(statement_error(format!(
                "hashes files with {:?}; this tool reads SHA-256 signatures only",
                serialization.hash_type
            )));
        }
        if serialization.allow_symlinks {
            return Err(statement_error(
                "was made following symbolic links (allow_symlinks), which this tool does not do",
            ));
        }
        let mut names = BTreeSet::new();
        for resource in &self.predicate.resources {
            if resource.algorithm != HASH_SHA256 || resource.digest.len() != 64 {
                return Err(statement_error(format!(
                    "has a {:?} digest of {} characters for {:?}, not a SHA-256",
                    resource.algorithm,
                    resource.digest.len(),
                    resource.name
                )));
            }
            let name = &resource.name;
            if name.is_empty()
                || name.starts_with('/')
                || name
                    .split('/')
                    .any(|s| s.is_empty() || s == "." || s == "..")
            {
                return Err(statement_error(format!(
                    "names a file {name:?} that is not a relative path inside the model"
                )));
            }
            if !names.insert(name.as_str()) {
                return Err(statement_error(format!("names the file {name:?} twice")));
            }
        }
        let digest = root_digest(&self.predicate.resources)?;
        if digest != subject.digest.sha256 {
            return Err(statement_error(format!(
                "is inconsistent: its subject digest is {}, but its resources hash to {digest}",
                subject.digest.sha256
            )));
        }
        Ok(())
    }

    /// The subject digest, `sha256:<hex>`.
    pub fn digest(&self) -> String {
        self.subject
            .first()
            .map(|s| format!("sha256:{}", s.digest.sha256))
            .unwrap_or_default()
    }

    /// The paths left out of the signature: those recorded in the predicate, and the git
    /// paths `model_signing verify` always leaves out too.
    pub fn ignored_when_verifying(&self) -> Vec<String> {
        let mut paths = self.predicate.serialization.ignore_paths.clone();
        paths.extend(GIT_PATHS.iter().map(|p| p.to_string()));
        paths
    }
}

/// DSSE's pre-authentication encoding of an in-toto payload, v1.0:
/// `DSSEv1 <len(type)> <type> <len(payload)> <payload>`; the bytes that are signed.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {PAYLOAD_TYPE} {} ",
        PAYLOAD_TYPE.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// The public-key hint of a bundle: the lowercase hex SHA-256 of the key's
/// SubjectPublicKeyInfo PEM (with `\n` line ends, as `cryptography` writes it).
pub fn key_hint(public_key_pem: &str) -> String {
    hex(&Sha256::digest(public_key_pem.as_bytes()))
}

/// One signature of a DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64 of the DER ECDSA signature over [`pae`] of the payload.
    pub sig: String,
    /// Empty, as `model_signing` writes it.
    #[serde(default)]
    pub keyid: String,
}

/// The DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the statement's JSON.
    pub payload: String,
    /// [`PAYLOAD_TYPE`].
    pub payload_type: String,
    /// The signatures; `model_signing` writes and checks the first.
    pub signatures: Vec<EnvelopeSignature>,
}

/// The public-key identifier of the verification material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyIdentifier {
    /// [`key_hint`] of the signing key; absent in bundles made before `model_signing` 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// One certificate of a certificate chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Certificate {
    /// Base64 of the certificate's DER.
    pub raw_bytes: String,
}

/// The certificates of a certificate signature (`model_signing sign certificate`): the
/// signing certificate first, then the chain given when signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct X509CertificateChain {
    /// The certificates, the signing certificate first.
    pub certificates: Vec<X509Certificate>,
}

/// What the verifier needs besides the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// Which public key verifies the envelope (a key signature); absent for a certificate
    /// signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyIdentifier>,
    /// The signing certificate and its chain (a certificate signature,
    /// `_signing/sign_certificate.py`); absent for a key signature.
    #[serde(
        default,
        rename = "x509CertificateChain",
        skip_serializing_if = "Option::is_none"
    )]
    pub x509_certificate_chain: Option<X509CertificateChain>,
    /// Transparency-log entries: none for key signatures.
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

/// The Sigstore bundle that is the signature file, written as compact JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// [`BUNDLE_MEDIA_TYPE`].
    pub media_type: String,
    /// The public-key hint.
    pub verification_material: VerificationMaterial,
    /// The signed statement.
    pub dsse_envelope: Envelope,
}

impl Bundle {
    /// The bundle of `payload` signed by the key with PEM `public_key_pem`, with the DER
    /// signature `signature` over [`pae`] of it.
    pub fn new(payload: &[u8], signature_der: &[u8], public_key_pem: &str) -> Bundle {
        Bundle::signed(
            payload,
            signature_der,
            VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: Some(key_hint(public_key_pem)),
                }),
                x509_certificate_chain: None,
                tlog_entries: Vec::new(),
            },
        )
    }

    /// The bundle of `payload` signed by the key of the certificate `certificates[0]` (DER),
    /// followed by its chain, as `model_signing sign certificate` writes it.
    pub fn with_certificates(
        payload: &[u8],
        signature_der: &[u8],
        certificates: &[Vec<u8>],
    ) -> Bundle {
        let base64 = base64::engine::general_purpose::STANDARD;
        Bundle::signed(
            payload,
            signature_der,
            VerificationMaterial {
                public_key: None,
                x509_certificate_chain: Some(X509CertificateChain {
                    certificates: certificates
                        .iter()
                        .map(|der| X509Certificate {
                            raw_bytes: base64.encode(der),
                        })
                        .collect(),
                }),
                tlog_entries: Vec::new(),
            },
        )
    }

    fn signed(
        payload: &[u8],
        signature_der: &[u8],
        verification_material: VerificationMaterial,
    ) -> Bundle {
        let base64 = base64::engine::general_purpose::STANDARD;
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.to_string(),
            verification_material,
            dsse_envelope: Envelope {
                payload: base64.encode(payload),
                payload_type: PAYLOAD_TYPE.to_string(),
                signatures: vec![EnvelopeSignature {
                    sig: base64.encode(signature_der),
                    keyid: String::new(),
                }],
            },
        }
    }

    /// The signature file's content: compact JSON, as `model_signing` writes it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a signature file: a bundle of the media type `model_signing` writes, with a
    /// public-key identifier or a certificate chain and a DSSE envelope of an in-toto
    /// payload.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, SigningFormatError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bundle_error(format!("not JSON: {e}")))?;
        let media_type = value.get("mediaType").and_then(serde_json::Value::as_str);
        if media_type != Some(BUNDLE_MEDIA_TYPE) {
            return Err(bundle_error(format!(
                "media type {:?}, not {BUNDLE_MEDIA_TYPE}",
                media_type.unwrap_or("(none)")
            )));
        }
        let bundle: Bundle =
            serde_json::from_value(value).map_err(|e| bundle_error(e.to_string()))?;
        let material = &bundle.verification_material;
        let certificates = material
            .x509_certificate_chain
            .as_ref()
            .map_or(0, |chain| chain.certificates.len());
        if material.public_key.is_none() && certificates == 0 {
            return Err(bundle_error(
                "neither a public-key identifier nor a certificate chain (a Sigstore signature, which this tool does not verify)",
            ));
        }
        if bundle.dsse_envelope.payload_type != PAYLOAD_TYPE {
            return Err(SigningFormatError::Envelope(format!(
                "has payload type {:?}, not {PAYLOAD_TYPE}",
                bundle.dsse_envelope.payload_type
            )));
        }
        if bundle.dsse_envelope.signatures.is_empty() {
            return Err(SigningFormatError::Envelope("has no signature".to_string()));
        }
        Ok(bundle)
    }

    /// The certificates (DER) of a certificate signature, the signing certificate first;
    /// `None` for a key signature.
    pub fn certificates(&self) -> Result<Option<Vec<Vec<u8>>>, SigningFormatError> {
        if self.verification_material.public_key.is_some() {
            return Ok(None);
        }
        let Some(chain) = &self.verification_material.x509_certificate_chain else {
            return Ok(None);
        };
        let base64 = base64::engine::general_purpose::STANDARD;
        chain
            .certificates
            .iter()
            .map(|certificate| {
                base64.decode(&certificate.raw_bytes).map_err(|e| {
                    bundle_error(format!("a certificate of the chain is not base64: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The public-key hint, when the bundle has one.
    pub fn hint(&self) -> Option<&str> {
        self.verification_material
            .public_key
            .as_ref()
            .and_then(|key| key.hint.as_deref())
    }

    /// The decoded payload and the decoded first signature (the one `model_signing`
    /// checks).
    pub fn signed_parts(&self) -> Result<(Vec<u8>, Vec<u8>), SigningFormatError> {
        let base64 = base64::engine::general_purpose::STANDARD;
        let payload = base64
            .decode(&self.dsse_envelope.payload)
            .map_err(|e| SigningFormatError::Envelope(format!("payload is not base64: {e}")))?;
        let signature = self
            .dsse_envelope
            .signatures
            .first()
            .map(|s| base64.decode(&s.sig))
            .transpose()
            .map_err(|e| SigningFormatError::Envelope(format!("signature is not base64: {e}")))?
            .unwrap_or_default();
        Ok((payload, signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        let a = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
        let b = "73cb3858a687a8494ca3323053016282f3dad39d42cf62ca4e79dda2aac7d9ac";
        Statement::new(
            "m",
            [("a.txt", a), ("a/b", b), ("a-b", a)],
            &[".git".to_string(), "model.sig".to_string()],
        )
        .unwrap()
    }

    #[test]
    fn resources_sort_by_segments_as_pathlib_does() {
        let names: Vec<_> = statement()
            .predicate
            .resources
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, ["a/b", "a-b", "a.txt"]);
    }

    #[test]
    fn payload_round_trips_and_is_indented_like_message_to_json() {
        let statement = statement();
        let payload = statement.to_payload();
        let text = String::from_utf8(payload.clone()).unwrap();
        assert!(text.starts_with("{\n  \"_type\": \"https://in-toto.io/Statement/v1\",\n  \"subject\": [\n    {\n      \"name\": \"m\","));
        assert!(text.contains(
            "\"serialization\": {\n      \"ignore_paths\": [\n        \".git\",\n        \"model.sig\"\n      ],\n      \"hash_type\": \"sha256\",\n      \"method\": \"files\",\n      \"allow_symlinks\": false\n    },"
        ));
        assert!(!text.ends_with('\n'));
        assert_eq!(Statement::from_payload(&payload).unwrap(), statement);
    }

    #[test]
    fn a_changed_resource_breaks_the_subject_digest() {
        let mut statement = statement();
        statement.predicate.resources[0].digest = "0".repeat(64);
        let error = Statement::from_payload(&statement.to_payload()).unwrap_err();
        assert!(error.to_string().contains("inconsistent"), "{error}");
    }

    #[test]
    fn unsupported_statements_are_refused() {
        let payload = String::from_utf8(statement().to_payload()).unwrap();
        for (from, to) in [
            ("\"files\"", "\"shards\""),
            (
                "https://model_signing/signature/v1.0",
                PREDICATE_TYPE_COMPAT,
            ),
            ("\"allow_symlinks\": false", "\"allow_symlinks\": true"),
            ("https://in-toto.io/Statement/v1", "x"),
            ("\"a/b\"", "\"../b\""),
        ] {
            let changed = payload.replace(from, to);
            assert!(Statement::from_payload(changed.as_bytes()).is_err(), "{to}");
        }
    }

    #[test]
    fn ignore_paths_cover_their_subtrees() {
        let ignored = vec![".git".to_string(), "sub/x".to_string()];
        assert!(is_ignored(".git/HEAD", &ignored));
        assert!(is_ignored("sub/x", &ignored));
        assert!(is_ignored("sub/x/y", &ignored));
        assert!(!is_ignored(".gitx", &ignored));
        assert!(!is_ignored("sub/xy", &ignored));
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae(b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    #[test]
    fn bundle_round_trips_in_the_layout_model_signing_writes() {
        let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let bundle = Bundle::new(b"{}", &[1, 2, 3], pem);
        let json = bundle.to_json();
        assert!(json.starts_with(
            "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{\"publicKey\":{\"hint\":\""
        ));
        assert!(json.ends_with(
            "\"},\"tlogEntries\":[]},\"dsseEnvelope\":{\"payload\":\"e30=\",\"payloadType\":\"application/vnd.in-toto+json\",\"signatures\":[{\"sig\":\"AQID\",\"keyid\":\"\"}]}}"
        ));
        let read = Bundle::from_json(json.as_bytes()).unwrap();
        assert_eq!(read, bundle);
        assert_eq!(
            read.signed_parts().unwrap(),
            (b"{}".to_vec(), vec![1, 2, 3])
        );
        assert!(Bundle::from_json(b"{}").is_err());
        assert!(Bundle::from_json(b"[").is_err());
        assert_eq!(read.certificates().unwrap(), None);
    }

    #[test]
    fn a_certificate_bundle_has_the_chain_instead_of_the_hint() {
        let bundle = Bundle::with_certificates(b"{}", &[1], &[vec![0x30, 0], vec![0x30, 1]]);
        let json = bundle.to_json();
        assert!(json.starts_with(
            "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"verificationMaterial\":{\"x509CertificateChain\":{\"certificates\":[{\"rawBytes\":\"MAA=\"},{\"rawBytes\":\"MAE=\"}]},\"tlogEntries\":[]},\"dsseEnvelope\":"
        ), "{json}");
        let read = Bundle::from_json(json.as_bytes()).unwrap();
        assert_eq!(read.hint(), None);
        assert_eq!(
            read.certificates().unwrap(),
            Some(vec![vec![0x30, 0], vec![0x30, 1]])
        );
        let empty = json.replace("[{\"rawBytes\":\"MAA=\"},{\"rawBytes\":\"MAE=\"}]", "[]");
        assert!(Bundle::from_json(empty.as_bytes()).is_err());
    }
}
