//! `sign`, and `verify --signature`: OpenSSF Model Signing signatures (docs/signing.md).

use std::io::Write;

use anyhow::{Context, Result};
use cmi_agent::certificate::{SigningCertificates, TrustedCertificates};
use cmi_agent::manifest::Manifest;
use cmi_agent::signing::{
    self, CertificateRecord, KeyPassword, PrivateKey, PublicKey, SignOptions, SignatureLocation,
    SignatureOutcome, Signer, Trust,
};
use cmi_agent::verify::{Comparison, ManifestReference, SignatureReference, VerifyMode};
use cmi_agent::{CheckOptions, OpenOptions};
use cmi_format::Report;

use crate::cli::{ReportFormat, SignArgs, VerifyArgs};
use crate::{render, runtime, verdict, PASSED};

/// `sign`: hash the artifact once, sign the statement over its digests, write the bundle.
pub fn sign(args: SignArgs) -> Result<u8> {
    let password = args
        .key_password_env
        .as_deref()
        .map(KeyPassword::from_env)
        .transpose()?;
    let key = PrivateKey::read(&args.key, password.as_ref())?;
    let certificates = args
        .signing_certificate
        .as_deref()
        .map(|certificate| SigningCertificates::read(certificate, &args.certificate_chain, &key))
        .transpose()?;
    let signer = Signer {
        key: key.clone(),
        certificates,
    };
    let location = SignatureLocation::parse(&args.output)?;
    let open = OpenOptions {
        aws: args.aws.options(),
        bedrock_region: None,
        confined: true,
        offline: false,
        hub: None,
    };
    let options = SignOptions {
        manifest: cmi_agent::manifest::ManifestOptions {
            hash: args.hash.options(),
            check: CheckOptions::default(),
        },
        ignore_paths: args.ignore_paths.clone(),
        ignore_git_paths: !args.no_ignore_git_paths,
    };
    let aws = args.aws.options();
    let progress = render::progress::for_terminal(args.hash.quiet);
    let signed = runtime()?.block_on(async {
        let source = cmi_agent::open(&args.source, &open).await?;
        let inside = location.inside(&source);
        let signed = signing::sign(&source, &signer, inside, &options, progress.clone()).await?;
        location
            .write(signed.bundle.to_json().as_bytes(), &source, &aws)
            .await?;
        anyhow::Ok(signed)
    })?;
    drop(progress);
    let mut stdout = anstream::stdout().lock();
    writeln!(
        stdout,
        "signed {} files ({}) with a {} key{}: {location}",
        signed.statement.predicate.resources.len(),
        signed.statement.digest(),
        key.curve(),
        match &args.signing_certificate {
            Some(certificate) => format!(" and the certificate {}", certificate.display()),
            None => String::new(),
        }
    )?;
    Ok(PASSED)
}

/// `verify --signature`: the signature first (SG findings), then the artifact against the
/// signed digests, or against `--manifest` once it is shown to be the one signed.
pub fn verify(args: VerifyArgs, signature: &str) -> Result<u8> {
    if args.public_key.is_empty() && args.certificate_chain.is_empty() {
        anyhow::bail!(
            "--signature needs --public-key (a key signature) or --certificate-chain (a certificate signature)"
        );
    }
    let trust = Trust {
        keys: args
            .public_key
            .iter()
            .map(|path| PublicKey::read(path))
            .collect::<Result<Vec<_>, _>>()?,
        certificates: TrustedCertificates::read(&args.certificate_chain)?,
    };
    let location = SignatureLocation::parse(signature)?;
    let manifest = args.manifest.as_deref().map(Manifest::read).transpose()?;
    let open = OpenOptions {
        aws: args.aws.options(),
        bedrock_region: None,
        confined: true,
        offline: args.offline,
        hub: None,
    };
    let aws = args.aws.options();
    let options = args.hash.options();
    let progress = render::progress::for_terminal(args.hash.quiet);
    let outcome = runtime()?.block_on(async {
        let source = cmi_agent::open(&args.source, &open).await?;
        anyhow::Ok(
            signing::verify_signature(
                &source,
                &location,
                &trust,
                manifest.as_ref(),
                &aws,
                &options,
                progress.clone(),
            )
            .await?,
        )
    })?;
    drop(progress);
    let key_names: Vec<String> = args
        .public_key
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let shown = Shown {
        source: &args.source,
        signature,
        public_keys: &key_names,
        manifest_path: args.manifest.as_deref(),
        manifest: manifest.as_ref(),
        format: args.format,
    };
    let mut stdout = anstream::stdout().lock();
    let passed = report_signature(&mut stdout, &shown, outcome)?;
    Ok(verdict(passed))
}

