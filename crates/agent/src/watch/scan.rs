//! What a listing of the watched prefix means, without any I/O: which artifacts it holds, the
//! fingerprint of each artifact's listing, and whether an artifact is ready to be processed.
//!
//! The daemon lists the watched prefix recursively, hands the objects to [`Watched::group`],
//! records each [`Artifact::fingerprint`] in the state store, and asks
//! [`ReadyPolicy::readiness`] whether to process the artifact now or when to look again.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::hash::Hasher;
use crate::source::ObjectMeta;

/// One object of a recursive listing of the watched prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The full S3 key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag and last modification, as listed.
    pub meta: ObjectMeta,
}

/// When an artifact is ready to be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyPolicy {
    /// When its listing has not changed for this long.
    Settle(Duration),
    /// When this object, relative to the artifact's prefix (e.g. `_READY`), exists. The marker
    /// is not a model file: it is kept out of [`Artifact::objects`] and of the fingerprint.
    Marker(String),
}

/// Whether an artifact is ready, or when to look again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Process it now.
    Ready,
    /// Its listing is settling: look again after this long.
    Settling(Duration),
    /// Its marker object is missing: look again at the next scan.
    AwaitingMarker,
}

impl ReadyPolicy {
    /// Decides readiness from whether the artifact's marker object is present, since when its
    /// fingerprint is unchanged, and the current time. A clock that went backwards counts as
    /// no time elapsed.
    pub fn readiness(
        &self,
        marker_present: bool,
        unchanged_since: SystemTime,
        now: SystemTime,
    ) -> Readiness {
        match self {
            ReadyPolicy::Marker(_) if marker_present => Readiness::Ready,
            ReadyPolicy::Marker(_) => Readiness::AwaitingMarker,
            ReadyPolicy::Settle(period) => {
                let elapsed = now.duration_since(unchanged_since).unwrap_or_default();
                match period.checked_sub(elapsed) {
                    Some(remaining) if !remaining.is_zero() => Readiness::Settling(remaining),
                    _ => Readiness::Ready,
                }
            }
        }
    }

    /// The marker's name, relative to an artifact's prefix.
    pub fn marker(&self) -> Option<&str> {
        match self {
            ReadyPolicy::Marker(name) => Some(name),
            ReadyPolicy::Settle(_) => None,
        }
    }
}

/// Why a watch configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The watched prefix has an empty segment, as in `models//` or `/models/`.
    #[error("the watched prefix {0:?} has an empty segment (`//` or a leading `/`)")]
    EmptySegment(String),
    /// `--single` with the whole bucket: there is no prefix to name the artifact after.
    #[error("watching a single artifact needs a prefix, not the whole bucket")]
    SingleWithoutPrefix,
    /// The marker name is not a usable relative key.
    #[error(
        "the ready marker {0:?} must be a key relative to the artifact, \
         without empty segments, a leading or a trailing `/`"
    )]
    BadMarker(String),
}

/// An artifact found in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Its name: the child prefix's segment, or with `--single` the watched prefix's last one.
    pub name: String,
    /// Its key prefix, ending with `/`.
    pub prefix: String,
    /// Its objects, the marker excepted, sorted by key.
    pub objects: Vec<ListedObject>,
    /// Its marker object, when the policy has one and it exists.
    pub marker: Option<ListedObject>,
}

impl Artifact {
    /// The listing fingerprint: SHA-256, in hex, of one line per object (the marker excepted)
    /// in ascending order, each the JSON array `["<key>",<size>,"<etag>"]` (`null` for a
    /// missing ETag) and `\n`. JSON quoting keeps keys with spaces or newlines unambiguous.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .objects
            .iter()
            .map(|o| {
                let key = serde_json::Value::from(o.key.as_str());
                let etag = o
                    .meta
                    .etag
                    .as_deref()
                    .map_or(serde_json::Value::Null, Into::into);
                format!("[{key},{},{etag}]\n", o.size)
            })
            .collect();
        lines.sort_unstable();
        let mut hasher = Hasher::new();
        for line in &lines {
            hasher.update(line.as_bytes());
        }
        hasher.finish()
    }
}

/// Why an object of the listing belongs to no artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Its key does not start with the watched prefix.
    OutsideRoot,
    /// It lies directly under the watched prefix, not under an artifact's prefix.
    DirectlyUnderRoot,
    /// Its artifact segment is empty, as in `models//x`.
    EmptyName,
    /// A zero-byte "folder" object whose key ends with `/`.
    DirectoryMarker,
}

