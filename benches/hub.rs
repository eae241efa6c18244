//! The Hugging Face Hub as a source, beside huggingface_hub's own tools, against the testkit's
//! Hub emulator (`cmi_testkit::hub`) behind the testkit's shaping proxy: one proxy in front of
//! the Hub, one in front of its CDN (`HubEmulator::cdn_via`), so that the redirect to the CDN
//! costs what it costs on the real Hub.
//!
//! `cargo bench --features bench-s3 --bench hub` runs the full measurement, in two parts:
//!
//! 1. `check hf://` of an 8-shard artifact (the committed `testdata/valid/llama-sharded`
//!    re-saved in 8 shards with their index), through proxies adding 50 ms before each request
//!    and no bandwidth cap, against `huggingface_hub.get_safetensors_metadata` (the test
//!    Python, `CMI_TEST_PYTHON` or `.venv/bin/python`; only the call is timed, not the
//!    interpreter's start and imports). Each tool runs [`REPEATS`] times through the 50 ms
//!    proxies and as many times through unshaped ones, with a fresh `HF_HOME` each time; the
//!    medians give its sequential round trips, (time at 50 ms - time at 0 ms) / 50 ms, and the
//!    emulator's request log its requests (Hub and CDN). The target of issue 14 is at most 4
//!    round trips for `check`.
//! 2. `push hf://bench/NAME s3://bench/push-NAME/` of a folder served by the emulator into the
//!    testkit's fast S3 (`cmi_testkit::fast_s3`), against `hf download NAME --local-dir DIR`
//!    (huggingface_hub's CLI, beside the test Python) to a temporary folder followed by
//!    `aws s3 cp --recursive DIR` (the AWS CLI, same place), timed together. Two folders of
//!    4 GiB each by default, one in 2 files of 2 GiB and one in 16 files of 256 MiB (files of
//!    safetensors shape with random bytes, as in benches/push.rs); `CMI_BENCH_HUB_GIB` sets
//!    another total per folder, `CMI_BENCH_HUB_SETS` (of `two,sixteen`) restricts them. The
//!    Hub, its CDN and S3 are each behind a proxy with the push benchmark's scaled shape, 4
//!    MB/s and 20 ms per connection (`CMI_BENCH_HUB_SHAPE`, `BYTES_PER_SEC,LATENCY_MS`,
//!    replaces it): one connection is capped, the client's network is not, as on the Hub's CDN
//!    and S3. The emulator hashes every LFS file when it starts (it publishes their SHA-256,
//!    which push checks), before the clock runs.
//!
//!    For each side: MB/s, peak RSS (`ru_maxrss` of each child from `wait4`) and the bytes the
//!    child caused to be written to storage (`write_bytes` of `/proc/PID/io`, read after it
//!    exits and before it is reaped): push must write none, where the peer path writes the
//!    whole artifact once. After each upload every key and size under the prefix must match
//!    the folder and every object's bytes must equal the file's; the prefix is then deleted.
//!
//! `CMI_BENCH_HUB_PARTS` (of `check,push`) runs one part only. No timed assertion. Under
//! `cargo test --features bench-s3 --all-targets` the same code runs once per tool on folders
//! of 16 MiB as a smoke test.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
use cmi_testkit::hub::{HubEmulator, HubHost, HubRepo};
use cmi_testkit::moto;
use cmi_testkit::proxy::{Proxy, Shape};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const BUCKET: &str = "bench";
/// Runs of each tool per latency in the full measurement (the medians are compared).
const REPEATS: usize = 7;
/// The latency of the `check` part.
const LATENCY: Duration = Duration::from_millis(50);
/// The repository of the `check` part.
const CHECK_REPO: &str = "bench/llama-8-shards";
/// The push benchmark's scaled shape (benches/push.rs, `SCALED`).
const SCALED: Shape = Shape {
    bytes_per_sec: 4_000_000,
    latency: Duration::from_millis(20),
};

