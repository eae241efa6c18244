//! `manifest` over S3: SHA-256 throughput of `cmi_agent::manifest::create` on an `S3Source`
//! beside the peer `aws s3 cp s3://bucket/key - | sha256sum`, and the peak RSS of the release
//! binary beside its bound, `concurrency x part size`, for objects of different sizes.
//!
//! `cargo bench --bench s3_manifest` runs the full measurement (about two minutes) against the
//! moto S3 emulator, with the testkit's counting proxy between every client and moto:
//!
//! - `one/`: one 256 MiB object; `model/`: four 256 MiB objects (1 GiB); `big/`: one 1 GiB
//!   object. moto answers a ranged GET by reading the whole object, so a GET costs time in
//!   proportion to the object's size; 256 MiB objects are what it serves well.
//! - Throughput on `one/` and `model/`: the library with the default options (16 parts of
//!   8 MiB in flight, files hashed 2 at once on 2 cores) against the AWS CLI (`aws s3 cp` to
//!   stdout, piped into `sha256sum`; the objects of `model/` one after the other). Both ends
//!   are bound by moto, a single Python process: the ratio says whether the tool keeps up
//!   with a tuned downloader on the same server, not what S3 would give.
//! - Peak RSS of `cmi-preflight manifest s3://... --endpoint-url ... -q -o OUT` (from
//!   `/usr/bin/time -f %M`, or by polling `VmHWM` in /proc when that is missing): `one/` and
//!   `model/` with the defaults (bound 16 x 8 MiB = 128 MiB), `one/` with `--concurrency 4`
//!   (32 MiB), and the 256 MiB and the 1 GiB objects with 64 MiB parts, two at once
//!   (the same 128 MiB bound in 4 and 16 GETs, which keeps the 1 GiB object within moto's
//!   means). The AWS CLI's peak RSS is shown beside its own runs.
//!
//! Every digest is compared with the one computed when the objects were made; the requests
//! and bytes the proxy saw are printed for each run. Ratios only, never a timed assertion.
//! Under `cargo test --all-targets` the same code runs on objects of a few MiB with 1 MiB
//! parts as a smoke test; a missing AWS CLI or `sha256sum` is then skipped, and in `--bench`
//! mode named as missing. Needs the project's virtual environment (`./scripts/test` creates
//! it, with moto and the AWS CLI from scripts/requirements-test.txt).

#[path = "support/load.rs"]
mod load;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use cmi_agent::hash::{HashOptions, NoProgress};
use cmi_agent::manifest::{self, ManifestOptions};
use cmi_agent::S3Source;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::Proxy;
use load::print_load;
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const BUCKET: &str = "bench";

/// Sizes of one run.
struct Plan {
    /// Size of the object of `one/` and of each of the objects of `model/`.
    object: u64,
    /// Objects under `model/`.
    shards: usize,
    /// Size of the object of `big/`.
    big: u64,
    /// Part size of the library and the default binary runs.
    part: u64,
    /// Part size of the runs that compare object sizes at two parts in flight.
    big_part: u64,
}

impl Plan {
    fn new(full: bool) -> Plan {
        if full {
            Plan {
                object: 256 * MIB,
                shards: 4,
                big: GIB,
                part: cmi_agent::hash::DEFAULT_PART_SIZE,
                big_part: 64 * MIB,
            }
        } else {
            Plan {
                object: 2 * MIB,
                shards: 2,
                big: 4 * MIB,
                part: MIB,
                big_part: 2 * MIB,
            }
        }
    }
}

/// `size` pseudo-random bytes (splitmix64 from `seed`).
fn random_bytes(size: u64, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut bytes = vec![0u8; size as usize];
    for word in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let value = (z ^ (z >> 31)).to_le_bytes();
        word.copy_from_slice(&value[..word.len()]);
    }
    bytes
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A size in KiB, MiB or GiB.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b => format!("{} KiB", b / 1024),
    }
}

/// An object of the bucket and its digest.
struct Object {
    key: String,
    sha256: String,
}

/// A prefix of the bucket: its objects, in key order.
struct Prefix {
    name: &'static str,
    objects: Vec<Object>,
    bytes: u64,
}

