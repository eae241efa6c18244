//! `manifest` on local files: SHA-256 throughput of cmi-preflight's local hashing path beside
//! `openssl dgst -sha256`, `sha256sum` and OpenSSF `model_signing`'s in-process hashing, the
//! SHA-256 implementations it could use, and the read strategies it could use.
//!
//! `cargo bench --bench hash_local` runs the full measurement (about a minute and a half on a
//! quiet 2-core machine, 2 GiB of temporary files under /tmp, removed at the end):
//!
//! 0. SHA-256 implementations on one 256 MiB buffer in memory, fed in 1 MiB updates: sha2 0.11
//!    (its x86 backend uses the SHA extensions when `cpufeatures` finds them), ring and
//!    aws-lc-rs; then the winner on every core at once, the hardware's limit for many files.
//! 1. One 1 GiB file of pseudo-random bytes, read once first so that it is in the page cache.
//!    Each contender runs 3 times, round-robin: the library (`manifest::create` on a
//!    `LocalSource`, and `Source::hash_file` with one file at once), the release binary
//!    (`cmi-preflight manifest DIR -q -o OUT`), `openssl dgst -sha256 FILE` and
//!    `sha256sum FILE`. Target: the binary reaches at least 1.2x openssl's median throughput.
//!    Then a sweep of read strategies on the same file (block sizes, buffer alignment, and a
//!    reader thread feeding the hashing thread), to show which one the hardware prefers.
//! 2. A 4-shard 1 GiB model (four 256 MiB files): OpenSSF `model_signing`'s in-process hashing
//!    (`model_signing.hashing.hash(DIR)`, a thread pool over the files with `hashlib`, timed
//!    inside Python), the library and the release binary, the library with one file at once,
//!    every core hashing a file with and without a reader thread each, and `openssl` as one
//!    process and as one process per core. Target: the library and the binary reach at least
//!    1.3x `model_signing`'s median throughput.
//!
//! Every digest is compared with the one computed while the files were written. Targets are
//! ratios within one run, printed with a verdict and gathered in a summary at the end, never
//! asserted on time. Under `cargo test --all-targets` the same code runs on a few MiB, once,
//! as a smoke test; a missing peer (`openssl`, `sha256sum`, a Python with `model_signing`) is
//! then skipped, and in `--bench` mode named as missing. The Python is `CMI_TEST_PYTHON`, else
//! `.venv/bin/python` of this repository, else `python3`; `model-signing` is pinned in
//! `scripts/requirements-test.txt`.

#[path = "support/load.rs"]
mod load;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmi_agent::hash::{HashOptions, NoProgress};
use cmi_agent::local::LOCAL_BLOCK;
use cmi_agent::manifest::{self, ManifestOptions};
use cmi_agent::{LocalSource, Source};
use load::print_load;
use sha2::Digest;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Sizes of one run.
struct Plan {
    full: bool,
    runs: usize,
    buffer: u64,
    big_file: u64,
    shard_count: usize,
    shard_size: u64,
}

impl Plan {
    fn new(full: bool) -> Plan {
        if full {
            Plan {
                full,
                runs: 3,
                buffer: 256 * MIB,
                big_file: GIB,
                shard_count: 4,
                shard_size: 256 * MIB,
            }
        } else {
            Plan {
                full,
                runs: 1,
                buffer: 4 * MIB,
                big_file: 4 * MIB,
                shard_count: 4,
                shard_size: MIB / 2,
            }
        }
    }
}

