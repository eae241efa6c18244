//! `push` beside the usual upload tools: wall time and peak RSS of `cmi-preflight push`,
//! `aws s3 cp --recursive` and `rclone copy` uploading the same folders to the same server.
//!
//! `cargo bench --features bench-s3 --bench push` runs the full measurement: two folders of
//! 4 GiB each, one in 2 files of 2 GiB and one in 16 files of 256 MiB (files of safetensors
//! shape: a header and random bytes), written once to a temporary folder under /tmp.
//! `CMI_BENCH_PUSH_GIB` sets another total per folder (`0.25` for a quick run of 256 MiB).
//!
//! The server is the testkit's fast S3 (`cmi_testkit::fast_s3`, the `s3s-fs` crate: a
//! file-backed S3 in Rust, much faster than moto, one Python process), behind the testkit's
//! proxy, which caps each connection's bandwidth and adds latency, so that a tool gains by
//! using several connections as it would against Amazon S3. Every tool talks to the proxy
//! with moto's static test credentials, path-style.
//!
//! Two shapes by default, each dataset run under both, the tools interleaved:
//! - scaled ([`SCALED`]: 4 MB/s and 20 ms per connection): the per-connection cap binds and
//!   the machine does not (10 connections of the AWS CLI move 40 MB/s, 32 of push 128 MB/s,
//!   where 2 vCPUs move about 130 MB/s through client, proxy and server together); the ratio
//!   then measures how well a tool uses connections, as against Amazon S3, where one
//!   connection is capped and the client's network is not;
//! - [`Shape::S3_LIKE`] (80 MB/s and 20 ms per connection, about what one connection to S3
//!   gets): on a small machine the CPU binds first, and the ratio measures CPU per byte.
//!
//! `CMI_BENCH_PUSH_SHAPE` replaces them: `BYTES_PER_SEC,LATENCY_MS`, several separated by `;`
//! (e.g. `8000000,20;80000000,20`).
//!
//! CPU time per GiB moved is printed for each side, so that the numbers do not depend on
//! other load: the tool's process (user + system, from `wait4`), the server (this process's
//! `getrusage` delta during the run, its own threads then waiting, minus the proxy's) and the
//! proxy (its threads, named `proxy-PORT`, from `/proc/self/task`). The server's share is
//! s3s-fs's work: an MD5 of every byte (the ETag), the SigV4 payload SHA-256 when a client
//! signs its payload, and, for a multipart upload, every part read, hashed with MD5 again and
//! copied into the object at completion.
//!
//! The contenders, each with its default settings, in a fresh child whose peak RSS is its
//! `ru_maxrss` from `wait4` (and its CPU time, user + system, from the same call):
//! - the AWS CLI, `aws s3 cp --recursive` (beside the test Python, in the project's virtual
//!   environment, or on the PATH);
//! - `rclone copy` (the Debian package), configured by environment variables: skipped with a
//!   message when `rclone` is not on the PATH;
//! - `cmi-preflight push --no-check --manifest-out FILE` (random bytes are no model; the
//!   manifest is written from the hashes of the upload); while the binary has no `push`
//!   subcommand the row says "push: not built yet". Extra arguments from
//!   `CMI_BENCH_PUSH_ARGS` (split on spaces), e.g. `--single-put-max 67108864`.
//!
//! `CMI_BENCH_PUSH_TOOLS` (a comma-separated subset of `aws,rclone,push`) and
//! `CMI_BENCH_PUSH_SETS` (of `two,sixteen`) restrict the run, e.g. to compare push's settings.
//!
//! After each upload the bucket is listed and every key and size must match the folder, and
//! every object's bytes, as the server stored them, must equal the local file's; the prefix is
//! then deleted to free the disk. The table gives each tool's MB/s and the ratios push/aws and
//! push/rclone (the other tool's time over push's: above 1 is push faster).
//!
//! For push, two more results: its peak RSS against its memory bound, concurrency x the
//! largest buffer (a part, or a whole file sent in one PUT) + 64 MiB; and `manifest s3://` of
//! the pushed artifact, before the prefix is deleted, counted by the proxy: its requests and the
//! object bytes it read (GetObject response bodies), once plain (which reads every object
//! without a full-object SHA-256 stored by S3) and once with `--reuse` of push's manifest (S3's
//! composite checksums of multipart objects then vouch for the recorded digests). No timed
//! assertion. Under `cargo test --features bench-s3 --all-targets` the same code runs on
//! folders of a few MiB as a smoke test.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