/// What [`report_signature`] shows the outcome of verifying a signature for.
pub(crate) struct Shown<'a> {
    /// The artifact as given.
    pub source: &'a str,
    /// The signature's location as given.
    pub signature: &'a str,
    /// The names of the keys (the `--public-key` files as given), in order.
    pub public_keys: &'a [String],
    /// `--manifest`, if given.
    pub manifest_path: Option<&'a std::path::Path>,
    /// The manifest read from it.
    pub manifest: Option<&'a Manifest>,
    /// The output format.
    pub format: ReportFormat,
}

/// Writes the report of `verify --signature` for `outcome` (the SG findings, or the
/// comparison of the artifact with the signed digests) and returns whether it passed.
pub(crate) fn report_signature(
    out: &mut dyn Write,
    shown: &Shown<'_>,
    outcome: SignatureOutcome,
) -> Result<bool> {
    let signature = shown.signature;
    let manifest = shown.manifest;
    let reference = SignatureReference {
        path: signature.to_string(),
        public_key: outcome
            .verified
            .as_ref()
            .and_then(|verified| verified.key)
            .and_then(|key| shown.public_keys.get(key).cloned()),
        certificate: outcome
            .verified
            .as_ref()
            .and_then(|verified| verified.certificate.as_ref())
            .map(CertificateRecord::of),
        digest: outcome.verified.as_ref().map(|v| v.statement.digest()),
        files: outcome
            .verified
            .as_ref()
            .map_or(0, |v| v.statement.predicate.resources.len()),
    };
    let (findings, verification) = (outcome.findings, outcome.verification);
    let mut notes = Vec::new();
    if let (Some(key), Some(digest)) = (&reference.public_key, &reference.digest) {
        notes.push(format!(
            "signature {signature} verified with {key}: {} files signed ({digest})",
            reference.files
        ));
    }
    if let (Some(certificate), Some(digest)) = (&reference.certificate, &reference.digest) {
        notes.push(format!(
            "signature {signature} verified with the certificate of {} (SHA-256 {}), trusted by --certificate-chain: {} files signed ({digest})",
            certificate.subject, certificate.fingerprint, reference.files
        ));
    }
    let (report, compared, by_s3_checksum) = match &verification {
        Some(verification) => {
            notes.push(format!(
                "compared {} files by SHA-256 with {}{}",
                verification.compared,
                match shown.manifest_path {
                    Some(path) => format!("the manifest {}, the one signed", path.display()),
                    None => "the signed digests".to_string(),
                },
                match verification.by_s3_checksum {
                    0 => String::new(),
                    n => format!(
                        "; {n} of them by the SHA-256 checksum S3 holds, without reading them"
                    ),
                }
            ));
            (
                verification.report.clone(),
                verification.compared,
                verification.by_s3_checksum,
            )
        }
        None => (
            Report {
                findings,
                summary: manifest.map(|m| m.model.clone()).unwrap_or_default(),
            },
            0,
            0,
        ),
    };
    let comparison = Comparison {
        mode: VerifyMode::Full,
        manifest: shown
            .manifest_path
            .zip(manifest)
            .map(|(path, m)| ManifestReference {
                path: path.display().to_string(),
                artifact_digest: m.artifact_digest.clone(),
                files: m.files.len(),
            }),
        signature: Some(reference),
        compared,
        by_s3_checksum,
    };
    let context = render::ReportContext {
        command: "verify",
        source: shown.source,
        strict: false,
        notes,
        comparison: Some(comparison),
        provenance: None,
    };
    render::report(out, shown.format, &context, &report).context("cannot write the report")?;
    Ok(report.passed(false))
}
