//! `watch --require-signature`: an artifact version is imported only when its signature,
//! found through a [`SignatureTemplate`], verifies with one of the public keys and signs
//! exactly the files of the manifest the daemon made of that version (docs/signing.md).

use cmi_format::Finding;

use super::{fault, Daemon, Fault, WatchError};
use crate::manifest::Manifest;
use crate::open::AnySource;
use crate::signing::{compare_manifest, verify_bundle, PublicKey, SignatureLocation, Trust};
use crate::watch::health::ErrorKind;
use crate::watch::state::ArtifactState;

/// The placeholders a [`SignatureTemplate`] may use.
pub const SIGNATURE_PLACEHOLDERS: [&str; 2] = ["{name}", "{prefix}"];

/// Where the signature of an artifact is: a local path or `s3://bucket/key` with the
/// placeholders `{name}` (the artifact's name) and `{prefix}` (its key prefix in the watched
/// bucket, ending with `/`), e.g. `s3://signatures/{name}.sig`. It may not point inside the
/// watched prefix: whoever can write the artifact could then write its signature too, and
/// Bedrock would import the signature with the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTemplate(String);

impl SignatureTemplate {
    /// Validates the placeholders of `text`, and that it names no object of the watched
    /// `bucket` under `prefix`.
    pub fn parse(text: &str, bucket: &str, prefix: &str) -> Result<SignatureTemplate, WatchError> {
        let invalid = || WatchError::SignatureTemplate(text.to_string());
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .map(|e| start + e + 1)
                .ok_or_else(invalid)?;
            if !SIGNATURE_PLACEHOLDERS.contains(&&rest[start..end]) {
                return Err(invalid());
            }
            rest = &rest[end..];
        }
        if rest.contains('}') {
            return Err(invalid());
        }
        if let Some(key) = text.strip_prefix(&format!("s3://{bucket}/")) {
            if key.starts_with("{prefix}") || key.starts_with(prefix) {
                return Err(WatchError::SignatureInside(text.to_string()));
            }
        }
        Ok(SignatureTemplate(text.to_string()))
    }

    /// The signature's location for the artifact `name` at `prefix`; `None` when the name
    /// cannot be part of a path (`.`, `..`, or with a `/`).
    pub fn render(&self, name: &str, prefix: &str) -> Option<SignatureLocation> {
        if matches!(name, "" | "." | "..") || name.contains('/') {
            return None;
        }
        let text = self.0.replace("{name}", name).replace("{prefix}", prefix);
        SignatureLocation::parse(&text).ok()
    }
}

/// How signatures are required.
#[derive(Debug, Clone)]
pub struct SignaturePolicy {
    /// Where each artifact's signature is.
    pub template: SignatureTemplate,
    /// The public keys that may have made it.
    pub keys: Vec<PublicKey>,
}

impl Daemon {
    /// The findings of the signature gate for a version whose check passed: none when its
    /// signature verifies with one of the keys and signs exactly the files of `manifest`
    /// (the ready marker left out); else SG001 (missing), SG002 (another key) or SG003
    /// (tampered, or signing other files). A signature that cannot be read is a fault.
    pub(super) async fn signature_findings(
        &self,
        policy: &SignaturePolicy,
        artifact: &ArtifactState,
        manifest: &Manifest,
    ) -> Result<Vec<Finding>, Fault> {
        let Some(location) = policy.template.render(&artifact.name, &artifact.prefix) else {
            return Ok(vec![Finding::new(
                cmi_format::RuleId::SignatureMissing,
                artifact.name.clone(),
                "no signature location can be made of this artifact's name",
            )]);
        };
        let name = location.to_string();
        let source = AnySource::S3(self.source(&artifact.prefix));
        let bytes = location
            .read(&source, &self.options.aws)
            .await
            .map_err(|e| fault(ErrorKind::Check, e.to_string()))?;
        let Some(bytes) = bytes else {
            return Ok(vec![Finding::new(
                cmi_format::RuleId::SignatureMissing,
                name,
                "does not exist",
            )]);
        };
        let verified = match verify_bundle(&bytes, &Trust::from(policy.keys.clone()), &name) {
            Ok(verified) => verified,
            Err(finding) => return Ok(vec![finding]),
        };
        let marker = self.watched.policy().marker();
        let mut signed = manifest.clone();
        signed.files.retain(|f| Some(f.path.as_str()) != marker);
        Ok(compare_manifest(&signed, &verified.statement, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_templates() {
        let template =
            SignatureTemplate::parse("s3://sigs/{prefix}{name}.sig", "models", "in/").expect("ok");
        assert_eq!(
            template.render("llama", "in/llama/").map(|l| l.to_string()),
            Some("s3://sigs/in/llama/llama.sig".to_string())
        );
        assert_eq!(template.render("..", "in/../"), None);
        for bad in ["s3://sigs/{nam}.sig", "s3://sigs/{name", "s3://sigs/name}"] {
            assert!(matches!(
                SignatureTemplate::parse(bad, "models", "in/"),
                Err(WatchError::SignatureTemplate(_))
            ));
        }
        for inside in ["s3://models/{prefix}model.sig", "s3://models/in/{name}.sig"] {
            assert!(matches!(
                SignatureTemplate::parse(inside, "models", "in/"),
                Err(WatchError::SignatureInside(_))
            ));
        }
        assert!(SignatureTemplate::parse("s3://models/sigs/{name}.sig", "models", "in/").is_ok());
    }
}