#[path = "support/dataset.rs"]
mod dataset;
#[path = "support/load.rs"]
mod load;
#[path = "support/upload.rs"]
mod upload;
use dataset::{make_dataset, Dataset};
use load::print_load;
use upload::{human, listed, parse_shape, runs, same_bytes};

use cmi_testkit::fast_s3::FastS3;
use cmi_testkit::moto;
use cmi_testkit::proxy::{Proxy, Shape};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const BUCKET: &str = "bench";

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

/// A command without the host's AWS or rclone configuration, with moto's static credentials
/// and region.
fn clean_command(program: impl Into<OsString>) -> Command {
    let mut command = Command::new(program.into());
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("AWS_") || name_text.starts_with("RCLONE_") {
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

/// Runs `command` to its end; returns its status, wall time in seconds, peak RSS in KiB
/// (`ru_maxrss` of that child alone, from `wait4`) and CPU seconds (user + system).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also returns its own resource usage"
)]
fn measured(mut command: Command) -> (ExitStatus, f64, u64, f64) {
    let started = Instant::now();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
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
    let seconds = started.elapsed().as_secs_f64();
    let peak = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu_seconds = cpu(usage.ru_utime) + cpu(usage.ru_stime);
    (ExitStatus::from_raw(status), seconds, peak, cpu_seconds)
}

/// CPU seconds (user + system) of this process so far, all threads, ended ones included.
fn own_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for writes.
    let done = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(done, 0, "getrusage: {}", std::io::Error::last_os_error());
    let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    cpu(usage.ru_utime) + cpu(usage.ru_stime)
}

/// CPU seconds (user + system) so far of this process's live threads whose name starts with
/// `prefix` (the proxy's threads are `proxy-PORT`, and live as long as the proxy).
fn threads_cpu_seconds(prefix: &str) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After the command's closing parenthesis: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        total += field(14).unwrap_or(0.0) + field(15).unwrap_or(0.0);
    }
    total / ticks
}

/// One contender's run on one dataset.
struct Row {
    tool: &'static str,
    seconds: f64,
    peak_kib: u64,
    /// CPU seconds of the tool's process (user + system).
    cpu_seconds: f64,
    /// CPU seconds of the server (s3s-fs) during the run: this process's CPU time (its other
    /// threads wait for the child meanwhile) minus the proxy's.
    server_cpu_seconds: f64,
    /// CPU seconds of the proxy's threads during the run.
    proxy_cpu_seconds: f64,
    requests: u64,
    sent: u64,
    /// push only: `manifest s3://` of what it sent, plain and with `--reuse` of its manifest.
    manifest: Option<(ManifestCost, ManifestCost)>,
}

/// What `manifest s3://` of an artifact cost, counted by the proxy.
struct ManifestCost {
    requests: u64,
    /// GetObject response bodies.
    object_bytes: u64,
}

/// What a contender needs to run.
struct Tools {
    aws: Option<PathBuf>,
    rclone: bool,
    push: bool,
    binary: PathBuf,
    push_args: Vec<String>,
    /// Where push writes its manifest.
    manifest_dir: PathBuf,
}

