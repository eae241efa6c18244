//! What the upload benchmarks (benches/push.rs, benches/hub.rs) share: the shape of a
//! connection, sizes for the tables, external tools that may be missing, and the checks that
//! an upload stored exactly the files it was given.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cmi_testkit::proxy::Shape;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// `BYTES_PER_SEC,LATENCY_MS`, e.g. `4000000,20`.
pub fn parse_shape(text: &str) -> Option<Shape> {
    let (rate, latency) = text.trim().split_once(',')?;
    Some(Shape {
        bytes_per_sec: rate.trim().parse().ok()?,
        latency: Duration::from_millis(latency.trim().parse().ok()?),
    })
}

/// A size in MiB or GiB.
pub fn human(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// Whether `command` runs and succeeds (its output discarded).
pub fn runs(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the files at `a` and `b` hold the same bytes.
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    let (Ok(mut a), Ok(mut b)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let mut left = vec![0u8; 8 * MIB as usize];
    let mut right = vec![0u8; 8 * MIB as usize];
    loop {
        let n = read_up_to(&mut a, &mut left);
        let m = read_up_to(&mut b, &mut right);
        if n != m || left[..n] != right[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// Reads until `buffer` is full or the file ends; the number of bytes read.
fn read_up_to(file: &mut File, buffer: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]).expect("read") {
            0 => break,
            n => filled += n,
        }
    }
    filled
}

/// The keys of `bucket` under `prefix` (relative to it) and their sizes, sorted.
pub async fn listed(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("list the bucket");
        for object in page.contents() {
            let key = object.key().unwrap_or_default();
            let relative = key.strip_prefix(prefix).unwrap_or(key).to_string();
            found.push((relative, object.size().unwrap_or(-1).max(0) as u64));
        }
    }
    found.sort();
    found
}