impl Prefix {
    fn uri(&self) -> String {
        format!("s3://{BUCKET}/{}/", self.name)
    }

    fn digests(&self) -> Vec<String> {
        self.objects.iter().map(|o| o.sha256.clone()).collect()
    }
}

/// Uploads the three prefixes; the objects of `model/` are slices of the `big/` object, and the
/// object of `one/` is the first of them.
async fn upload(client: &aws_sdk_s3::Client, plan: &Plan) -> (Prefix, Prefix, Prefix) {
    let big = Bytes::from(random_bytes(plan.big, 7));
    assert!(plan.object * plan.shards as u64 <= plan.big);
    let put = |key: String, body: Bytes| async move {
        client
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload {key}: {e:?}"));
    };
    let mut model = Prefix {
        name: "model",
        objects: Vec::new(),
        bytes: 0,
    };
    for i in 0..plan.shards {
        let start = i as u64 * plan.object;
        let body = big.slice(start as usize..(start + plan.object) as usize);
        let key = format!("model/model-{:05}-of-{:05}.bin", i + 1, plan.shards);
        model.objects.push(Object {
            key: key.clone(),
            sha256: sha256(&body),
        });
        model.bytes += plan.object;
        put(key, body).await;
    }
    let first = big.slice(..plan.object as usize);
    let one = Prefix {
        name: "one",
        objects: vec![Object {
            key: "one/model.bin".into(),
            sha256: sha256(&first),
        }],
        bytes: plan.object,
    };
    put("one/model.bin".into(), first).await;
    let whole = Prefix {
        name: "big",
        objects: vec![Object {
            key: "big/model.bin".into(),
            sha256: sha256(&big),
        }],
        bytes: plan.big,
    };
    put("big/model.bin".into(), big).await;
    (one, model, whole)
}