impl Tools {
    /// The value of push's option `name` in `CMI_BENCH_PUSH_ARGS`, else `default`.
    fn push_option(&self, name: &str, default: u64) -> u64 {
        self.push_args
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.push_args.get(i + 1))
            .map(|v| v.parse().expect("a number of bytes"))
            .unwrap_or(default)
    }

    /// Push's memory bound for `dataset` in bytes: concurrency x the largest buffer it holds
    /// (the whole file for a file sent in one PUT, else one part) + 64 MiB.
    fn push_bound(&self, dataset: &Dataset) -> u64 {
        let concurrency =
            self.push_option("--concurrency", cmi_agent::push::DEFAULT_CONCURRENCY as u64);
        let single_put_max =
            self.push_option("--single-put-max", cmi_agent::push::DEFAULT_SINGLE_PUT_MAX);
        let requested = self
            .push_args
            .iter()
            .any(|a| a == "--part-size")
            .then(|| self.push_option("--part-size", 0));
        let largest = dataset
            .files
            .iter()
            .map(|(_, size)| {
                if *size <= single_put_max {
                    *size
                } else {
                    cmi_agent::push::part_size(*size, requested).expect("a valid part size")
                }
            })
            .max()
            .unwrap_or(0);
        concurrency * largest + 64 * MIB
    }

    /// Where push writes the manifest of `dataset`.
    fn manifest_path(&self, dataset: &Dataset) -> PathBuf {
        self.manifest_dir
            .join(format!("push-{}.json", dataset.name))
    }

    /// The command uploading `dataset` to `s3://BUCKET/prefix/` through `endpoint`.
    fn command(&self, tool: &str, dataset: &Dataset, prefix: &str, endpoint: &str) -> Command {
        match tool {
            "aws s3 cp" => {
                let mut command = clean_command(self.aws.as_ref().expect("aws"));
                command
                    .args(["s3", "cp", "--recursive", "--only-show-errors"])
                    .args(["--endpoint-url", endpoint])
                    .arg(&dataset.dir)
                    .arg(format!("s3://{BUCKET}/{prefix}/"));
                command
            }
            "rclone copy" => {
                let mut command = clean_command("rclone");
                command
                    .env("RCLONE_CONFIG", "/dev/null")
                    .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
                    .env("RCLONE_CONFIG_BENCH_PROVIDER", "Other")
                    .env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
                    .env(
                        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY",
                        moto::SECRET_ACCESS_KEY,
                    )
                    .env("RCLONE_CONFIG_BENCH_REGION", moto::REGION)
                    .env("RCLONE_CONFIG_BENCH_ENDPOINT", endpoint)
                    .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true")
                    .arg("copy")
                    .arg(&dataset.dir)
                    .arg(format!("bench:{BUCKET}/{prefix}/"));
                command
            }
            _ => {
                let mut command = clean_command(&self.binary);
                command
                    .arg("push")
                    .arg(&dataset.dir)
                    .arg(format!("s3://{BUCKET}/{prefix}/"))
                    .args(["--endpoint-url", endpoint, "--region", moto::REGION])
                    .args(["--no-check", "-q", "--manifest-out"])
                    .arg(self.manifest_path(dataset))
                    .args(&self.push_args);
                command
            }
        }
    }
}

/// Uploads `dataset` with `tool`, checks the bucket, deletes the prefix.
async fn run(
    tools: &Tools,
    tool: &'static str,
    dataset: &Dataset,
    server: &FastS3,
    proxy: &Proxy,
    client: &aws_sdk_s3::Client,
) -> Row {
    let slug: String = tool
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let prefix = format!("{slug}-{}", dataset.name);
    proxy.reset_stats();
    let command = tools.command(tool, dataset, &prefix, &proxy.endpoint());
    let (own_before, proxy_before) = (own_cpu_seconds(), threads_cpu_seconds("proxy-"));
    let (status, seconds, peak_kib, cpu_seconds) = measured(command);
    let proxy_cpu_seconds = threads_cpu_seconds("proxy-") - proxy_before;
    let server_cpu_seconds = (own_cpu_seconds() - own_before - proxy_cpu_seconds).max(0.0);
    assert!(
        status.success(),
        "{tool} on {} failed: {status}",
        dataset.name
    );
    let stats = proxy.stats();
    let found = listed(client, BUCKET, &format!("{prefix}/")).await;
    assert_eq!(
        found, dataset.files,
        "{tool}: the bucket does not hold the files of {}",
        dataset.name
    );
    let stored = server.root().join(BUCKET).join(&prefix);
    for (name, _) in &dataset.files {
        assert!(
            same_bytes(&dataset.dir.join(name), &stored.join(name)),
            "{tool}: the object {prefix}/{name} does not hold the bytes of the file"
        );
    }
    let manifest = (tool == "push").then(|| {
        let plain = manifest_cost(tools, &prefix, proxy, None);
        let reuse = manifest_cost(tools, &prefix, proxy, Some(&tools.manifest_path(dataset)));
        (plain, reuse)
    });
    std::fs::remove_dir_all(&stored).expect("delete prefix");
    Row {
        tool,
        seconds,
        peak_kib,
        cpu_seconds,
        server_cpu_seconds,
        proxy_cpu_seconds,
        requests: stats.requests,
        sent: stats.request_bytes,
        manifest,
    }
}

