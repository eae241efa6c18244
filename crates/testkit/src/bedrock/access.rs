//! Reading a job's artifact as its role, as Bedrock does before importing it.

use aws_credential_types::Credentials;
use aws_sdk_s3::error::DisplayErrorContext;

use super::{S3Check, NO_MODEL_FILES, S3_ACCESS_FAILURE};
use crate::moto::{s3_client, sdk_config_for};

/// What the emulator learns from the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Artifact {
    /// `model_type` of `config.json`, or `unknown`.
    pub architecture: String,
    /// A chat template is present: `chat_template.jinja`, `chat_template.json`, or a
    /// `chat_template` member of `tokenizer_config.json`.
    pub instruct_supported: bool,
}

impl Default for Artifact {
    fn default() -> Artifact {
        Artifact {
            architecture: "unknown".to_string(),
            instruct_supported: false,
        }
    }
}

/// Why the artifact could not be read: the job's `failureMessage` and what went wrong.
#[derive(Debug, Clone)]
pub(super) struct Denied {
    pub message: &'static str,
    pub detail: String,
}

fn denied(detail: String) -> Denied {
    Denied {
        message: S3_ACCESS_FAILURE,
        detail,
    }
}

/// `s3://bucket/prefix` as the bucket and a prefix ending in `/` (or empty).
fn split_uri(uri: &str) -> (String, String) {
    let rest = uri.strip_prefix("s3://").unwrap_or(uri);
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    (bucket.to_string(), prefix)
}

/// Assumes `role_arn` with the check's credentials, then lists `s3_uri` and reads one byte of
/// every object under it as that role.
pub(super) async fn read_artifact(
    check: &S3Check,
    region: &str,
    role_arn: &str,
    s3_uri: &str,
    session_name: &str,
) -> Result<Artifact, Denied> {
    let config = sdk_config_for(&check.endpoint, check.credentials.clone(), region).await;
    let sts = aws_sdk_sts::Client::new(&config);
    let assumed = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .send()
        .await
        .map_err(|e| {
            denied(format!(
                "AssumeRole {role_arn}: {}",
                DisplayErrorContext(&e)
            ))
        })?;
    let session = assumed
        .credentials()
        .ok_or_else(|| denied(format!("AssumeRole {role_arn}: no credentials returned")))?;
    let credentials = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        Some(session.session_token().to_string()),
        None,
        "bedrock-emulator-role",
    );
    let s3 = s3_client(&sdk_config_for(&check.endpoint, credentials, region).await);

    let (bucket, prefix) = split_uri(s3_uri);
    let mut objects: Vec<(String, i64)> = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .set_continuation_token(continuation.take())
            .send()
            .await
            .map_err(|e| {
                denied(format!(
                    "ListObjectsV2 s3://{bucket}/{prefix}: {}",
                    DisplayErrorContext(&e)
                ))
            })?;
        objects.extend(
            listed
                .contents()
                .iter()
                .filter_map(|o| Some((o.key()?.to_string(), o.size().unwrap_or(0)))),
        );
        match listed.next_continuation_token() {
            Some(token) if listed.is_truncated() == Some(true) => {
                continuation = Some(token.to_string())
            }
            _ => break,
        }
    }
    if objects.is_empty() {
        return Err(Denied {
            message: NO_MODEL_FILES,
            detail: format!("ListObjectsV2 s3://{bucket}/{prefix}: no objects"),
        });
    }

    let get = |key: String, range: Option<&'static str>| {
        let s3 = &s3;
        let bucket = &bucket;
        async move {
            let object = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .set_range(range.map(str::to_string))
                .send()
                .await
                .map_err(|e| {
                    denied(format!(
                        "GetObject s3://{bucket}/{key}: {}",
                        DisplayErrorContext(&e)
                    ))
                })?;
            let bytes = object.body.collect().await.map_err(|e| {
                denied(format!(
                    "GetObject s3://{bucket}/{key}: reading the body: {e}"
                ))
            })?;
            Ok::<_, Denied>(bytes.into_bytes())
        }
    };
    for (key, size) in &objects {
        // A one-byte range of an empty object is unsatisfiable (416): read it whole.
        let range = (*size > 0).then_some("bytes=0-0");
        get(key.clone(), range).await?;
    }

    let mut artifact = Artifact::default();
    let has = |name: &str| {
        let key = format!("{prefix}{name}");
        objects.iter().any(|(k, _)| *k == key)
    };
    if has("config.json") {
        let config = get(format!("{prefix}config.json"), None).await?;
        if let Some(model_type) = serde_json::from_slice::<serde_json::Value>(&config)
            .ok()
            .and_then(|c| c.get("model_type")?.as_str().map(str::to_string))
        {
            artifact.architecture = model_type;
        }
    }
    artifact.instruct_supported = has("chat_template.jinja") || has("chat_template.json");
    if !artifact.instruct_supported && has("tokenizer_config.json") {
        let tokenizer = get(format!("{prefix}tokenizer_config.json"), None).await?;
        artifact.instruct_supported = serde_json::from_slice::<serde_json::Value>(&tokenizer)
            .ok()
            .is_some_and(|t| t.get("chat_template").is_some_and(|c| !c.is_null()));
    }
    Ok(artifact)
}

#[cfg(test)]
mod tests {
    use super::split_uri;

    #[test]
    fn prefixes_end_with_a_slash() {
        assert_eq!(split_uri("s3://b/m/"), ("b".into(), "m/".into()));
        assert_eq!(split_uri("s3://b/m"), ("b".into(), "m/".into()));
        assert_eq!(split_uri("s3://b"), ("b".into(), String::new()));
        assert_eq!(split_uri("s3://b/"), ("b".into(), String::new()));
    }
}
