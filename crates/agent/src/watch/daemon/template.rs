//! The names of the daemon's jobs and models: templates whose placeholders depend on the
//! artifact alone.

use super::WatchError;

/// How artifacts are imported.
#[derive(Debug, Clone)]
pub struct ImportTemplate {
    /// The execution role.
    pub role_arn: String,
    /// The job name, with placeholders (see [`Template`]).
    pub job_name: Template,
    /// The imported model's name, with placeholders.
    pub model_name: Template,
    /// The hosting account's key for the imported model.
    pub kms_key_id: Option<String>,
    /// Tags of each job.
    pub job_tags: Vec<(String, String)>,
    /// Tags of each imported model.
    pub model_tags: Vec<(String, String)>,
}

/// A name with placeholders: `{name}` (the artifact's name), `{digest}` (the first 12 hex
/// digits of its manifest's artifact digest) and `{date}` (the UTC date, `YYYYMMDD`, of its
/// newest object). All three depend on the artifact alone, so two daemons name its job alike
/// and their requests share one idempotency token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(String);

/// The placeholders a [`Template`] may use.
pub const PLACEHOLDERS: [&str; 3] = ["{name}", "{digest}", "{date}"];

impl Template {
    /// Validates the placeholders of `text`.
    pub fn parse(text: &str) -> Result<Template, WatchError> {
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .map(|e| start + e + 1)
                .ok_or_else(|| WatchError::Template(text.to_string()))?;
            if !PLACEHOLDERS.contains(&&rest[start..end]) {
                return Err(WatchError::Template(text.to_string()));
            }
            rest = &rest[end..];
        }
        if rest.contains('}') {
            return Err(WatchError::Template(text.to_string()));
        }
        Ok(Template(text.to_string()))
    }

    /// The name for one artifact.
    pub fn render(&self, name: &str, digest: &str, date: &str) -> String {
        let short = digest.trim_start_matches("sha256:");
        self.0
            .replace("{name}", name)
            .replace("{digest}", &short[..short.len().min(12)])
            .replace("{date}", date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_known_placeholders_only() {
        let template = Template::parse("{name}-{digest}-{date}").expect("valid");
        assert_eq!(
            template.render("llama", "sha256:0123456789abcdef0123", "20261128"),
            "llama-0123456789ab-20261128"
        );
        for bad in ["{nam}", "{name", "name}", "{}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