/// Runs `manifest s3://BUCKET/prefix/` (with `--reuse` of `reuse`) through the proxy; its
/// requests and the object bytes it read.
fn manifest_cost(tools: &Tools, prefix: &str, proxy: &Proxy, reuse: Option<&Path>) -> ManifestCost {
    proxy.reset_stats();
    let mut command = clean_command(&tools.binary);
    command
        .arg("manifest")
        .arg(format!("s3://{BUCKET}/{prefix}/"))
        .args([
            "--endpoint-url",
            &proxy.endpoint(),
            "--region",
            moto::REGION,
        ])
        .args(["-q", "--output"])
        .arg(tools.manifest_dir.join("manifest-s3.json"));
    if let Some(reuse) = reuse {
        command.arg("--reuse").arg(reuse);
    }
    let (status, _, _, _) = measured(command);
    assert!(
        status.success(),
        "manifest s3:// of {prefix} failed: {status}"
    );
    let object_bytes = proxy
        .log()
        .iter()
        .filter(|e| e.method == "GET" && e.path.contains("x-id=GetObject"))
        .map(|e| e.response_bytes)
        .sum();
    ManifestCost {
        requests: proxy.stats().requests,
        object_bytes,
    }
}

fn print_table(tools: &Tools, dataset: &Dataset, shape: Shape, rows: &[Row]) {
    let time = |tool: &str| rows.iter().find(|r| r.tool == tool).map(|r| r.seconds);
    println!();
    println!(
        "## {} in {} file(s) of {}, {}",
        human(dataset.bytes),
        dataset.files.len(),
        human(dataset.bytes / dataset.files.len() as u64),
        shape_text(shape)
    );
    let gib = dataset.bytes as f64 / GIB as f64;
    println!(
        "{:<14} {:>8} {:>8} {:>13} {:>12} {:>12} {:>12} {:>9} {:>10}",
        "tool",
        "seconds",
        "MB/s",
        "peak RSS MiB",
        "CPU s/GiB",
        "server s/GiB",
        "proxy s/GiB",
        "requests",
        "sent MiB"
    );
    for row in rows {
        println!(
            "{:<14} {:>8.2} {:>8.1} {:>13.1} {:>12.2} {:>12.2} {:>12.2} {:>9} {:>10.1}",
            row.tool,
            row.seconds,
            dataset.bytes as f64 / row.seconds / 1e6,
            row.peak_kib as f64 / 1024.0,
            row.cpu_seconds / gib,
            row.server_cpu_seconds / gib,
            row.proxy_cpu_seconds / gib,
            row.requests,
            row.sent as f64 / MIB as f64
        );
    }
    let ratio = |peer: &str| match (time("push"), time(peer)) {
        (Some(push), Some(other)) => format!("{:.2}", other / push),
        (None, _) => "push: not built yet".to_string(),
        (_, None) => format!("{peer}: not run"),
    };
    println!(
        "push/aws (AWS CLI time / push time; target >= 2): {}",
        ratio("aws s3 cp")
    );
    println!(
        "push/rclone (rclone time / push time; target >= 1): {}",
        ratio("rclone copy")
    );
    if let Some(push) = rows.iter().find(|r| r.tool == "push") {
        let bound = tools.push_bound(dataset);
        let peak = push.peak_kib * 1024;
        println!(
            "push peak RSS {:.1} MiB, bound (concurrency x largest buffer + 64 MiB) {:.1} MiB: {}",
            peak as f64 / MIB as f64,
            bound as f64 / MIB as f64,
            if peak <= bound { "within" } else { "ABOVE" }
        );
        if let Some((plain, reuse)) = &push.manifest {
            for (how, cost) in [
                ("manifest s3://", plain),
                ("manifest s3:// --reuse push's", reuse),
            ] {
                println!(
                    "{how}: {} requests for {} files, {:.1} MiB of object data read",
                    cost.requests,
                    dataset.files.len(),
                    cost.object_bytes as f64 / MIB as f64
                );
            }
        }
    }
    if let (Some(aws), Some(rclone)) = (time("aws s3 cp"), time("rclone copy")) {
        println!(
            "rclone/aws (AWS CLI time / rclone time): {:.2}",
            aws / rclone
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let per_folder = match std::env::var("CMI_BENCH_PUSH_GIB") {
        Ok(gib) => {
            let gib: f64 = gib.parse().expect("CMI_BENCH_PUSH_GIB: a number of GiB");
            // Whole MiB per file of the 16-file folder.
            ((gib * GIB as f64) as u64 / (16 * MIB)).max(1) * 16 * MIB
        }
        Err(_) if full => 4 * GIB,
        Err(_) => 16 * MIB,
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cmi-preflight"));
    let chosen = |variable: &str, name: &str| match std::env::var(variable) {
        Ok(list) => list.split(',').any(|n| n.trim() == name),
        Err(_) => true,
    };
    let work = tempfile::Builder::new()
        .prefix("cmi-bench-push-")
        .tempdir_in("/tmp")
        .expect("temporary folder");
    let tools = Tools {
        aws: aws_cli(),
        rclone: runs(Command::new("rclone").arg("version")),
        push: runs(Command::new(&binary).args(["push", "--help"])),
        binary: binary.clone(),
        push_args: std::env::var("CMI_BENCH_PUSH_ARGS")
            .map(|a| a.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
        manifest_dir: work.path().to_path_buf(),
    };
    let shapes = match std::env::var("CMI_BENCH_PUSH_SHAPE") {
        Ok(list) => list
            .split(';')
            .map(|one| {
                parse_shape(one).unwrap_or_else(|| {
                    panic!("CMI_BENCH_PUSH_SHAPE: {one:?} is not BYTES_PER_SEC,LATENCY_MS")
                })
            })
            .collect(),
        Err(_) => vec![SCALED, Shape::S3_LIKE],
    };
    println!("binary: {}", binary.display());
    for shape in &shapes {
        println!(
            "server: fast S3 (s3s-fs) behind the testkit proxy, {}",
            shape_text(*shape)
        );
    }
    let mut contenders: Vec<&'static str> = Vec::new();
    match &tools.aws {
        _ if !chosen("CMI_BENCH_PUSH_TOOLS", "aws") => {}
        Some(aws) => {
            println!("aws: {}", aws.display());
            contenders.push("aws s3 cp");
        }
        None => println!("aws: the AWS CLI is not installed (./scripts/test installs awscli into .venv): skipped"),
    }
    match (chosen("CMI_BENCH_PUSH_TOOLS", "rclone"), tools.rclone) {
        (false, _) => {}
        (true, true) => contenders.push("rclone copy"),
        (true, false) => println!("rclone: not on the PATH (Debian package rclone): skipped"),
    }
    match (chosen("CMI_BENCH_PUSH_TOOLS", "push"), tools.push) {
        (false, _) => {}
        (true, true) => {
            println!("push arguments: {:?}", tools.push_args);
            contenders.push("push");
        }
        (true, false) => println!("push: not built yet (`cmi-preflight push --help` fails)"),
    }
    print_load("start");

    let started = Instant::now();
    let datasets: Vec<Dataset> = [("two", 2), ("sixteen", 16)]
        .into_iter()
        .filter(|(name, _)| chosen("CMI_BENCH_PUSH_SETS", name))
        .map(|(name, count)| make_dataset(work.path(), name, count, per_folder / count))
        .collect();
    println!(
        "wrote {} folder(s) of {} in {:.1} s",
        datasets.len(),
        human(per_folder),
        started.elapsed().as_secs_f64()
    );
    let server = FastS3::start(&work.path().join("s3")).expect("fast S3 server");
    server.create_bucket(BUCKET).expect("bucket");
    let proxies: Vec<(Shape, Proxy)> = shapes
        .iter()
        .map(|shape| (*shape, Proxy::start_shaped(&server.endpoint(), *shape)))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config =
            moto::sdk_config_for(&server.endpoint(), moto::static_credentials(), moto::REGION)
                .await;
        let client = moto::s3_client(&config);
        for dataset in &datasets {
            for (shape, proxy) in &proxies {
                let mut rows = Vec::new();
                for tool in &contenders {
                    rows.push(run(&tools, tool, dataset, &server, proxy, &client).await);
                }
                print_table(&tools, dataset, *shape, &rows);
            }
        }
    });
    drop(proxies);
    drop(server);
    print_load("end");
}

/// The default scaled shape: a per-connection cap low enough that every tool's connections
/// at their default concurrency move less than this machine can (2 shared vCPUs move about
/// 130 MB/s through client, proxy and server together), so that the ratio measures how a
/// tool uses connections, as against Amazon S3, where one connection is capped and the
/// client's network is not.
const SCALED: Shape = Shape {
    bytes_per_sec: 4_000_000,
    latency: std::time::Duration::from_millis(20),
};

/// A shape as a reader wants it: `80 MB/s and 20 ms per connection`.
fn shape_text(shape: Shape) -> String {
    format!(
        "{} MB/s and {} ms per connection",
        shape.bytes_per_sec as f64 / 1e6,
        shape.latency.as_millis()
    )
}