/// An object that belongs to no artifact, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// Its key.
    pub key: String,
    /// Why it was left out.
    pub reason: IgnoreReason,
}

/// A listing of the watched prefix, grouped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouping {
    /// The artifacts, sorted by name.
    pub artifacts: Vec<Artifact>,
    /// Objects that belong to no artifact.
    pub ignored: Vec<Ignored>,
}

/// A validated watch configuration: the prefix, whether it is one artifact, the ready policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    prefix: String,
    single: bool,
    policy: ReadyPolicy,
}

impl Watched {
    /// Validates the configuration. A prefix without a trailing `/` gets one (as
    /// [`crate::S3Uri`] does); an empty prefix is the whole bucket.
    pub fn new(prefix: &str, single: bool, policy: ReadyPolicy) -> Result<Watched, ScanError> {
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        if prefix.split('/').rev().skip(1).any(str::is_empty) {
            return Err(ScanError::EmptySegment(prefix));
        }
        if single && prefix.is_empty() {
            return Err(ScanError::SingleWithoutPrefix);
        }
        if let ReadyPolicy::Marker(name) = &policy {
            if name.split('/').any(str::is_empty) {
                return Err(ScanError::BadMarker(name.clone()));
            }
        }
        Ok(Watched {
            prefix,
            single,
            policy,
        })
    }

    /// The watched prefix: empty or ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The ready policy.
    pub fn policy(&self) -> &ReadyPolicy {
        &self.policy
    }

    /// Groups the objects of a recursive listing of the watched prefix into artifacts.
    pub fn group(&self, objects: impl IntoIterator<Item = ListedObject>) -> Grouping {
        let mut artifacts: BTreeMap<String, Artifact> = BTreeMap::new();
        let mut ignored = Vec::new();
        for object in objects {
            let placed = self.place(&object.key).and_then(|(name, prefix_len)| {
                if object.key.ends_with('/') && object.size == 0 {
                    Err(IgnoreReason::DirectoryMarker)
                } else {
                    Ok((name.to_string(), prefix_len))
                }
            });
            let (name, prefix_len) = match placed {
                Ok(placed) => placed,
                Err(reason) => {
                    ignored.push(Ignored {
                        key: object.key,
                        reason,
                    });
                    continue;
                }
            };
            let artifact = artifacts.entry(name).or_insert_with_key(|name| Artifact {
                name: name.clone(),
                prefix: object.key[..prefix_len].to_string(),
                objects: Vec::new(),
                marker: None,
            });
            if self.policy.marker() == Some(&object.key[prefix_len..]) {
                artifact.marker = Some(object);
            } else {
                artifact.objects.push(object);
            }
        }
        let artifacts = artifacts
            .into_values()
            .map(|mut a| {
                a.objects.sort_by(|x, y| x.key.cmp(&y.key));
                a
            })
            .collect();
        Grouping { artifacts, ignored }
    }