/// The committed fixture re-saved in 8 shards into `dir`: its other files as they are, every
/// tensor of its 2 shards spread in order over 8 shards (same dtype, shape, bytes and
/// `__metadata__`), and a new index.
fn eight_shards(dir: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/valid/llama-sharded");
    std::fs::create_dir_all(dir).expect("artifact folder");
    let mut shards = Vec::new();
    for entry in std::fs::read_dir(&source).expect("fixture") {
        let path = entry.expect("fixture entry").path();
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".safetensors") {
            shards.push(std::fs::read(&path).expect("read shard"));
        } else if name != "model.safetensors.index.json" {
            std::fs::copy(&path, dir.join(&name)).expect("copy");
        }
    }
    let mut tensors = Vec::new();
    let mut metadata = None;
    for bytes in &shards {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).expect("header");
        metadata = header.metadata().clone();
        let parsed = safetensors::SafeTensors::deserialize(bytes).expect("shard");
        for (name, view) in parsed.tensors() {
            tensors.push((
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            ));
        }
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let count = 8;
    assert!(tensors.len() >= count, "too few tensors for 8 shards");
    let mut weight_map = BTreeMap::new();
    let mut total_size = 0usize;
    let mut rest = tensors.as_slice();
    for i in 0..count {
        // Shards as even as the tensor count allows, in name order.
        let (chunk, after) = rest.split_at(rest.len() / (count - i));
        rest = after;
        let file_name = format!("model-{:05}-of-{count:05}.safetensors", i + 1);
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = chunk
            .iter()
            .map(|(name, dtype, shape, data)| {
                let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                    .expect("tensor");
                (name.clone(), view)
            })
            .collect();
        for (name, _, _, data) in chunk {
            weight_map.insert(name.clone(), file_name.clone());
            total_size += data.len();
        }
        let bytes = safetensors::serialize(views, metadata.clone()).expect("serialize");
        std::fs::write(dir.join(&file_name), bytes).expect("write shard");
    }
    let index = serde_json::json!({
        "metadata": {"total_size": total_size},
        "weight_map": weight_map,
    });
    let text = serde_json::to_string_pretty(&index).expect("index") + "\n";
    std::fs::write(dir.join("model.safetensors.index.json"), text).expect("write index");
}