/// Fills `chunk` with the next pseudo-random bytes of a splitmix64 sequence.
fn fill_random(chunk: &mut [u8], state: &mut u64) {
    for word in chunk.chunks_exact_mut(8) {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
}

/// Writes `size` pseudo-random bytes (splitmix64 from `seed`) to `path` and returns their
/// SHA-256, computed with sha2 as the reference.
fn write_random(path: &Path, size: u64, seed: u64) -> String {
    let mut file = std::fs::File::create(path).expect("create the file");
    let mut state = seed;
    let mut hasher = sha2::Sha256::new();
    let mut chunk = vec![0u8; (8 * MIB) as usize];
    let mut left = size;
    while left > 0 {
        fill_random(&mut chunk, &mut state);
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).expect("write the file");
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    file.sync_all().ok();
    hex::encode(hasher.finalize())
}

/// Reads a file once so that the measured runs find it in the page cache.
fn warm(path: &Path) {
    let mut file = std::fs::File::open(path).expect("open");
    std::io::copy(&mut file, &mut std::io::sink()).expect("read");
}

/// Whether an external program runs at all.
fn available(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command to completion and returns its standard output; panics on failure.
fn output(command: &mut Command) -> String {
    let out = command.stderr(Stdio::inherit()).output().expect("spawn");
    assert!(out.status.success(), "{command:?} failed: {}", out.status);
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs the release binary's `manifest DIR -q -o OUT` and returns the digests it wrote.
fn binary_manifest(binary: &Path, dir: &Path, out: &Path) -> Vec<String> {
    output(
        Command::new(binary)
            .args(["manifest", "-q", "-o"])
            .arg(out)
            .arg(dir),
    );
    manifest_digests(out)
}

/// The digests of a manifest file, in path order.
fn manifest_digests(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).expect("manifest written");
    let value: serde_json::Value = serde_json::from_slice(&text).expect("manifest JSON");
    value["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["sha256"].as_str().expect("sha256").to_string())
        .collect()
}

/// What one run of a contender gives: its digests, and the time it measured itself when the
/// wall clock around it would count more than the hashing (a Python interpreter's start).
struct Outcome {
    digests: Vec<String>,
    own_time: Option<Duration>,
}

impl From<Vec<String>> for Outcome {
    fn from(digests: Vec<String>) -> Outcome {
        Outcome {
            digests,
            own_time: None,
        }
    }
}

/// One way of hashing, run several times.
struct Contender<'a> {
    name: String,
    run: Box<dyn FnMut() -> Outcome + 'a>,
    times: Vec<Duration>,
}

impl<'a> Contender<'a> {
    fn new(name: impl Into<String>, mut run: impl FnMut() -> Vec<String> + 'a) -> Contender<'a> {
        Contender::timed(name, move || Outcome::from(run()))
    }

    fn timed(name: impl Into<String>, run: impl FnMut() -> Outcome + 'a) -> Contender<'a> {
        Contender {
            name: name.into(),
            run: Box::new(run),
            times: Vec::new(),
        }
    }

    fn best(&self) -> f64 {
        self.sorted()[0]
    }

    fn median(&self) -> f64 {
        let sorted = self.sorted();
        sorted[sorted.len() / 2]
    }

    fn sorted(&self) -> Vec<f64> {
        let mut seconds: Vec<f64> = self.times.iter().map(Duration::as_secs_f64).collect();
        seconds.sort_by(f64::total_cmp);
        seconds
    }
}

/// Runs every contender `runs` times, round-robin so that a slow phase of the machine does not
/// fall on one contender only, and checks each result against `expected`.
fn race(contenders: &mut [Contender<'_>], runs: usize, expected: &[String]) {
    for _ in 0..runs {
        for contender in contenders.iter_mut() {
            let started = Instant::now();
            let outcome = (contender.run)();
            let elapsed = started.elapsed();
            contender.times.push(outcome.own_time.unwrap_or(elapsed));
            assert_eq!(
                outcome.digests, expected,
                "{} gave wrong digests",
                contender.name
            );
        }
    }
}

/// A size in KiB, MiB or GiB.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b => format!("{} KiB", b / 1024),
    }
}

fn gbps(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

/// Prints the throughput table of contenders that each hashed `bytes`; "x peer" is a
/// contender's throughput over the peer's.
fn throughput_table(contenders: &[Contender<'_>], bytes: u64, peer: Option<usize>) {
    println!(
        "{:<62} {:>9} {:>11} {:>8} {:>11} {:>13}",
        "contender", "best GB/s", "median GB/s", "median s", "x peer best", "x peer median"
    );
    for contender in contenders {
        let (best_ratio, median_ratio) = match peer {
            Some(p) => (
                format!("{:.3}", contenders[p].best() / contender.best()),
                format!("{:.3}", contenders[p].median() / contender.median()),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<62} {:>9.3} {:>11.3} {:>8.3} {:>11} {:>13}",
            contender.name,
            gbps(bytes, contender.best()),
            gbps(bytes, contender.median()),
            contender.median(),
            best_ratio,
            median_ratio
        );
    }
}

/// The verdicts of the run, printed together at the end.
#[derive(Default)]
struct Summary {
    rows: Vec<(String, String, String, String)>,
}

impl Summary {
    /// Records `contender`'s median throughput against `peer`'s, judged against `target`.
    fn judge(&mut self, plan: &Plan, contender: &Contender<'_>, peer: &Contender<'_>, target: f64) {
        let ratio = peer.median() / contender.median();
        let verdict = match (plan.full, ratio >= target) {
            (false, _) => "not judged (smoke-test size)",
            (true, true) => "met",
            (true, false) => "MISSED",
        };
        let line = format!("{ratio:.3}x -> {verdict}");
        println!(
            "target >= {target}x {} (median): {}: {line}",
            peer.name, contender.name
        );
        self.rows.push((
            contender.name.clone(),
            peer.name.clone(),
            format!(">= {target}x"),
            line,
        ));
    }

    /// Records a target that could not be judged.
    fn missing(&mut self, what: &str, peer: &str, target: f64) {
        println!("target >= {target}x {peer}: not judged, {peer} is missing");
        self.rows.push((
            what.to_string(),
            peer.to_string(),
            format!(">= {target}x"),
            "not judged: peer missing".to_string(),
        ));
    }

    fn print(&self) {
        println!();
        println!("## summary (median throughput ratios within this run)");
        println!(
            "{:<52} {:<40} {:>8}  verdict",
            "contender", "peer", "target"
        );
        for (contender, peer, target, verdict) in &self.rows {
            println!("{contender:<52} {peer:<40} {target:>8}  {verdict}");
        }
    }
}

/// What the machine is, for reading the numbers.
fn describe_machine() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let sha_ni = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "sha_ni"));
    let siblings =
        std::fs::read_to_string("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "?".into());
    let parallelism = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {model}; available_parallelism {parallelism}; SHA-NI {}; cpu0 thread siblings (as the guest sees them) {siblings}",
        if sha_ni { "yes" } else { "no" }
    );
}

/// The number of cores the process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// SHA-256 as cmi-agent computes it (aws-lc-rs, `cmi_agent::hash`), for the read strategies.
struct Sha(aws_lc_rs::digest::Context);

impl Sha {
    fn new() -> Sha {
        Sha(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn hex(self) -> String {
        to_hex(self.0.finish().as_ref())
    }
}

/// Lowercase hex.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Updates of one implementation over `data` in 1 MiB slices, as the file paths feed it.
fn hash_slices(data: &[u8], implementation: &str) -> String {
    let slices = data.chunks(MIB as usize);
    match implementation {
        "sha2" => {
            let mut hasher = sha2::Sha256::new();
            slices.for_each(|s| hasher.update(s));
            hex::encode(hasher.finalize())
        }
        "ring" => {
            let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
            slices.for_each(|s| hasher.update(s));
            to_hex(hasher.finish().as_ref())
        }
        _ => {
            let mut hasher = Sha::new();
            slices.for_each(|s| hasher.update(s));
            hasher.hex()
        }
    }
}

fn implementations(plan: &Plan) {
    let mut data = vec![0u8; plan.buffer as usize];
    fill_random(&mut data, &mut 7);
    let expected = vec![hex::encode(sha2::Sha256::digest(&data))];
    let data = &data;
    let mut contenders = vec![
        Contender::new("sha2 0.11 (SHA-NI through cpufeatures)", || {
            vec![hash_slices(data, "sha2")]
        }),
        Contender::new("ring 0.17 digest::Context", || {
            vec![hash_slices(data, "ring")]
        }),
        Contender::new("aws-lc-rs 1 digest::Context (cmi-agent)", || {
            vec![hash_slices(data, "aws-lc-rs")]
        }),
    ];
    race(&mut contenders, plan.runs, &expected);
    println!();
    println!(
        "## 0. SHA-256 implementations on one {} buffer in memory, 1 MiB updates, one thread, {} run(s) each (\"x peer\" = throughput / sha2's)",
        human(plan.buffer),
        plan.runs
    );
    throughput_table(&contenders, plan.buffer, Some(0));

    // Every core hashing its own copy of the stream at once: the most that hashing several
    // files can reach on this machine.
    let cores = cores();
    let mut all_cores = vec![Contender::new(
        format!("aws-lc-rs, {cores} threads, one stream each (bytes x {cores})"),
        || {
            std::thread::scope(|scope| {
                let threads: Vec<_> = (0..cores)
                    .map(|_| scope.spawn(|| hash_slices(data, "aws-lc-rs")))
                    .collect();
                let digests: Vec<String> = threads
                    .into_iter()
                    .map(|t| t.join().expect("hashing thread"))
                    .collect();
                assert!(digests.iter().all(|d| d == &digests[0]));
                vec![digests[0].clone()]
            })
        },
    )];
    race(&mut all_cores, plan.runs, &expected);
    throughput_table(&all_cores, plan.buffer * cores as u64, None);
}

/// A buffer of `len` bytes that starts `offset` bytes past a page boundary.
///
/// The kernel's copy out of the page cache into the buffer is sensitive to the destination's
/// alignment: glibc serves a fresh 1 MiB `vec![0u8; n]` with `mmap`, 16 bytes past a page
/// boundary.
struct Buffer {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Buffer {
    fn new(len: usize, offset: usize) -> Buffer {
        let raw = vec![0u8; len + 2 * PAGE];
        let misalignment = raw.as_ptr() as usize % PAGE;
        let start = (PAGE - misalignment) % PAGE + offset;
        Buffer { raw, start, len }
    }

    fn slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

const PAGE: usize = 4096;

/// Hashes a file with `read` calls of `block` bytes into one reused buffer that starts
/// `offset` bytes past a page boundary: the inline loop of `cmi_agent::hash`, with the block
/// size and the buffer's alignment as parameters.
fn hash_blocks(path: &Path, block: usize, offset: usize) -> String {
    let mut file = std::fs::File::open(path).expect("open");
    let mut buffer = Buffer::new(block, offset);
    let buffer = buffer.slice();
    let mut hasher = Sha::new();
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    hasher.hex()
}

/// Hashes a file with a reader thread that fills `count` page-aligned `block`-byte buffers in
/// rotation while this thread hashes, so the copy out of the page cache overlaps the hashing:
/// the read-ahead loop of `cmi_agent::hash`, with its sizes as parameters.
fn hash_pipelined(path: &Path, block: usize, count: usize) -> String {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Buffer, usize)>(count);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Buffer>(count);
    for _ in 0..count {
        empty_tx.send(Buffer::new(block, 0)).expect("buffer");
    }
    let path = path.to_path_buf();
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::open(path).expect("open");
        while let Ok(mut buffer) = empty_rx.recv() {
            let n = loop {
                match file.read(buffer.slice()) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("read: {e}"),
                }
            };
            if full_tx.send((buffer, n)).is_err() || n == 0 {
                break;
            }
        }
    });
    let mut hasher = Sha::new();
    while let Ok((mut buffer, n)) = full_rx.recv() {
        if n == 0 {
            break;
        }
        hasher.update(&buffer.slice()[..n]);
        empty_tx.send(buffer).ok();
    }
    reader.join().expect("reader thread");
    hasher.hex()
}

fn one_big_file(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    work: &Path,
    peers: &Peers,
    summary: &mut Summary,
) {
    let dir = work.join("one");
    std::fs::create_dir(&dir).expect("mkdir");
    let file = dir.join("model.bin");
    let expected = vec![write_random(&file, plan.big_file, 1)];
    warm(&file);
    let out = work.join("one.manifest.json");
    let size = plan.big_file;
    let source = LocalSource::open(&dir).expect("folder").confined();

    let mut contenders = vec![
        Contender::new(
            "cmi-preflight library: manifest::create (LocalSource)",
            || {
                let manifest = runtime
                    .block_on(manifest::create(
                        &source,
                        &ManifestOptions::default(),
                        None,
                        Arc::new(NoProgress),
                    ))
                    .expect("manifest");
                manifest.files.iter().map(|f| f.sha256.clone()).collect()
            },
        ),
        Contender::new(
            "cmi-preflight library: Source::hash_file, 1 file at once",
            || {
                let options = HashOptions {
                    files_at_once: 1,
                    ..HashOptions::default()
                };
                let budget = Arc::new(tokio::sync::Semaphore::new(options.concurrency));
                let digest = runtime
                    .block_on(source.hash_file(
                        "model.bin",
                        size,
                        &options,
                        &budget,
                        Arc::new(NoProgress),
                    ))
                    .expect("hash");
                vec![digest.sha256]
            },
        ),
        Contender::new("cmi-preflight binary: manifest DIR -q -o OUT", || {
            binary_manifest(binary, &dir, &out)
        }),
    ];
    let mut peer = None;
    if peers.openssl {
        peer = Some(contenders.len());
        contenders.push(Contender::new("openssl dgst -sha256 FILE", || {
            let text = output(Command::new("openssl").args(["dgst", "-sha256"]).arg(&file));
            vec![text.trim().rsplit(' ').next().unwrap_or("").to_string()]
        }));
    }
    if peers.sha256sum {
        contenders.push(Contender::new("sha256sum FILE", || {
            let text = output(Command::new("sha256sum").arg(&file));
            vec![text.split_whitespace().next().unwrap_or("").to_string()]
        }));
    }
    race(&mut contenders, plan.runs, &expected);

    println!();
    println!(
        "## 1. one {} file in the page cache, {} run(s) each (GB/s = 10^9 bytes/s; \"x peer\" = throughput / openssl's)",
        human(size),
        plan.runs
    );
    throughput_table(&contenders, size, peer);
    match peer {
        Some(p) => {
            summary.judge(plan, &contenders[2], &contenders[p], 1.2);
            summary.judge(plan, &contenders[0], &contenders[p], 1.2);
        }
        None => summary.missing(
            "cmi-preflight binary, one file",
            "openssl dgst -sha256",
            1.2,
        ),
    }

    // Read strategies on the same file: which block size and alignment the hardware prefers,
    // and how much overlapping the page-cache copy with the hashing pays.
    let kib = |block: usize| block / 1024;
    let mut strategies: Vec<Contender<'_>> = Vec::new();
    let reads = [
        (LOCAL_BLOCK, 16, "into page+16 (a fresh Vec)"),
        (256 * 1024, 0, "page-aligned"),
        (LOCAL_BLOCK, 0, "page-aligned (cmi-agent, 1 file per core)"),
        (4 << 20, 0, "page-aligned"),
    ];
    for (block, offset, label) in reads {
        let file = &file;
        strategies.push(Contender::new(
            format!("read() {} KiB {label}", kib(block)),
            move || vec![hash_blocks(file, block, offset)],
        ));
    }
    for (block, count, label) in [
        (256 * 1024, 3, ""),
        (LOCAL_BLOCK, 2, ""),
        (LOCAL_BLOCK, 3, " (cmi-agent, a core to spare)"),
        (4 << 20, 3, ""),
    ] {
        let file = &file;
        strategies.push(Contender::new(
            format!(
                "reader thread, {count} x {} KiB page-aligned{label}",
                kib(block)
            ),
            move || vec![hash_pipelined(file, block, count)],
        ));
    }
    race(&mut strategies, plan.runs, &expected);
    println!();
    println!(
        "## 1b. read strategies on the same file, aws-lc-rs as in cmi-agent (\"x peer\" = throughput / one thread reading 1 MiB page-aligned blocks)"
    );
    let inline = strategies
        .iter()
        .position(|c| c.name.contains("cmi-agent, 1 file per core"))
        .expect("inline strategy");
    throughput_table(&strategies, size, Some(inline));
    std::fs::remove_dir_all(&dir).ok();
}

/// The Python snippet that times `model_signing`'s in-process hashing of a folder and prints
/// the seconds and every file's digest as JSON.
const MODEL_SIGNING: &str = r#"
import json, sys, time
import model_signing.hashing
started = time.perf_counter()
manifest = model_signing.hashing.hash(sys.argv[1])
seconds = time.perf_counter() - started
digests = {str(r.identifier): r.digest.digest_hex for r in manifest.resource_descriptors()}
print(json.dumps({"seconds": seconds, "digests": digests}))
"#;

/// Hashes `dir` with `model_signing` in `python`; digests in path order.
fn model_signing_hash(python: &Path, dir: &Path) -> Outcome {
    let text = output(Command::new(python).args(["-c", MODEL_SIGNING]).arg(dir));
    let value: serde_json::Value = serde_json::from_str(&text).expect("model_signing JSON");
    let digests: std::collections::BTreeMap<String, String> =
        serde_json::from_value(value["digests"].clone()).expect("digests");
    Outcome {
        digests: digests.into_values().collect(),
        own_time: Some(Duration::from_secs_f64(
            value["seconds"].as_f64().expect("seconds"),
        )),
    }
}

/// Hashes `files` on `threads` threads that take the next file from a shared queue, each
/// file read inline or with its own reader thread; digests in the files' order.
fn hash_files_on_threads(files: &[PathBuf], threads: usize, read_ahead: bool) -> Vec<String> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let digests: Vec<std::sync::Mutex<String>> =
        files.iter().map(|_| std::sync::Mutex::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let digest = if read_ahead {
                    hash_pipelined(file, LOCAL_BLOCK, 3)
                } else {
                    hash_blocks(file, LOCAL_BLOCK, 0)
                };
                *digests[i].lock().expect("digest") = digest;
            });
        }
    });
    digests
        .into_iter()
        .map(|d| d.into_inner().expect("digest"))
        .collect()
}

