//! The selection of `push` (crates/format/src/transfer.rs) over every fixture: the
//! destination it makes passes `check` as far as the layout goes (no LY004, LY006 or LY012
//! from a file it sends), and it never hides why `check` fails (each other layout fixture
//! still triggers its rule on what is sent). The artifacts are built in memory from the
//! fixture generator's files, as the agent would hand them to the check.

use cmi_format::artifact::{plan, SNIFF_LEN};
use cmi_format::transfer::{model_type, select, Filters};
use cmi_format::{check, Artifact, Entry, RuleId};
use cmi_testkit::fixtures::{self, Content, Fixture};

/// The layout rules a sent file may trigger, which the selection must leave out.
const PLACEMENT: &[RuleId] = &[
    RuleId::PickleBesideSafetensors,
    RuleId::SubFolder,
    RuleId::GptOssExtraFolder,
];

/// Layout rules about the source rather than the files (an unreadable file, a folder under a
/// needed name): the agent's listing reports them, an in-memory listing cannot.
const SOURCE_RULES: &[RuleId] = &[RuleId::UnreadableFile, RuleId::NotAFile];

/// The start and the length of a fixture file; `None` for a symbolic link.
fn bytes(content: &Content) -> Option<(&[u8], u64)> {
    match content {
        Content::Bytes(bytes) => Some((bytes, bytes.len() as u64)),
        Content::Sparse { head, len } => Some((head, *len)),
        Content::Symlink(_) => None,
    }
}

/// What `push` would check and upload of a fixture: its selection, with the bytes the plan
/// asks for, and the number of files it leaves out.
fn selected_artifact(fixture: &Fixture) -> (Artifact, usize) {
    let files: Vec<(&str, &[u8], u64)> = fixture
        .files
        .iter()
        .filter_map(|f| bytes(&f.content).map(|(b, len)| (f.path.as_str(), b, len)))
        .collect();
    let entries: Vec<Entry> = files
        .iter()
        .map(|(path, _, size)| Entry {
            path: path.to_string(),
            size: *size,
        })
        .collect();
    let content = |path: &str| {
        files
            .iter()
            .find(|(p, _, _)| *p == path)
            .map(|(_, b, len)| (*b, *len))
            .expect("listed")
    };
    let config = files
        .iter()
        .find(|(p, _, _)| *p == "config.json")
        .and_then(|(_, b, _)| model_type(b));
    let selection = select(&entries, config.as_deref(), &Filters::default());
    let skipped = selection.skipped.len();
    let plan = plan(&selection.send);
    let mut artifact = Artifact {
        entries: selection.send,
        ..Artifact::default()
    };
    for path in plan.documents {
        let (bytes, _) = content(&path);
        artifact.documents.insert(path, bytes.to_vec());
    }
    for path in plan.headers {
        let (bytes, len) = content(&path);
        let header = cmi_format::safetensors::parse_header(bytes, len);
        artifact.magic.insert(
            path.clone(),
            bytes[..bytes.len().min(SNIFF_LEN as usize)].to_vec(),
        );
        artifact.headers.insert(path, header);
    }
    for path in plan.sniffs {
        let (bytes, _) = content(&path);
        artifact
            .magic
            .insert(path, bytes[..bytes.len().min(SNIFF_LEN as usize)].to_vec());
    }
    (artifact, skipped)
}

fn is_layout(rule: RuleId) -> bool {
    rule.rule().code.starts_with("LY")
}

#[test]
fn the_selection_of_every_fixture_passes_the_placement_rules() {
    let mut checked = 0;
    let mut placement_fixtures = Vec::new();
    for fixture in fixtures::all() {
        if fixture.expect.is_some_and(|rule| !is_layout(rule)) {
            continue;
        }
        let (artifact, skipped) = selected_artifact(&fixture);
        if let Some(rule) = fixture.expect.filter(|r| PLACEMENT.contains(r)) {
            assert!(skipped > 0, "{}: nothing skipped", fixture.name);
            placement_fixtures.push(rule);
        }
        let report = check(&artifact);
        let placement: Vec<_> = report
            .findings
            .iter()
            .filter(|f| PLACEMENT.contains(&f.rule))
            .collect();
        assert!(
            placement.is_empty(),
            "{}: the selection sends files that fail check: {placement:?}",
            fixture.name
        );
        if let Some(rule) = fixture.expect {
            if !PLACEMENT.contains(&rule) && !SOURCE_RULES.contains(&rule) {
                assert!(
                    report.findings.iter().any(|f| f.rule == rule),
                    "{}: the selection hides {}: {:?}",
                    fixture.name,
                    rule.rule().code,
                    report.findings
                );
            }
        } else {
            assert_eq!(
                report.count(cmi_format::Severity::Error),
                0,
                "{}: {:?}",
                fixture.name,
                report.findings
            );
        }
        checked += 1;
    }
    assert!(checked > 20, "{checked} fixtures");
    assert_eq!(placement_fixtures, PLACEMENT);
}