/// The test Python: `CMI_TEST_PYTHON`, else the project's virtual environment.
fn python() -> PathBuf {
    std::env::var_os("CMI_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// The program `name` beside the test Python, if it runs with `args`.
fn beside_python(name: &str, args: &[&str]) -> Option<PathBuf> {
    let path = python().parent()?.join(name);
    runs(Command::new(&path).args(args)).then_some(path)
}

/// A command without the host's AWS and Hugging Face configuration, with moto's static
/// credentials and region, the Hub at `hub` and `HF_HOME` = `home`.
fn clean_command(program: impl Into<OsString>, hub: &str, home: &Path) -> Command {
    let mut command = Command::new(program.into());
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("AWS_") || name_text.starts_with("HF_") {
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
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HF_ENDPOINT", hub)
        .env("HF_HOME", home)
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("HF_HUB_DISABLE_XET", "1");
    command
}

/// What a child cost.
struct Measured {
    status: ExitStatus,
    seconds: f64,
    /// `ru_maxrss` from `wait4`, in KiB.
    peak_kib: u64,
    /// `write_bytes` of `/proc/PID/io`: bytes it caused to be sent to storage.
    write_bytes: u64,
    stdout: Vec<u8>,
}

/// Runs `command` to its end, its stdout captured (its stderr as the caller set it).
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also returns its own resource usage"
)]
fn measured(mut command: Command) -> Measured {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
    let mut stdout = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout)
            .expect("read the child's stdout");
    }
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // Wait for the exit without reaping, so that /proc/PID/io still holds its counters.
    // SAFETY: an all-zero siginfo_t is a valid value of the plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; the pointer is valid for writes.
    let waited = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(waited, 0, "waitid: {}", std::io::Error::last_os_error());
    let seconds = started.elapsed().as_secs_f64();
    let write_bytes = std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own exited child, not yet reaped; both pointers are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    Measured {
        status: ExitStatus::from_raw(status),
        seconds,
        peak_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        write_bytes,
        stdout,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The Hub emulator serving `repos`, with a proxy of `shape` in front of the Hub and one in
/// front of its CDN (the redirects point at the latter).
struct ShapedHub {
    hub: HubEmulator,
    hub_proxy: Proxy,
    cdn_proxy: Proxy,
}

impl ShapedHub {
    fn start(hub: HubEmulator, shape: Shape) -> ShapedHub {
        let hub_proxy = Proxy::start_shaped(&hub.endpoint(), shape);
        let cdn_proxy = Proxy::start_shaped(&hub.cdn_endpoint(), shape);
        ShapedHub {
            hub,
            hub_proxy,
            cdn_proxy,
        }
    }

    /// Sends the CDN redirects through this proxy; the `HF_ENDPOINT` value.
    fn select(&self) -> String {
        self.hub.cdn_via(&self.cdn_proxy.endpoint());
        self.hub.clear_requests();
        self.hub_proxy.endpoint()
    }
}

/// (Hub, CDN) requests in the emulator's log.
fn requests(hub: &HubEmulator) -> (usize, usize) {
    let log = hub.requests();
    let cdn = log.iter().filter(|r| r.host == HubHost::Cdn).count();
    (log.len() - cdn, cdn)
}

/// One run of a `check` contender: its time in seconds.
fn check_once(tool: &str, binary: &Path, endpoint: &str, home: &Path) -> f64 {
    match tool {
        "check" => {
            let mut command = clean_command(binary, endpoint, home);
            command.args(["check", &format!("hf://{CHECK_REPO}"), "--format", "json"]);
            let run = measured(command);
            assert!(
                run.status.success(),
                "check hf:// failed: {}\n{}",
                run.status,
                String::from_utf8_lossy(&run.stdout)
            );
            run.seconds
        }
        _ => {
            let mut command = clean_command(python(), endpoint, home);
            command.arg("-c").arg(format!(
                "import time\n\
                 from huggingface_hub import get_safetensors_metadata\n\
                 started = time.perf_counter()\n\
                 metadata = get_safetensors_metadata({CHECK_REPO:?})\n\
                 took = time.perf_counter() - started\n\
                 assert len(metadata.files_metadata) == 8, metadata\n\
                 print(took)\n"
            ));
            let run = measured(command);
            assert!(
                run.status.success(),
                "get_safetensors_metadata failed: {}",
                run.status
            );
            String::from_utf8_lossy(&run.stdout)
                .trim()
                .parse()
                .expect("the call's time on stdout")
        }
    }
}

/// Part 1: sequential round trips of `check hf://` and `get_safetensors_metadata`.
fn check_part(binary: &Path, work: &Path, repeats: usize) {
    let dir = work.join("llama-8-shards");
    eight_shards(&dir);
    let local = measured({
        let mut command = Command::new(binary);
        command.arg("check").arg(&dir).args(["--format", "json"]);
        command
    });
    assert!(
        local.status.success(),
        "the 8-shard artifact does not pass check: {}",
        String::from_utf8_lossy(&local.stdout)
    );
    let hub = HubEmulator::start(vec![HubRepo::new(CHECK_REPO, &dir)]).expect("Hub emulator");
    let plain = Shape {
        bytes_per_sec: 0,
        latency: Duration::ZERO,
    };
    let shaped = Shape {
        bytes_per_sec: 0,
        latency: LATENCY,
    };
    // Two pairs of proxies on one emulator: only one pair is used at a time.
    let fast = ShapedHub::start(hub, plain);
    let slow_hub = Proxy::start_shaped(&fast.hub.endpoint(), shaped);
    let slow_cdn = Proxy::start_shaped(&fast.hub.cdn_endpoint(), shaped);
    let mut tools = vec!["check"];
    if runs(Command::new(python()).args(["-c", "import huggingface_hub"])) {
        tools.push("get_safetensors_metadata");
    } else {
        println!(
            "huggingface_hub is not importable by {}: skipped",
            python().display()
        );
    }
    println!();
    println!(
        "## check of {CHECK_REPO} (8 shards + index, config, tokenizer: {} files), {} ms per request, {repeats} runs each",
        std::fs::read_dir(&dir).expect("folder").count(),
        LATENCY.as_millis()
    );
    println!(
        "{:<26} {:>10} {:>10} {:>12} {:>9} {:>9}",
        "tool", "0 ms s", "50 ms s", "round trips", "Hub req", "CDN req"
    );
    for tool in tools {
        let mut times = [Vec::new(), Vec::new()];
        let mut counts = (0, 0);
        for _ in 0..repeats {
            for (slot, (hub_proxy, cdn_proxy)) in
                [(&fast.hub_proxy, &fast.cdn_proxy), (&slow_hub, &slow_cdn)]
                    .into_iter()
                    .enumerate()
            {
                fast.hub.cdn_via(&cdn_proxy.endpoint());
                fast.hub.clear_requests();
                let home = tempfile::tempdir().expect("HF_HOME");
                times[slot].push(check_once(tool, binary, &hub_proxy.endpoint(), home.path()));
                counts = requests(&fast.hub);
            }
        }
        let [zero, fifty] = times;
        let (zero, fifty) = (median(zero), median(fifty));
        println!(
            "{:<26} {:>10.3} {:>10.3} {:>12.1} {:>9} {:>9}",
            tool,
            zero,
            fifty,
            (fifty - zero) / LATENCY.as_secs_f64(),
            counts.0,
            counts.1
        );
    }
    println!("target: check needs at most 4 sequential round trips");
}

/// Checks that `s3://BUCKET/prefix/` holds the files of `dataset`, then deletes it.
async fn verify_and_delete(
    client: &aws_sdk_s3::Client,
    server: &FastS3,
    dataset: &Dataset,
    tool: &str,
    prefix: &str,
) {
    let found = listed(client, BUCKET, &format!("{prefix}/")).await;
    assert_eq!(
        found, dataset.files,
        "{tool}: the bucket does not hold the files of {}",
        dataset.name
    );
    let stored = server.root().join(BUCKET).join(prefix);
    for (name, _) in &dataset.files {
        assert!(
            same_bytes(&dataset.dir.join(name), &stored.join(name)),
            "{tool}: the object {prefix}/{name} does not hold the bytes of the file"
        );
    }
    std::fs::remove_dir_all(&stored).expect("delete prefix");
}

/// One side of the push part: seconds, the peak RSS of its largest child in KiB, bytes
/// written to storage.
struct Side {
    seconds: f64,
    peak_kib: u64,
    write_bytes: u64,
    /// For the peer path: the seconds of `hf download` and of `aws s3 cp`.
    steps: Option<(f64, f64)>,
}

/// Part 2: `push hf://` against `hf download` + `aws s3 cp --recursive`.
fn push_part(binary: &Path, work: &Path, per_folder: u64, shape: Shape) {
    let chosen = |name: &str| match std::env::var("CMI_BENCH_HUB_SETS") {
        Ok(list) => list.split(',').any(|n| n.trim() == name),
        Err(_) => true,
    };
    let hf = beside_python("hf", &["version"])
        .or_else(|| beside_python("huggingface-cli", &["version"]));
    let aws = beside_python("aws", &["--version"]);
    let server = FastS3::start(&work.join("s3")).expect("fast S3 server");
    server.create_bucket(BUCKET).expect("bucket");
    let s3_proxy = Proxy::start_shaped(&server.endpoint(), shape);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let client = runtime.block_on(async {
        let config =
            moto::sdk_config_for(&server.endpoint(), moto::static_credentials(), moto::REGION)
                .await;
        moto::s3_client(&config)
    });
    for (name, count) in [("two", 2), ("sixteen", 16)] {
        if !chosen(name) {
            continue;
        }
        let started = Instant::now();
        let dataset = make_dataset(&work.join("data"), name, count, per_folder / count);
        let repo = format!("bench/{name}");
        let hub = HubEmulator::start(vec![HubRepo::new(&repo, &dataset.dir)]).expect("Hub");
        println!();
        println!(
            "wrote {} and started the emulator (which hashes it) in {:.1} s",
            human(dataset.bytes),
            started.elapsed().as_secs_f64()
        );
        let shaped = ShapedHub::start(hub, shape);
        let mut sides: Vec<(&str, Side)> = Vec::new();

        let endpoint = shaped.select();
        let home = tempfile::tempdir().expect("HF_HOME");
        let prefix = format!("push-{name}");
        let mut command = clean_command(binary, &endpoint, home.path());
        command
            .arg("push")
            .arg(format!("hf://{repo}"))
            .arg(format!("s3://{BUCKET}/{prefix}/"))
            .args([
                "--endpoint-url",
                &s3_proxy.endpoint(),
                "--region",
                moto::REGION,
            ])
            .args(["--no-check", "-q"]);
        let run = measured(command);
        assert!(run.status.success(), "push hf:// failed: {}", run.status);
        let (hub_requests, cdn_requests) = requests(&shaped.hub);
        runtime.block_on(verify_and_delete(
            &client, &server, &dataset, "push", &prefix,
        ));
        println!(
            "push: {hub_requests} Hub and {cdn_requests} CDN requests, {} S3 requests",
            s3_proxy.requests()
        );
        sides.push((
            "push hf:// s3://",
            Side {
                seconds: run.seconds,
                peak_kib: run.peak_kib,
                write_bytes: run.write_bytes,
                steps: None,
            },
        ));

        match (&hf, &aws) {
            (Some(hf), Some(aws)) => {
                let endpoint = shaped.select();
                let home = tempfile::tempdir().expect("HF_HOME");
                let local = work.join("download").join(name);
                let mut command = clean_command(hf, &endpoint, home.path());
                command
                    .arg("download")
                    .arg(&repo)
                    .arg("--local-dir")
                    .arg(&local)
                    .stderr(Stdio::null());
                let download = measured(command);
                assert!(download.status.success(), "hf download failed");
                let prefix = format!("peer-{name}");
                let mut command = clean_command(aws, &endpoint, home.path());
                command
                    .args(["s3", "cp", "--recursive", "--only-show-errors"])
                    .args(["--exclude", ".cache/*"])
                    .args(["--endpoint-url", &s3_proxy.endpoint()])
                    .arg(&local)
                    .arg(format!("s3://{BUCKET}/{prefix}/"));
                let upload = measured(command);
                assert!(upload.status.success(), "aws s3 cp failed");
                runtime.block_on(verify_and_delete(
                    &client, &server, &dataset, "peer", &prefix,
                ));
                std::fs::remove_dir_all(&local).expect("delete the download");
                sides.push((
                    "hf download + aws s3 cp",
                    Side {
                        seconds: download.seconds + upload.seconds,
                        peak_kib: download.peak_kib.max(upload.peak_kib),
                        write_bytes: download.write_bytes + upload.write_bytes,
                        steps: Some((download.seconds, upload.seconds)),
                    },
                ));
            }
            _ => println!(
                "hf download + aws s3 cp: `hf` or `aws` is not beside {}: skipped",
                python().display()
            ),
        }
        print_push(&dataset, shape, &sides);
        drop(shaped);
        std::fs::remove_dir_all(&dataset.dir).expect("delete the dataset");
    }
}

fn print_push(dataset: &Dataset, shape: Shape, sides: &[(&str, Side)]) {
    println!(
        "## {} in {} file(s) of {}, Hub, CDN and S3 each at {} MB/s and {} ms per connection",
        human(dataset.bytes),
        dataset.files.len(),
        human(dataset.bytes / dataset.files.len() as u64),
        shape.bytes_per_sec as f64 / 1e6,
        shape.latency.as_millis()
    );
    println!(
        "{:<24} {:>9} {:>8} {:>13} {:>16}",
        "path", "seconds", "MB/s", "peak RSS MiB", "disk written MiB"
    );
    for (name, side) in sides {
        println!(
            "{:<24} {:>9.2} {:>8.1} {:>13.1} {:>16.1}",
            name,
            side.seconds,
            dataset.bytes as f64 / side.seconds / 1e6,
            side.peak_kib as f64 / 1024.0,
            side.write_bytes as f64 / MIB as f64
        );
        if let Some((download, upload)) = side.steps {
            println!("  (hf download {download:.2} s, aws s3 cp {upload:.2} s)");
        }
    }
    if let [(_, push), (_, peer)] = sides {
        println!(
            "push/peer (peer time / push time; target >= 2): {:.2}",
            peer.seconds / push.seconds
        );
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let per_folder = match std::env::var("CMI_BENCH_HUB_GIB") {
        Ok(gib) => {
            let gib: f64 = gib.parse().expect("CMI_BENCH_HUB_GIB: a number of GiB");
            ((gib * GIB as f64) as u64 / (16 * MIB)).max(1) * 16 * MIB
        }
        Err(_) if full => 4 * GIB,
        Err(_) => 16 * MIB,
    };
    let shape = match std::env::var("CMI_BENCH_HUB_SHAPE") {
        Ok(text) => parse_shape(&text).unwrap_or_else(|| {
            panic!("CMI_BENCH_HUB_SHAPE: {text:?} is not BYTES_PER_SEC,LATENCY_MS")
        }),
        Err(_) => SCALED,
    };
    let part = |name: &str| match std::env::var("CMI_BENCH_HUB_PARTS") {
        Ok(list) => list.split(',').any(|n| n.trim() == name),
        Err(_) => true,
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cmi-preflight"));
    println!("binary: {}", binary.display());
    println!("python: {}", python().display());
    let work = tempfile::Builder::new()
        .prefix("cmi-bench-hub-")
        .tempdir_in("/tmp")
        .expect("temporary folder");
    print_load("start");
    if part("check") {
        check_part(&binary, work.path(), if full { REPEATS } else { 1 });
    }
    if part("push") {
        push_part(&binary, work.path(), per_folder, shape);
    }
    print_load("end");
}
