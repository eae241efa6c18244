//! Peak memory of `check`, measured: hostile folders whose files declare or expand to
//! gigabytes, each checked by the real binary in a fresh child whose peak resident set
//! (`ru_maxrss` of that child alone, from `wait4`) must stay under [`PEAK_LIMIT_KIB`].
//! Large files are sparse where their content does not matter, so the disk stays small.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The bound of issue 12: 256 MiB, in KiB as `ru_maxrss` counts on Linux.
const PEAK_LIMIT_KIB: i64 = 256 * 1024;

/// Runs `check --format json` on `dir` in a fresh child; returns its exit code, its report
/// and its peak resident set in KiB.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also returns its own resource usage"
)]
fn check_measured(dir: &Path) -> (i32, Value, i64) {
    let out = dir.join("..").join("report.json");
    let child = Command::new(env!("CARGO_BIN_EXE_cmi-preflight"))
        .arg("check")
        .arg(dir)
        .args(["--format", "json"])
        .stdout(File::create(&out).expect("report file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("runs");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(
        waited,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let status = std::process::ExitStatus::from_raw(status);
    let code = status
        .code()
        .unwrap_or_else(|| panic!("killed by signal {:?}", status.signal()));
    let text = std::fs::read(&out).expect("report written");
    let report: Value = serde_json::from_slice(&text).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&text[..text.len().min(2000)])
        )
    });
    (code, report, usage.ru_maxrss)
}

/// Checks `dir`, expecting exit 1 with a finding `code` about `file` and a peak under the
/// bound.
fn assert_bounded(case: &str, dir: &Path, code: &str, file: &str) {
    let (exit, report, peak) = check_measured(dir);
    eprintln!("{case}: peak RSS {} MiB", peak / 1024);
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    assert_eq!(exit, 1, "{case}: exit code; report: {report}");
    assert!(
        findings
            .iter()
            .any(|f| f["code"] == code && f["file"] == file),
        "{case}: no {code} about {file:?}: {report}"
    );
    assert!(
        peak < PEAK_LIMIT_KIB,
        "{case}: peak RSS {} MiB is above 256 MiB",
        peak / 1024
    );
}

/// Writes `head`, `count` times `item` separated by commas, then `tail`.
fn write_repeated(path: &Path, head: &str, item: &str, count: usize, tail: &str) {
    let mut out = BufWriter::new(File::create(path).expect("create"));
    out.write_all(head.as_bytes()).expect("write");
    for i in 0..count {
        if i > 0 {
            out.write_all(b",").expect("write");
        }
        out.write_all(item.as_bytes()).expect("write");
    }
    out.write_all(tail.as_bytes()).expect("write");
    out.flush().expect("flush");
}

/// A folder `model` in a fresh temporary directory.
fn folder() -> (tempfile::TempDir, std::path::PathBuf) {
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path().join("model");
    std::fs::create_dir(&dir).expect("folder");
    (scratch, dir)
}

#[test]
fn forty_shards_declaring_100_mb_headers_stay_under_the_bound() {
    let (_scratch, dir) = folder();
    let len: u64 = 99_999_000;
    for i in 1..=40 {
        let path = dir.join(format!("model-{i:05}-of-00040.safetensors"));
        let mut file = File::create(&path).expect("shard");
        file.write_all(&len.to_le_bytes()).expect("prefix");
        file.write_all(b"{\"a\":").expect("header start");
        // The rest of the header and the file are a hole: zeros, read in full before the
        // JSON parser sees the first of them.
        file.set_len(8 + len).expect("sparse shard");
    }
    assert_bounded(
        "40 shards of 100 MB headers",
        &dir,
        "ST005",
        "model-00001-of-00040.safetensors",
    );
}

/// 60 MB of `[[],[],...]` under a key, which a JSON tree expands about twentyfold.
fn expanding_object(path: &Path) {
    write_repeated(
        path,
        "{\"model_type\":\"llama\",\"a\":[",
        "[]",
        20_000_000,
        "]}",
    );
}

#[test]
fn an_expanding_config_json_stays_under_the_bound() {
    let (_scratch, dir) = folder();
    expanding_object(&dir.join("config.json"));
    assert_bounded("config.json", &dir, "CF001", "config.json");
}

