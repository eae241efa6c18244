//! `manifest` on local files: SHA-256 throughput of cmi-preflight's local hashing path beside
//! `openssl dgst -sha256` and `sha256sum`, and the speed-up of hashing several files at once.
//!
//! `cargo bench --bench hash_local` runs the full measurement (about a minute, 3 GiB of
//! temporary files under /tmp, removed at the end):
//!
//! 1. One 1 GiB file of pseudo-random bytes, read once first so that it is in the page cache.
//!    Each contender runs 3 times, round-robin: the library (`manifest::create` on a
//!    `LocalSource`, and the lower-level `Source::hash_file`), the release binary
//!    (`cmi-preflight manifest DIR -q -o OUT`), `openssl dgst -sha256 FILE` and
//!    `sha256sum FILE`. Target: the tool reaches at least 0.9x openssl's median throughput.
//!    Then a sweep of read strategies on the same file (block sizes around `LOCAL_BLOCK`, and a
//!    reader thread feeding a hashing thread), to show which one the hardware prefers.
//! 2. Eight 256 MiB files: `manifest::create` with `files_at_once: 1` against the default
//!    (`available_parallelism`), and, as the hardware's reference, one `openssl` process over
//!    the eight files against one process per core over a share of them.
//!
//! Every digest is compared with the one computed while the files were written. Targets are
//! ratios within one run, printed with a verdict, never asserted on time. Under
//! `cargo test --all-targets` the same code runs on a few MiB, once, as a smoke test; a
//! missing `openssl` or `sha256sum` is then skipped, and in `--bench` mode named as missing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmi_agent::hash::{HashOptions, NoProgress};
use cmi_agent::local::LOCAL_BLOCK;
use cmi_agent::manifest::{self, ManifestOptions};
use cmi_agent::{LocalSource, Source};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Sizes of one run.
struct Plan {
    full: bool,
    runs: usize,
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
                big_file: GIB,
                shard_count: 8,
                shard_size: 256 * MIB,
            }
        } else {
            Plan {
                full,
                runs: 1,
                big_file: 4 * MIB,
                shard_count: 8,
                shard_size: MIB / 2,
            }
        }
    }
}

/// Writes `size` pseudo-random bytes (splitmix64 from `seed`) to `path` and returns their
/// SHA-256.
fn write_random(path: &Path, size: u64, seed: u64) -> String {
    let mut file = std::fs::File::create(path).expect("create the file");
    let mut state = seed;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; (8 * MIB) as usize];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_exact_mut(8) {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            word.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).expect("write the file");
        hasher.update(&chunk[..n]);
        left -= n as u64;
    }
    file.sync_all().ok();
    format!("{:x}", hasher.finalize())
}

/// Reads a file once so that the measured runs find it in the page cache.
fn warm(path: &Path) {
    let mut file = std::fs::File::open(path).expect("open");
    std::io::copy(&mut file, &mut std::io::sink()).expect("read");
}

/// Whether an external program runs at all.
fn available(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
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

/// One way of hashing, run several times.
struct Contender<'a> {
    name: String,
    run: Box<dyn FnMut() -> Vec<String> + 'a>,
    times: Vec<Duration>,
}