/// Where the AWS CLI is: beside the test Python, else the project's virtual environment, else
/// the PATH.
fn aws_cli() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(python) = std::env::var_os("CMI_TEST_PYTHON") {
        if let Some(dir) = Path::new(&python).parent() {
            candidates.push(dir.join("aws"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/aws"));
    candidates.push(PathBuf::from("aws"));
    candidates
        .into_iter()
        .find(|c| runs(Command::new(c).arg("--version")))
}

fn runs(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command with the environment of the AWS tools: moto's static credentials and region, and
/// nothing from the host's AWS configuration.
fn aws_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
        .env("AWS_DEFAULT_REGION", moto::REGION)
        .env("AWS_REGION", moto::REGION)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// How peak RSS is measured.
#[derive(Clone, Copy)]
enum RssProbe {
    /// GNU time's `%M`: the child's `ru_maxrss` from `wait4`, exact.
    GnuTime,
    /// `VmHWM` of /proc/PID/status, read every 2 ms while the child runs.
    Poll,
}

impl RssProbe {
    fn detect() -> RssProbe {
        let forced_poll = std::env::var("CMI_BENCH_RSS").is_ok_and(|v| v == "poll");
        if !forced_poll && runs(Command::new("/usr/bin/time").args(["-f", "%M", "true"])) {
            RssProbe::GnuTime
        } else {
            RssProbe::Poll
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RssProbe::GnuTime => "/usr/bin/time -f %M (ru_maxrss)",
            RssProbe::Poll => "VmHWM of /proc/PID/status polled every 2 ms",
        }
    }
}

/// A child process started with its peak RSS measured.
struct Measured {
    child: std::process::Child,
    probe: RssProbe,
    report: PathBuf,
    peak_kib: u64,
}

impl Measured {
    /// Starts `command` (built by `aws_command`), under GNU time when that is the probe.
    fn spawn(probe: RssProbe, command: Command, report: PathBuf, stdout: Stdio) -> Measured {
        let mut command = match probe {
            RssProbe::GnuTime => {
                let mut time = Command::new("/usr/bin/time");
                time.args(["-f", "%M", "-o"])
                    .arg(&report)
                    .arg(command.get_program())
                    .args(command.get_args());
                for (name, value) in command.get_envs() {
                    match value {
                        Some(value) => time.env(name, value),
                        None => time.env_remove(name),
                    };
                }
                time
            }
            RssProbe::Poll => command,
        };
        let child = command
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        Measured {
            child,
            probe,
            report,
            peak_kib: 0,
        }
    }

    /// Waits for the child; returns its status and its peak RSS in KiB.
    fn wait(mut self) -> (std::process::ExitStatus, u64) {
        let status = match self.probe {
            RssProbe::GnuTime => self.child.wait().expect("wait"),
            RssProbe::Poll => loop {
                let status_file = format!("/proc/{}/status", self.child.id());
                if let Ok(text) = std::fs::read_to_string(status_file) {
                    if let Some(kib) = text
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    {
                        self.peak_kib = self.peak_kib.max(kib);
                    }
                }
                if let Some(status) = self.child.try_wait().expect("wait") {
                    break status;
                }
                std::thread::sleep(Duration::from_millis(2));
            },
        };
        if let RssProbe::GnuTime = self.probe {
            let text = std::fs::read_to_string(&self.report).unwrap_or_default();
            // The last line is %M; a line before it may say the command failed.
            self.peak_kib = text
                .lines()
                .last()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
        }
        (status, self.peak_kib)
    }
}

/// One measured run.
struct Row {
    name: String,
    bytes: u64,
    seconds: f64,
    requests: u64,
    received: u64,
    peak_rss_kib: Option<u64>,
    bound: Option<u64>,
}

fn print_throughput(title: &str, rows: &[Row], peer: Option<usize>) {
    println!();
    println!("{title}");
    println!(
        "{:<72} {:>8} {:>8} {:>7} {:>9} {:>13} {:>13}",
        "contender", "seconds", "MB/s", "x peer", "requests", "received MiB", "peak RSS MiB"
    );
    for row in rows {
        let ratio = match peer {
            Some(p) => format!("{:.3}", rows[p].seconds / row.seconds),
            None => "-".into(),
        };
        println!(
            "{:<72} {:>8.2} {:>8.1} {:>7} {:>9} {:>13.1} {:>13}",
            row.name,
            row.seconds,
            row.bytes as f64 / row.seconds / 1e6,
            ratio,
            row.requests,
            row.received as f64 / MIB as f64,
            row.peak_rss_kib
                .map_or("-".into(), |k| format!("{:.1}", k as f64 / 1024.0))
        );
    }
}

/// The library's manifest of `prefix`, timed and counted.
async fn library_run(source: &S3Source, proxy: &Proxy, prefix: &Prefix, plan: &Plan) -> Row {
    let options = ManifestOptions {
        hash: HashOptions {
            part_size: plan.part,
            ..HashOptions::default()
        },
        ..ManifestOptions::default()
    };
    proxy.reset_stats();
    let started = Instant::now();
    let manifest = manifest::create(source, &options, None, Arc::new(NoProgress))
        .await
        .expect("manifest over S3");
    let seconds = started.elapsed().as_secs_f64();
    let stats = proxy.stats();
    let digests: Vec<String> = manifest.files.iter().map(|f| f.sha256.clone()).collect();
    assert_eq!(
        digests,
        prefix.digests(),
        "library digests of {}",
        prefix.name
    );
    Row {
        name: format!(
            "library manifest::create {} ({} x {}, {} files at once)",
            prefix.uri(),
            options.hash.concurrency,
            human(options.hash.part_size),
            options.hash.files_at_once
        ),
        bytes: prefix.bytes,
        seconds,
        requests: stats.requests,
        received: stats.client_response_bytes,
        peak_rss_kib: None,
        bound: None,
    }
}

/// The peer: `aws s3 cp s3://... - | sha256sum` for each object of `prefix`, one after the
/// other; the peak RSS is the AWS CLI's largest.
fn peer_run(
    aws: &Path,
    endpoint: &str,
    proxy: &Proxy,
    prefix: &Prefix,
    probe: RssProbe,
    work: &Path,
) -> Row {
    proxy.reset_stats();
    let started = Instant::now();
    let mut peak = 0;
    for object in &prefix.objects {
        let mut command = aws_command(aws);
        command
            .args(["s3", "cp", "--only-show-errors", "--endpoint-url", endpoint])
            .arg(format!("s3://{BUCKET}/{}", object.key))
            .arg("-");
        let mut cli = Measured::spawn(probe, command, work.join("aws.rss"), Stdio::piped());
        let pipe = cli.child.stdout.take().expect("aws stdout");
        let sum = Command::new("sha256sum")
            .stdin(Stdio::from(pipe))
            .stdout(Stdio::piped())
            .spawn()
            .expect("sha256sum");
        // The AWS CLI first: polling its VmHWM needs it alive; sha256sum prints one line.
        let (status, kib) = cli.wait();
        let out = sum.wait_with_output().expect("sha256sum");
        assert!(status.success(), "aws s3 cp {} failed", object.key);
        peak = peak.max(kib);
        let digest = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        assert_eq!(
            digest, object.sha256,
            "aws s3 cp | sha256sum of {}",
            object.key
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = proxy.stats();
    Row {
        name: format!(
            "peer: aws s3 cp s3://{BUCKET}/{}/KEY - | sha256sum, x{}",
            prefix.name,
            prefix.objects.len(),
        ),
        bytes: prefix.bytes,
        seconds,
        requests: stats.requests,
        received: stats.client_response_bytes,
        peak_rss_kib: Some(peak),
        bound: None,
    }
}

/// The release binary's `manifest` of `prefix` with `--part-size` and `--concurrency`, with
/// its peak RSS.
#[allow(clippy::too_many_arguments)]
fn binary_run(
    binary: &Path,
    endpoint: &str,
    proxy: &Proxy,
    prefix: &Prefix,
    part: u64,
    concurrency: u64,
    probe: RssProbe,
    work: &Path,
) -> Row {
    let out = work.join(format!("{}.manifest.json", prefix.name));
    let mut command = aws_command(binary);
    command
        .arg("manifest")
        .arg(prefix.uri())
        .args(["--endpoint-url", endpoint, "--region", moto::REGION, "-q"])
        .arg("--part-size")
        .arg(part.to_string())
        .arg("--concurrency")
        .arg(concurrency.to_string())
        .arg("-o")
        .arg(&out);
    proxy.reset_stats();
    let started = Instant::now();
    let (status, kib) = Measured::spawn(probe, command, work.join("bin.rss"), Stdio::null()).wait();
    let seconds = started.elapsed().as_secs_f64();
    let stats = proxy.stats();
    assert!(
        status.success(),
        "cmi-preflight manifest {} failed",
        prefix.uri()
    );
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("manifest")).expect("JSON");
    let digests: Vec<String> = value["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["sha256"].as_str().expect("sha256").to_string())
        .collect();
    assert_eq!(
        digests,
        prefix.digests(),
        "binary digests of {}",
        prefix.name
    );
    Row {
        name: format!(
            "binary manifest {} ({} x {})",
            prefix.uri(),
            concurrency,
            human(part)
        ),
        bytes: prefix.bytes,
        seconds,
        requests: stats.requests,
        received: stats.client_response_bytes,
        peak_rss_kib: Some(kib),
        bound: Some(concurrency * part),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = Plan::new(full);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cmi-preflight"));
    let aws = aws_cli();
    let sha256sum = runs(Command::new("sha256sum").arg("--version"));
    let peer = match (&aws, sha256sum) {
        (Some(aws), true) => Some(aws.clone()),
        (aws, sha256sum) => {
            let missing = match (aws.is_none(), !sha256sum) {
                (true, true) => "the AWS CLI (`aws`) and `sha256sum` are",
                (true, false) => "the AWS CLI (`aws`, pip package awscli) is",
                _ => "`sha256sum` is",
            };
            if full {
                println!("PEER MISSING: {missing} not installed; the peer rows and ratios are left out (./scripts/test installs awscli into .venv)");
            } else {
                println!("smoke test: {missing} not found, peer skipped");
            }
            None
        }
    };
    let probe = RssProbe::detect();
    println!("binary: {}", binary.display());
    println!("peak RSS from {}", probe.describe());
    print_load("start");
    let work = tempfile::Builder::new()
        .prefix("cmi-bench-s3-")
        .tempdir_in("/tmp")
        .expect("temporary folder");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let moto = Moto::start();
        let client = moto.s3_client().await;
        cmi_testkit::s3::create_bucket(&client, BUCKET, moto::REGION)
            .await
            .expect("bucket");
        let started = Instant::now();
        let (one, model, big) = upload(&client, &plan).await;
        println!(
            "uploaded {} to moto in {:.1} s",
            human(one.bytes + model.bytes + big.bytes),
            started.elapsed().as_secs_f64()
        );
        let proxy = Proxy::start(&moto.endpoint());
        let endpoint = proxy.endpoint();
        let config =
            moto::sdk_config_for(&endpoint, moto::static_credentials(), moto::REGION).await;

        let mut verdicts = Vec::new();
        for prefix in [&one, &model] {
            let uri: cmi_agent::S3Uri = prefix.uri().parse().expect("uri");
            let source = S3Source::new(&config, uri, "bench");
            let mut rows = vec![library_run(&source, &proxy, prefix, &plan).await];
            let peer_index = peer.as_ref().map(|aws| {
                rows.push(peer_run(aws, &endpoint, &proxy, prefix, probe, work.path()));
                rows.len() - 1
            });
            print_throughput(
                &format!(
                    "## throughput, {} in {} object(s) of {} ({}; \"x peer\" = peer time / this time)",
                    human(prefix.bytes),
                    prefix.objects.len(),
                    human(prefix.bytes / prefix.objects.len() as u64),
                    prefix.uri()
                ),
                &rows,
                peer_index,
            );
            if let Some(p) = peer_index {
                verdicts.push(format!(
                    "{}: library {:.2}x the AWS CLI's throughput",
                    prefix.uri(),
                    rows[p].seconds / rows[0].seconds
                ));
            }
        }

        let default_concurrency = HashOptions::default().concurrency as u64;
        let rss_runs = [
            (&one, plan.part, default_concurrency),
            (&model, plan.part, default_concurrency),
            (&one, plan.part, 4),
            (&one, plan.big_part, 2),
            (&big, plan.big_part, 2),
        ];
        let mut rows = Vec::new();
        for (prefix, part, concurrency) in rss_runs {
            rows.push(binary_run(
                &binary,
                &endpoint,
                &proxy,
                prefix,
                part,
                concurrency,
                probe,
                work.path(),
            ));
        }
        println!();
        println!(
            "## peak RSS of the binary against its bound, concurrency x part size (binary: {})",
            binary.display()
        );
        println!(
            "{:<52} {:>9} {:>8} {:>9} {:>13} {:>10} {:>11}",
            "run", "data", "seconds", "requests", "peak RSS MiB", "bound MiB", "RSS / data"
        );
        for row in &rows {
            let kib = row.peak_rss_kib.unwrap_or(0);
            println!(
                "{:<52} {:>9} {:>8.2} {:>9} {:>13.1} {:>10} {:>11.3}",
                row.name,
                human(row.bytes),
                row.seconds,
                row.requests,
                kib as f64 / 1024.0,
                human(row.bound.unwrap_or(0)),
                (kib * 1024) as f64 / row.bytes as f64
            );
        }
        let within = |row: &Row| {
            row.peak_rss_kib.unwrap_or(u64::MAX) * 1024
                <= row.bound.unwrap_or(0) + 64 * MIB
        };
        let all_within = rows.iter().all(within);
        let small = &rows[3];
        let large = &rows[4];
        let growth = large.peak_rss_kib.unwrap_or(0) as f64
            / small.peak_rss_kib.unwrap_or(1).max(1) as f64;
        println!(
            "same bound, {} -> {} object ({:.0}x the data): peak RSS {:.1} -> {:.1} MiB ({:.2}x)",
            human(small.bytes),
            human(large.bytes),
            large.bytes as f64 / small.bytes as f64,
            small.peak_rss_kib.unwrap_or(0) as f64 / 1024.0,
            large.peak_rss_kib.unwrap_or(0) as f64 / 1024.0,
            growth
        );
        for verdict in &verdicts {
            println!("{verdict}");
        }
        let judged = match (full, all_within) {
            (false, _) => "not judged on this smoke-test size",
            (true, true) => "met",
            (true, false) => "MISSED",
        };
        println!("target: every peak RSS <= bound + 64 MiB of process overhead: {judged}");
        drop(proxy);
        drop(moto);
    });
    print_load("end");
}