fn many_files(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    work: &Path,
    peers: &Peers,
    summary: &mut Summary,
) {
    let dir = work.join("many");
    std::fs::create_dir(&dir).expect("mkdir");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut expected = Vec::new();
    for i in 0..plan.shard_count {
        let file = dir.join(format!("model-{:05}-of-{:05}.bin", i + 1, plan.shard_count));
        expected.push(write_random(&file, plan.shard_size, 100 + i as u64));
        warm(&file);
        files.push(file);
    }
    let total = plan.shard_size * plan.shard_count as u64;
    let source = LocalSource::open(&dir).expect("folder").confined();
    let cores = cores();
    let out = work.join("many.manifest.json");
    let create = |files_at_once: usize| {
        let options = ManifestOptions {
            hash: HashOptions {
                files_at_once,
                ..HashOptions::default()
            },
            ..ManifestOptions::default()
        };
        let manifest = runtime
            .block_on(manifest::create(
                &source,
                &options,
                None,
                Arc::new(NoProgress),
            ))
            .expect("manifest");
        manifest
            .files
            .iter()
            .map(|f| f.sha256.clone())
            .collect::<Vec<_>>()
    };
    let openssl_over = |groups: usize| {
        let chunk = files.len().div_ceil(groups.max(1));
        let children: Vec<_> = files
            .chunks(chunk)
            .map(|group| {
                Command::new("openssl")
                    .args(["dgst", "-sha256"])
                    .args(group)
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("openssl")
            })
            .collect();
        let mut digests = Vec::new();
        for child in children {
            let out = child.wait_with_output().expect("openssl");
            assert!(out.status.success());
            digests.extend(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(|l| l.rsplit(' ').next().unwrap_or("").to_string()),
            );
        }
        digests
    };
    let mut contenders = Vec::new();
    let mut peer = None;
    if let Some(python) = &peers.python {
        peer = Some(contenders.len());
        let dir = &dir;
        contenders.push(Contender::timed(
            "model_signing.hashing.hash(DIR) in Python (in-process)",
            move || model_signing_hash(python, dir),
        ));
    }
    let library = contenders.len();
    contenders.push(Contender::new(
        format!("cmi-preflight library: manifest::create, {cores} files at once"),
        || create(cores),
    ));
    let binary_row = contenders.len();
    contenders.push(Contender::new(
        "cmi-preflight binary: manifest DIR -q -o OUT",
        || binary_manifest(binary, &dir, &out),
    ));
    contenders.push(Contender::new(
        "cmi-preflight library: manifest::create, 1 file at once",
        || create(1),
    ));
    contenders.push(Contender::new(
        format!("{cores} threads, each file read inline (1 MiB)"),
        || hash_files_on_threads(&files, cores, false),
    ));
    contenders.push(Contender::new(
        format!("{cores} threads, each file with a reader thread (3 x 1 MiB)"),
        || hash_files_on_threads(&files, cores, true),
    ));
    if peers.openssl {
        contenders.push(Contender::new("openssl dgst -sha256, 1 process", || {
            openssl_over(1)
        }));
        contenders.push(Contender::new(
            format!("openssl dgst -sha256, {cores} processes in parallel"),
            || openssl_over(cores),
        ));
    }
    race(&mut contenders, plan.runs, &expected);

    println!();
    println!(
        "## 2. a {}-shard model: {} files of {} ({} in all), {} run(s) each (\"x peer\" = throughput / model_signing's)",
        plan.shard_count,
        plan.shard_count,
        human(plan.shard_size),
        human(total),
        plan.runs
    );
    throughput_table(&contenders, total, peer);
    match peer {
        Some(p) => {
            summary.judge(plan, &contenders[library], &contenders[p], 1.3);
            summary.judge(plan, &contenders[binary_row], &contenders[p], 1.3);
        }
        None => summary.missing(
            "cmi-preflight library and binary, 4 shards",
            "model_signing (Python)",
            1.3,
        ),
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Which external peers are installed.
struct Peers {
    openssl: bool,
    sha256sum: bool,
    /// A Python that imports `model_signing`.
    python: Option<PathBuf>,
}

/// The Python to run `model_signing` with, if one has it.
fn find_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CMI_TEST_PYTHON").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|python| {
        python
            .to_str()
            .is_some_and(|p| available(p, &["-c", "import model_signing.hashing"]))
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = Plan::new(full);
    let peers = Peers {
        openssl: available("openssl", &["version"]),
        sha256sum: available("sha256sum", &["--version"]),
        python: find_python(),
    };
    for (name, present) in [
        ("openssl", peers.openssl),
        ("sha256sum", peers.sha256sum),
        ("a Python with model_signing", peers.python.is_some()),
    ] {
        if !present {
            if full {
                println!(
                    "PEER MISSING: `{name}` is not installed; its rows and ratios are left out"
                );
            } else {
                println!("smoke test: `{name}` not found, skipped");
            }
        }
    }
    describe_machine();
    print_load("start");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cmi-preflight"));
    println!("binary: {}", binary.display());
    if let Some(python) = &peers.python {
        println!("python with model_signing: {}", python.display());
    }
    let work = tempfile::Builder::new()
        .prefix("cmi-bench-hash-")
        .tempdir_in("/tmp")
        .expect("temporary folder");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut summary = Summary::default();
    implementations(&plan);
    one_big_file(&plan, &runtime, &binary, work.path(), &peers, &mut summary);
    many_files(&plan, &runtime, &binary, work.path(), &peers, &mut summary);
    summary.print();
    print_load("end");
}