impl<'a> Contender<'a> {
    fn new(name: impl Into<String>, run: impl FnMut() -> Vec<String> + 'a) -> Contender<'a> {
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
            let digests = (contender.run)();
            contender.times.push(started.elapsed());
            assert_eq!(digests, expected, "{} gave wrong digests", contender.name);
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

/// Prints the throughput table of contenders that each hashed `bytes`.
fn throughput_table(contenders: &[Contender<'_>], bytes: u64, peer: Option<usize>) {
    println!(
        "{:<58} {:>9} {:>11} {:>8} {:>11} {:>13}",
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
            "{:<58} {:>9.3} {:>11.3} {:>8.3} {:>11} {:>13}",
            contender.name,
            gbps(bytes, contender.best()),
            gbps(bytes, contender.median()),
            contender.median(),
            best_ratio,
            median_ratio
        );
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

/// A buffer of `len` bytes that starts `offset` bytes past a page boundary.
///
/// The kernel's copy out of the page cache into the buffer is sensitive to the destination's
/// alignment: glibc serves a fresh 1 MiB `vec![0u8; n]` with `mmap`, 16 bytes past a page
/// boundary, which is what `hash_local_file` gets in a fresh process.
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
/// `offset` bytes past a page boundary: the loop of `cmi_agent::hash::hash_local_file`, with
/// the block size and the buffer's alignment as parameters.
fn hash_blocks(path: &Path, block: usize, offset: usize) -> String {
    let mut file = std::fs::File::open(path).expect("open");
    let mut buffer = Buffer::new(block, offset);
    let buffer = buffer.slice();
    let mut hasher = Sha256::new();
    loop {
        match file.read(buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    format!("{:x}", hasher.finalize())
}

/// Hashes a file with a reader thread that fills page-aligned `block`-byte buffers while this
/// thread hashes the previous one (two buffers in rotation), so the copy out of the page cache
/// overlaps the hashing.
fn hash_pipelined(path: &Path, block: usize) -> String {
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Buffer, usize)>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Buffer>(2);
    for _ in 0..2 {
        empty_tx.send(Buffer::new(block, 0)).expect("buffer");
    }
    let path = path.to_path_buf();
    let reader = std::thread::spawn(move || {
        let mut file = std::fs::File::open(path).expect("open");
        while let Ok(mut buffer) = empty_rx.recv() {
            let mut filled = 0;
            let slice = buffer.slice();
            while filled < slice.len() {
                match file.read(&mut slice[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
            let done = filled < slice.len();
            if full_tx.send((buffer, filled)).is_err() || done {
                break;
            }
        }
    });
    let mut hasher = Sha256::new();
    while let Ok((mut buffer, filled)) = full_rx.recv() {
        hasher.update(&buffer.slice()[..filled]);
        if empty_tx.send(buffer).is_err() {
            break;
        }
    }
    reader.join().expect("reader thread");
    format!("{:x}", hasher.finalize())
}

fn one_big_file(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    work: &Path,
    peers: &Peers,
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
        Contender::new("cmi-preflight library: Source::hash_file", || {
            let options = HashOptions::default();
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
        }),
        Contender::new("cmi-preflight binary: manifest DIR -q -o OUT", || {
            output(
                Command::new(binary)
                    .args(["manifest", "-q", "-o"])
                    .arg(&out)
                    .arg(&dir),
            );
            manifest_digests(&out)
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
            let verdict = |c: &Contender<'_>| {
                let ratio = contenders[p].median() / c.median();
                let judged = match (plan.full, ratio >= 0.9) {
                    (false, _) => "not judged on this smoke-test size",
                    (true, true) => "met",
                    (true, false) => "MISSED",
                };
                format!("{ratio:.3}x -> {judged}")
            };
            println!(
                "target >= 0.9x openssl (median): library manifest::create {}; binary {}",
                verdict(&contenders[0]),
                verdict(&contenders[2])
            );
        }
        None => println!("target >= 0.9x openssl: not judged, openssl is missing"),
    }

    // Read strategies on the same file: which block size the hardware prefers, and whether
    // overlapping the page-cache copy with the hashing pays.
    let mut strategies: Vec<Contender<'_>> = Vec::new();
    let kib = |block: usize| block / 1024;
    let reads = [
        (
            LOCAL_BLOCK,
            16,
            format!(
                "read() {} KiB into page+16 (a fresh Vec: current)",
                kib(LOCAL_BLOCK)
            ),
        ),
        (
            LOCAL_BLOCK,
            8,
            format!("read() {} KiB into page+8", kib(LOCAL_BLOCK)),
        ),
        (
            64 * 1024,
            0,
            "read() 64 KiB into a page-aligned buffer".to_string(),
        ),
        (
            256 * 1024,
            0,
            "read() 256 KiB into a page-aligned buffer".to_string(),
        ),
        (
            LOCAL_BLOCK,
            0,
            format!("read() {} KiB into a page-aligned buffer", kib(LOCAL_BLOCK)),
        ),
        (
            4 << 20,
            0,
            "read() 4096 KiB into a page-aligned buffer".to_string(),
        ),
        (
            16 << 20,
            0,
            "read() 16384 KiB into a page-aligned buffer".to_string(),
        ),
    ];
    for (block, offset, label) in reads {
        let file = &file;
        strategies.push(Contender::new(label, move || {
            vec![hash_blocks(file, block, offset)]
        }));
    }
    for block in [LOCAL_BLOCK, 4 << 20] {
        let file = &file;
        strategies.push(Contender::new(
            format!(
                "reader + hashing threads, 2 x {} KiB page-aligned",
                kib(block)
            ),
            move || vec![hash_pipelined(file, block)],
        ));
    }
    race(&mut strategies, plan.runs, &expected);
    println!();
    println!(
        "## 1b. read strategies on the same file, one thread unless said (sha2 0.10 as in cmi-agent; \"x peer\" = throughput / the current loop's)"
    );
    let current = strategies
        .iter()
        .position(|c| c.name.ends_with("current)"))
        .expect("current strategy");
    throughput_table(&strategies, size, Some(current));
    println!(
        "(a fresh {} KiB Vec is mmapped by glibc, 16 bytes past a page boundary; the kernel's copy out of the page cache is slower into it than into a 32-byte-aligned buffer. In this process the allocator may hand the library an aligned buffer, so the library rows of table 1 can beat the binary's.)",
        LOCAL_BLOCK / 1024
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn many_files(plan: &Plan, runtime: &tokio::runtime::Runtime, work: &Path, peers: &Peers) {
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
    let parallelism = HashOptions::default().files_at_once;
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
    let mut contenders = vec![
        Contender::new("library manifest::create, files_at_once 1", || create(1)),
        Contender::new(
            format!("library manifest::create, files_at_once {parallelism} (default)"),
            || create(parallelism),
        ),
    ];
    if peers.openssl {
        contenders.push(Contender::new("openssl dgst -sha256, 1 process", || {
            openssl_over(1)
        }));
        contenders.push(Contender::new(
            format!("openssl dgst -sha256, {parallelism} processes in parallel"),
            || openssl_over(parallelism),
        ));
    }
    race(&mut contenders, plan.runs, &expected);

    println!();
    println!(
        "## 2. {} files of {} ({} in all), {} run(s) each",
        plan.shard_count,
        human(plan.shard_size),
        human(total),
        plan.runs
    );
    println!(
        "{:<58} {:>8} {:>8} {:>9} {:>11}",
        "contender", "best s", "median s", "best GB/s", "median GB/s"
    );
    for c in &contenders {
        println!(
            "{:<58} {:>8.3} {:>8.3} {:>9.3} {:>11.3}",
            c.name,
            c.best(),
            c.median(),
            gbps(total, c.best()),
            gbps(total, c.median())
        );
    }
    println!(
        "speed-up from 1 file at a time to {parallelism} (median time ratio): cmi-preflight {:.2}x{}",
        contenders[0].median() / contenders[1].median(),
        if peers.openssl {
            format!(
                "; openssl, 1 process -> {parallelism} processes {:.2}x (the hardware's own scaling)",
                contenders[2].median() / contenders[3].median()
            )
        } else {
            "; openssl missing, no hardware reference".to_string()
        }
    );
    if !plan.full {
        println!("(smoke-test size: the ratios mean nothing here)");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Which external peers are installed.
struct Peers {
    openssl: bool,
    sha256sum: bool,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = Plan::new(full);
    let peers = Peers {
        openssl: available("openssl", "version"),
        sha256sum: available("sha256sum", "--version"),
    };
    for (name, present) in [("openssl", peers.openssl), ("sha256sum", peers.sha256sum)] {
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
    let work = tempfile::Builder::new()
        .prefix("cmi-bench-hash-")
        .tempdir_in("/tmp")
        .expect("temporary folder");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    one_big_file(&plan, &runtime, &binary, work.path(), &peers);
    many_files(&plan, &runtime, work.path(), &peers);
    print_load("end");
}

/// The load average, to tell a quiet machine from a busy one when reading the numbers.
fn print_load(when: &str) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = load.split_whitespace().take(3).collect();
    println!(
        "load average at the {when} (1, 5, 15 min): {}",
        fields.join(" ")
    );
}