    /// The name of the artifact a key belongs to, and the length of its prefix.
    fn place<'k>(&self, key: &'k str) -> Result<(&'k str, usize), IgnoreReason> {
        let rest = key
            .strip_prefix(self.prefix.as_str())
            .ok_or(IgnoreReason::OutsideRoot)?;
        if self.single {
            let name = key[..self.prefix.len()].trim_end_matches('/');
            let name = name.rsplit('/').next().unwrap_or(name);
            return Ok((name, self.prefix.len()));
        }
        let (name, _) = rest
            .split_once('/')
            .ok_or(IgnoreReason::DirectlyUnderRoot)?;
        if name.is_empty() {
            return Err(IgnoreReason::EmptyName);
        }
        Ok((name, self.prefix.len() + name.len() + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, size: u64, etag: &str) -> ListedObject {
        ListedObject {
            key: key.to_string(),
            size,
            meta: ObjectMeta {
                etag: Some(etag.to_string()),
                ..ObjectMeta::default()
            },
        }
    }

    fn settle() -> ReadyPolicy {
        ReadyPolicy::Settle(Duration::from_secs(120))
    }

    fn names(grouping: &Grouping) -> Vec<(&str, &str, usize)> {
        grouping
            .artifacts
            .iter()
            .map(|a| (a.name.as_str(), a.prefix.as_str(), a.objects.len()))
            .collect()
    }

    #[test]
    fn child_prefixes_are_artifacts_and_root_objects_are_ignored() {
        let watched = Watched::new("models/", false, settle()).unwrap();
        let grouping = watched.group([
            object("models/llama-b/config.json", 10, "b1"),
            object("models/llama-a/model.safetensors", 100, "a2"),
            object("models/llama-a/config.json", 10, "a1"),
            object("models/llama-a/sub/tokenizer.json", 5, "a3"),
            object("models/README.md", 3, "r"),
            object("other/x", 1, "o"),
        ]);
        assert_eq!(
            names(&grouping),
            vec![
                ("llama-a", "models/llama-a/", 3),
                ("llama-b", "models/llama-b/", 1)
            ]
        );
        let keys: Vec<_> = grouping.artifacts[0]
            .objects
            .iter()
            .map(|o| o.key.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "models/llama-a/config.json",
                "models/llama-a/model.safetensors",
                "models/llama-a/sub/tokenizer.json"
            ]
        );
        assert_eq!(
            grouping.ignored,
            vec![
                Ignored {
                    key: "models/README.md".into(),
                    reason: IgnoreReason::DirectlyUnderRoot
                },
                Ignored {
                    key: "other/x".into(),
                    reason: IgnoreReason::OutsideRoot
                },
            ]
        );
    }

    #[test]
    fn a_prefix_without_slash_is_normalised_and_empty_segments_are_refused() {
        let watched = Watched::new("models", false, settle()).unwrap();
        assert_eq!(watched.prefix(), "models/");
        let grouping = watched.group([object("models-v2/a/x", 1, "e")]);
        assert!(grouping.artifacts.is_empty());
        assert_eq!(grouping.ignored[0].reason, IgnoreReason::OutsideRoot);

        for bad in ["models//", "/models/", "a//b"] {
            assert!(matches!(
                Watched::new(bad, false, settle()),
                Err(ScanError::EmptySegment(_))
            ));
        }
    }

    #[test]
    fn the_whole_bucket_can_be_watched_but_not_as_one_artifact() {
        let watched = Watched::new("", false, settle()).unwrap();
        let grouping = watched.group([object("a/x", 1, "e"), object("top", 1, "e")]);
        assert_eq!(names(&grouping), vec![("a", "a/", 1)]);
        assert_eq!(grouping.ignored[0].reason, IgnoreReason::DirectlyUnderRoot);
        assert_eq!(
            Watched::new("", true, settle()),
            Err(ScanError::SingleWithoutPrefix)
        );
    }

    #[test]
    fn empty_names_and_directory_markers_are_ignored() {
        let watched = Watched::new("models/", false, settle()).unwrap();
        let grouping = watched.group([
            object("models//x", 1, "e"),
            object("models/a/", 0, "d"),
            object("models/", 0, "d"),
            object("models/a/w", 1, "e"),
        ]);
        assert_eq!(names(&grouping), vec![("a", "models/a/", 1)]);
        let reasons: Vec<_> = grouping.ignored.iter().map(|i| i.reason).collect();
        assert_eq!(
            reasons,
            [
                IgnoreReason::EmptyName,
                IgnoreReason::DirectoryMarker,
                IgnoreReason::DirectlyUnderRoot
            ]
        );
    }

    #[test]
    fn single_makes_the_prefix_one_artifact_named_after_its_last_segment() {
        let watched = Watched::new("team/models/llama-a", true, settle()).unwrap();
        let grouping = watched.group([
            object("team/models/llama-a/config.json", 1, "e"),
            object("team/models/llama-a/sub/x", 1, "e"),
        ]);
        assert_eq!(
            names(&grouping),
            vec![("llama-a", "team/models/llama-a/", 2)]
        );
    }

    #[test]
    fn unicode_keys_are_grouped_by_segment() {
        let watched = Watched::new("modèles/", false, settle()).unwrap();
        let grouping = watched.group([object("modèles/数学 v1/config.json", 1, "e")]);
        assert_eq!(names(&grouping), vec![("数学 v1", "modèles/数学 v1/", 1)]);
    }

    #[test]
    fn the_marker_is_kept_apart_from_the_objects() {
        let policy = ReadyPolicy::Marker("_READY".into());
        let watched = Watched::new("models/", false, policy).unwrap();
        let grouping = watched.group([
            object("models/a/config.json", 1, "e"),
            object("models/a/_READY", 0, "m"),
            object("models/a/sub/_READY", 0, "m"),
            object("models/b/config.json", 1, "e"),
        ]);
        let a = &grouping.artifacts[0];
        assert_eq!(
            a.marker.as_ref().map(|m| m.key.as_str()),
            Some("models/a/_READY")
        );
        assert_eq!(a.objects.len(), 2);
        assert!(grouping.artifacts[1].marker.is_none());

        let without = watched.group([
            object("models/a/config.json", 1, "e"),
            object("models/a/sub/_READY", 0, "m"),
        ]);
        assert_eq!(a.fingerprint(), without.artifacts[0].fingerprint());
    }

    #[test]
    fn bad_markers_are_refused() {
        for bad in ["", "/x", "x/", "a//b"] {
            assert!(matches!(
                Watched::new("m/", false, ReadyPolicy::Marker(bad.into())),
                Err(ScanError::BadMarker(_))
            ));
        }
        assert!(Watched::new("m/", false, ReadyPolicy::Marker("done/_READY".into())).is_ok());
    }

    #[test]
    fn the_fingerprint_depends_on_keys_sizes_and_etags_only() {
        let artifact = |objects: Vec<ListedObject>| Artifact {
            name: "a".into(),
            prefix: "m/a/".into(),
            objects,
            marker: None,
        };
        let base = artifact(vec![object("m/a/x", 1, "e1"), object("m/a/y", 2, "e2")]);
        let fingerprint = base.fingerprint();
        assert_eq!(fingerprint.len(), 64);
        assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));

        let reordered = artifact(vec![object("m/a/y", 2, "e2"), object("m/a/x", 1, "e1")]);
        assert_eq!(reordered.fingerprint(), fingerprint);
        let mut touched = base.clone();
        touched.objects[0].meta.last_modified = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(touched.fingerprint(), fingerprint);

        for changed in [
            artifact(vec![object("m/a/x", 1, "e1"), object("m/a/y", 3, "e2")]),
            artifact(vec![object("m/a/x", 1, "e1"), object("m/a/y", 2, "e9")]),
            artifact(vec![object("m/a/x", 1, "e1"), object("m/a/z", 2, "e2")]),
            artifact(vec![object("m/a/x", 1, "e1")]),
        ] {
            assert_ne!(changed.fingerprint(), fingerprint);
        }
        let mut no_etag = base.clone();
        no_etag.objects[0].meta.etag = None;
        assert_ne!(no_etag.fingerprint(), fingerprint);
    }

    #[test]
    fn the_fingerprint_is_unambiguous_for_keys_with_separators() {
        let artifact = |objects: Vec<ListedObject>| Artifact {
            name: "a".into(),
            prefix: "m/a/".into(),
            objects,
            marker: None,
        };
        let one = artifact(vec![object("m/a/x 1 e\nm/a/y", 2, "f")]);
        let two = artifact(vec![object("m/a/x", 1, "e"), object("m/a/y", 2, "f")]);
        assert_ne!(one.fingerprint(), two.fingerprint());
    }

    #[test]
    fn settling_waits_for_the_period_without_change() {
        let policy = settle();
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            policy.readiness(false, since, since + Duration::from_secs(30)),
            Readiness::Settling(Duration::from_secs(90))
        );
        assert_eq!(
            policy.readiness(false, since, since + Duration::from_secs(120)),
            Readiness::Ready
        );
        assert_eq!(
            policy.readiness(true, since, since + Duration::from_secs(500)),
            Readiness::Ready
        );
        assert_eq!(
            policy.readiness(false, since, since - Duration::from_secs(10)),
            Readiness::Settling(Duration::from_secs(120))
        );
    }

    #[test]
    fn a_marker_policy_waits_for_the_marker_only() {
        let policy = ReadyPolicy::Marker("_READY".into());
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(policy.readiness(true, now, now), Readiness::Ready);
        assert_eq!(
            policy.readiness(false, now - Duration::from_secs(9_999), now),
            Readiness::AwaitingMarker
        );
        assert_eq!(policy.marker(), Some("_READY"));
        assert_eq!(settle().marker(), None);
    }
}