#[test]
fn an_expanding_tokenizer_config_json_stays_under_the_bound() {
    let (_scratch, dir) = folder();
    std::fs::write(dir.join("config.json"), r#"{"model_type":"llama"}"#).expect("config");
    expanding_object(&dir.join("tokenizer_config.json"));
    assert_bounded(
        "tokenizer_config.json",
        &dir,
        "TK003",
        "tokenizer_config.json",
    );
}

#[test]
fn a_tokenizer_json_with_a_huge_vocab_stays_under_the_bound() {
    let (_scratch, dir) = folder();
    std::fs::write(
        dir.join("config.json"),
        r#"{"model_type":"llama","vocab_size":1}"#,
    )
    .expect("config");
    // 60 MB of vocabulary entries and added tokens, all out of range.
    write_repeated(
        &dir.join("tokenizer.json"),
        "{\"added_tokens\":[",
        "{\"id\":7,\"content\":\"\"}",
        1_000_000,
        "],\"model\":{\"type\":\"BPE\",\"vocab\":{",
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("tokenizer.json"))
        .expect("append");
    let mut out = BufWriter::new(&mut file);
    for i in 0..7_000_000u32 {
        if i > 0 {
            out.write_all(b",").expect("write");
        }
        out.write_all(b"\"\":9").expect("write");
    }
    out.write_all(b"}}}").expect("write");
    out.flush().expect("flush");
    drop(out);
    assert_bounded("tokenizer.json", &dir, "TK010", "tokenizer.json");
}

/// A valid safetensors file of `count` empty U8 tensors: a header of about 55 bytes each.
fn empty_tensors(path: &Path, count: usize) {
    let mut header = String::from("{");
    for i in 0..count {
        if i > 0 {
            header.push(',');
        }
        header.push_str(&format!(
            r#""t.{i}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}"#
        ));
    }
    header.push('}');
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(path, bytes).expect("shard");
}

/// Every hostile case at once: 38 shards declaring 100 MB headers, two valid shards whose
/// 300,002 tensors pass the tensor cap by two, and documents near their limits whose total
/// passes the document total. Measured on a debug build: 292 MiB before the tensor cap and the
/// document total, 243 MiB with them and a 128 MiB header budget, 177 MiB with the 96 MiB
/// budget (and 4 shards sharing one valid header of a million tensors took 820 MiB before,
/// 188 MiB after; 40 such shards take 190 MiB after).
#[test]
fn every_hostile_case_at_once_stays_under_the_bound() {
    let (_scratch, dir) = folder();
    let len: u64 = 99_999_000;
    for i in 1..=38 {
        let path = dir.join(format!("model-{i:05}-of-00040.safetensors"));
        let mut file = File::create(&path).expect("shard");
        file.write_all(&len.to_le_bytes()).expect("prefix");
        file.write_all(b"{\"a\":").expect("header start");
        file.set_len(8 + len).expect("sparse shard");
    }
    for i in 39..=40 {
        empty_tensors(
            &dir.join(format!("model-{i:05}-of-00040.safetensors")),
            150_001,
        );
    }
    // 32 MB each: a config.json that a JSON tree expands twentyfold, and an index of millions
    // of empty names. Both are read (64 MB, within the 64 MiB total); the tokenizer files
    // after them are not.
    write_repeated(
        &dir.join("config.json"),
        "{\"model_type\":\"llama\",\"a\":[",
        "[]",
        10_600_000,
        "]}",
    );
    write_repeated(
        &dir.join("model.safetensors.index.json"),
        "{\"metadata\":{},\"weight_map\":{",
        "\"\":\"\"",
        5_300_000,
        "}}",
    );
    write_repeated(&dir.join("tokenizer.json"), "[", "[]", 10_000_000, "]");
    write_repeated(
        &dir.join("tokenizer_config.json"),
        "[",
        "[]",
        3_000_000,
        "]",
    );
    let (exit, report, peak) = check_measured(&dir);
    eprintln!("every case at once: peak RSS {} MiB", peak / 1024);
    assert_eq!(exit, 1, "exit code; report: {report}");
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let has = |code: &str, file: Option<&str>, words: &str| {
        findings.iter().any(|f| {
            f["code"] == code
                && file.is_none_or(|file| f["file"] == file)
                && f["message"].as_str().is_some_and(|m| m.contains(words))
        })
    };
    assert!(
        has("ST005", Some("model-00001-of-00040.safetensors"), ""),
        "{report}"
    );
    assert!(
        has("ST017", None, "beyond the cap of 300000 tensors"),
        "{report}"
    );
    assert!(has("CF001", Some("config.json"), "JSON values"), "{report}");
    assert!(
        has("IX001", Some("model.safetensors.index.json"), "JSON values"),
        "{report}"
    );
    for document in ["tokenizer.json", "tokenizer_config.json"] {
        assert!(
            has("LY010", Some(document), "67108864-byte total"),
            "{report}"
        );
    }
    assert!(
        peak < PEAK_LIMIT_KIB,
        "peak RSS {} MiB is above 256 MiB",
        peak / 1024
    );
}
