//! `sign` of a local artifact beside OpenSSF Model Signing's `model_signing sign key` (the
//! `model_signing` package, 1.1.1, pinned in `scripts/requirements-test.txt`), in the same run,
//! on the same files, with the same P-256 key.
//!
//! `cargo bench --bench sign` runs the full measurement (about three minutes on a quiet 2-core
//! machine; 2 GiB of temporary files, removed at the end). Two artifacts of 1 GiB each, written
//! once (safetensors-shaped files of pseudo-random bytes, `benches/support/dataset.rs`, plus a
//! config, a generation config and three tokenizer files):
//!
//! - `2x512MiB`: two shards of 512 MiB, the shape of a small model saved by `save_pretrained`;
//! - `16x64MiB`: sixteen shards of 64 MiB, many files.
//!
//! For each artifact, every file is read once so that both tools find it in the page cache, each
//! tool signs it once as a warm-up, then the two alternate for `runs` rounds:
//!
//! - ours: the release binary, `cmi-preflight sign DIR --key K -o OUT -q`;
//! - theirs: `python -m model_signing sign key --private_key K --signature OUT DIR`, the
//!   package's own command line, interpreter start-up included (as a user runs it);
//! - and, for reading the numbers, `python -m model_signing --help`: the start-up alone.
//!
//! Each child is timed by the wall clock around it; its CPU time (user + system) and peak RSS
//! come from `wait4`. After every signing run, the other tool verifies the signature that was
//! just made (ours with `model_signing verify key`, theirs with `cmi-preflight verify
//! --signature`), untimed, and both statements must carry the same root digest: the bench cannot
//! measure a signer whose output does not verify. It prints, per artifact, the medians and the
//! ratio model_signing / ours of the median wall time, judged against the target of issue 15:
//! `sign` at >= 1.0x `model_signing sign key`. Targets are ratios within one run, printed with a
//! verdict, never asserted on time.
//!
//! Knobs (environment variables):
//!
//! - `CMI_BENCH_SIGN_GIB`: the size of each artifact in GiB (default 1; fractions allowed,
//!   e.g. `0.25`);
//! - `CMI_BENCH_SIGN_RUNS`: measured rounds after the warm-up (default 5, at least 3);
//! - `CMI_BENCH_SIGN_SETS`: which artifacts, by shard count, comma-separated (default `2,16`);
//! - `CMI_BENCH_SIGN_DIR`: where the temporary folder goes (default `/tmp`).
//!
//! Under `cargo test --all-targets` the same code runs once on about 4 MiB per artifact, as a smoke
//! test; without a Python that imports `model_signing` (`CMI_TEST_PYTHON`, else `.venv/bin/python`
//! of this repository, else `python3`) only ours runs then, and in `--bench` mode the peer is
//! named as missing. The key is made by `openssl ecparam`, or by the `cryptography` package
//! (which `model_signing` uses) when openssl is missing.

#[path = "support/dataset.rs"]
mod dataset;
#[path = "support/load.rs"]
mod load;

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use base64::Engine;
use dataset::{make_dataset, Dataset};
use load::print_load;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The small files of a `save_pretrained` + tokenizer folder, beside the shards.
const SMALL_FILES: [(&str, &str); 5] = [
    (
        "config.json",
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16"}"#,
    ),
    (
        "generation_config.json",
        r#"{"bos_token_id": 1, "eos_token_id": 2}"#,
    ),
    (
        "tokenizer_config.json",
        r#"{"tokenizer_class": "LlamaTokenizerFast", "model_max_length": 4096}"#,
    ),
    (
        "special_tokens_map.json",
        r#"{"bos_token": "<s>", "eos_token": "</s>"}"#,
    ),
    (
        "tokenizer.json",
        r#"{"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}"#,
    ),
];

/// Sizes of one run.
struct Plan {
    full: bool,
    runs: usize,
    /// Bytes of shards per artifact.
    bytes: u64,
    /// Shard counts of the artifacts.
    sets: Vec<u64>,
    /// Where the temporary folder goes.
    dir: PathBuf,
}

impl Plan {
    fn new(full: bool) -> Plan {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let gib: f64 = var("CMI_BENCH_SIGN_GIB").map_or(1.0, |v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("CMI_BENCH_SIGN_GIB={v}: not a number"))
        });
        let runs: usize = var("CMI_BENCH_SIGN_RUNS").map_or(5, |v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("CMI_BENCH_SIGN_RUNS={v}: not a count"))
        });
        assert!(runs >= 3, "CMI_BENCH_SIGN_RUNS must be at least 3");
        let sets: Vec<u64> = var("CMI_BENCH_SIGN_SETS").map_or(vec![2, 16], |v| {
            v.split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .unwrap_or_else(|| panic!("CMI_BENCH_SIGN_SETS={v}: not shard counts"))
                })
                .collect()
        });
        let dir = var("CMI_BENCH_SIGN_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        if full {
            let bytes = (gib * GIB as f64) as u64;
            Plan {
                full,
                runs,
                bytes,
                sets,
                dir,
            }
        } else {
            Plan {
                full,
                runs: 1,
                bytes: 4 * MIB,
                sets,
                dir,
            }
        }
    }

    /// The size of each shard of a set of `count`: a whole number of 64 KiB blocks (at least
    /// one), so that every shard of a set has the same size.
    fn shard_size(&self, count: u64) -> u64 {
        const BLOCK: u64 = 64 << 10;
        ((self.bytes / count) / BLOCK).max(1) * BLOCK
    }
}

/// A size in KiB, MiB or GiB, without a space (it names the artifacts).
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= GIB && b.is_multiple_of(GIB) => format!("{}GiB", b / GIB),
        b if b >= MIB && b.is_multiple_of(MIB) => format!("{}MiB", b / MIB),
        b => format!("{}KiB", b / 1024),
    }
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
            .is_some_and(|p| available(p, &["-c", "import model_signing"]))
    })
}

/// What one run of a child cost.
#[derive(Clone, Copy)]
struct Measured {
    /// Wall time around the child, from spawn to exit.
    seconds: f64,
    /// User + system CPU time of the child and its own children, from `wait4`.
    cpu: f64,
    /// `ru_maxrss` from `wait4`, in KiB.
    peak_kib: u64,
}

/// Runs `command` to its end with stdout and stderr in `log` (printed if it fails), and
/// returns what it cost.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also returns its own resource usage"
)]
fn measured(command: &mut Command, log: &Path) -> Measured {
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let started = Instant::now();
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped; both pointers are valid for writes.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let status = ExitStatus::from_raw(status);
    assert!(
        status.success(),
        "{command:?} failed ({status}):\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    let time = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measured {
        seconds,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    }
}

/// Runs `command` to its end (untimed); panics with its output unless it succeeds.
fn succeeds(command: &mut Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A P-256 key pair in `dir`: the private key (SEC1 PEM) and the public key
/// (SubjectPublicKeyInfo PEM).
fn key_pair(dir: &Path, python: Option<&Path>) -> Option<(PathBuf, PathBuf)> {
    let private = dir.join("signer.pem");
    let public = dir.join("signer.pub.pem");
    if available("openssl", &["version"]) {
        succeeds(
            Command::new("openssl")
                .args([
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                ])
                .arg(&private),
            "openssl ecparam",
        );
        succeeds(
            Command::new("openssl")
                .args(["ec", "-pubout", "-in"])
                .arg(&private)
                .arg("-out")
                .arg(&public),
            "openssl ec -pubout",
        );
        return Some((private, public));
    }
    let python = python?;
    let script = r#"
import sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization as s
k = ec.generate_private_key(ec.SECP256R1())
open(sys.argv[1], "wb").write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.TraditionalOpenSSL, s.NoEncryption()))
open(sys.argv[2], "wb").write(k.public_key().public_bytes(s.Encoding.PEM, s.PublicFormat.SubjectPublicKeyInfo))
"#;
    succeeds(
        Command::new(python)
            .args(["-c", script])
            .arg(&private)
            .arg(&public),
        "key generation with cryptography",
    );
    Some((private, public))
}

/// The statement's subject digest (the root digest over every signed file) and its resource
/// count, read from a signature file.
fn signed_digest(signature: &Path) -> (String, usize) {
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(signature).expect("signature written"))
            .expect("bundle JSON");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(
            bundle["dsseEnvelope"]["payload"]
                .as_str()
                .expect("DSSE payload"),
        )
        .expect("base64 payload");
    let statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement JSON");
    let digest = statement["subject"][0]["digest"]["sha256"]
        .as_str()
        .expect("subject digest")
        .to_string();
    let files = statement["predicate"]["resources"]
        .as_array()
        .expect("resources")
        .len();
    (digest, files)
}

/// The tools and files of one run.
struct Setup {
    binary: PathBuf,
    python: Option<PathBuf>,
    private: PathBuf,
    public: PathBuf,
    work: PathBuf,
}

impl Setup {
    /// `cmi-preflight sign DIR --key K -o OUT -q`.
    fn ours(&self, dir: &Path, out: &Path) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("sign")
            .arg(dir)
            .arg("--key")
            .arg(&self.private)
            .arg("-o")
            .arg(out)
            .arg("-q")
            .current_dir(&self.work);
        command
    }

    /// `python -m model_signing sign key --private_key K --signature OUT DIR`.
    fn theirs(&self, python: &Path, dir: &Path, out: &Path) -> Command {
        let mut command = Command::new(python);
        command
            .args(["-m", "model_signing", "sign", "key", "--private_key"])
            .arg(&self.private)
            .arg("--signature")
            .arg(out)
            .arg(dir)
            .current_dir(&self.work);
        command
    }

    /// Our signature verified by `model_signing verify key`, theirs by `cmi-preflight verify
    /// --signature`; the signature at `out` was made by `ours` or not.
    fn cross_verify(&self, dir: &Path, out: &Path, ours: bool) {
        if ours {
            let Some(python) = &self.python else { return };
            succeeds(
                Command::new(python)
                    .args(["-m", "model_signing", "verify", "key", "--signature"])
                    .arg(out)
                    .arg("--public_key")
                    .arg(&self.public)
                    .arg(dir)
                    .current_dir(&self.work),
                "model_signing verify key of cmi-preflight's signature",
            );
        } else {
            succeeds(
                Command::new(&self.binary)
                    .arg("verify")
                    .arg(dir)
                    .arg("--signature")
                    .arg(out)
                    .arg("--public-key")
                    .arg(&self.public)
                    .arg("-q")
                    .current_dir(&self.work),
                "cmi-preflight verify --signature of model_signing's signature",
            );
        }
    }
}

/// The runs of one contender.
struct Contender {
    name: &'static str,
    runs: Vec<Measured>,
}

impl Contender {
    fn new(name: &'static str) -> Contender {
        Contender {
            name,
            runs: Vec::new(),
        }
    }

    fn median(&self, value: impl Fn(&Measured) -> f64) -> f64 {
        let mut values: Vec<f64> = self.runs.iter().map(value).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    fn seconds(&self) -> f64 {
        self.median(|m| m.seconds)
    }
}

/// A verdict, gathered for the summary.
struct Verdict {
    artifact: String,
    ours: f64,
    theirs: Option<f64>,
    line: String,
}

/// Writes the artifact of `count` shards, measures both tools on it, prints its table.
fn measure(plan: &Plan, setup: &Setup, count: u64) -> Verdict {
    let size = plan.shard_size(count);
    let name = format!("{count}x{}", human(size));
    let data = setup.work.join("data");
    let dataset: Dataset = make_dataset(&data, &name, count, size);
    for (file, text) in SMALL_FILES {
        std::fs::write(dataset.dir.join(file), text).expect("small file");
    }
    let mut files: Vec<PathBuf> = dataset
        .files
        .iter()
        .map(|(file, _)| dataset.dir.join(file))
        .collect();
    files.extend(SMALL_FILES.iter().map(|(file, _)| dataset.dir.join(file)));
    for file in &files {
        let mut reader = File::open(file).expect("open");
        std::io::copy(&mut reader, &mut std::io::sink()).expect("read");
    }
    let dir = &dataset.dir;
    let ours_sig = setup.work.join(format!("{}.ours.sig", dataset.name));
    let theirs_sig = setup
        .work
        .join(format!("{}.model_signing.sig", dataset.name));
    let log = setup.work.join("child.log");

    let mut ours = Contender::new("cmi-preflight sign DIR --key K -o OUT -q");
    let mut theirs = Contender::new("model_signing sign key --private_key K --signature OUT DIR");
    let mut startup = Contender::new("model_signing --help (interpreter and imports only)");
    let rounds = plan.runs + usize::from(plan.full);
    for round in 0..rounds {
        let warm_up = plan.full && round == 0;
        let run = measured(&mut setup.ours(dir, &ours_sig), &log);
        setup.cross_verify(dir, &ours_sig, true);
        let (our_digest, our_files) = signed_digest(&ours_sig);
        assert_eq!(
            our_files,
            files.len(),
            "cmi-preflight signed {our_files} files, not {}",
            files.len()
        );
        if !warm_up {
            ours.runs.push(run);
        }
        if let Some(python) = &setup.python {
            let run = measured(&mut setup.theirs(python, dir, &theirs_sig), &log);
            setup.cross_verify(dir, &theirs_sig, false);
            let (their_digest, _) = signed_digest(&theirs_sig);
            assert_eq!(
                their_digest, our_digest,
                "the two statements sign different digests"
            );
            let start = measured(
                Command::new(python)
                    .args(["-m", "model_signing", "--help"])
                    .current_dir(&setup.work),
                &log,
            );
            if !warm_up {
                theirs.runs.push(run);
                startup.runs.push(start);
            }
        }
    }

    let total: u64 = dataset.files.iter().map(|(_, size)| size).sum::<u64>()
        + SMALL_FILES.iter().map(|(_, t)| t.len() as u64).sum::<u64>();
    assert_eq!(dataset.bytes, size * count, "dataset size");
    println!();
    println!(
        "## {name}: {count} shards of {} + {} small files ({:.1} MiB in all), page cache warm, {} warm-up + {} measured run(s) each, alternating",
        human(size),
        SMALL_FILES.len(),
        total as f64 / MIB as f64,
        usize::from(plan.full),
        plan.runs
    );
    println!(
        "{:<64} {:>10} {:>8} {:>12} {:>14} {:>11}",
        "contender", "median s", "MB/s", "median CPU s", "median RSS MiB", "theirs/ours"
    );
    let mut rows = vec![&ours];
    if setup.python.is_some() {
        rows.push(&theirs);
        rows.push(&startup);
    }
    for contender in rows {
        let ratio = if contender.name == ours.name && !theirs.runs.is_empty() {
            format!("{:.2}x", theirs.seconds() / ours.seconds())
        } else {
            "-".to_string()
        };
        println!(
            "{:<64} {:>10.3} {:>8.0} {:>12.3} {:>14.1} {:>11}",
            contender.name,
            contender.seconds(),
            total as f64 / contender.seconds() / 1e6,
            contender.median(|m| m.cpu),
            contender.median(|m| m.peak_kib as f64) / 1024.0,
            ratio
        );
    }
    if !theirs.runs.is_empty() {
        let hashing = theirs.seconds() - startup.seconds();
        println!(
            "model_signing without its start-up (median sign - median --help): {hashing:.3} s, {:.2}x ours",
            hashing / ours.seconds()
        );
    }
    println!(
        "every signature verified by the other tool; both signed root digest {}",
        signed_digest(&ours_sig).0
    );
    std::fs::remove_dir_all(dir).ok();

    let verdict = |ratio: f64| match (plan.full, ratio >= 1.0) {
        (false, _) => "not judged (smoke-test size)",
        (true, true) => "met",
        (true, false) => "MISSED",
    };
    let line = if theirs.runs.is_empty() {
        "not judged: model_signing missing".to_string()
    } else {
        let ratio = theirs.seconds() / ours.seconds();
        format!("{ratio:.2}x -> {}", verdict(ratio))
    };
    Verdict {
        artifact: name,
        ours: ours.seconds(),
        theirs: (!theirs.runs.is_empty()).then(|| theirs.seconds()),
        line,
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
    let parallelism = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("machine: {model}; available_parallelism {parallelism}");
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = Plan::new(full);
    let python = find_python();
    if python.is_none() {
        if full {
            println!(
                "PEER MISSING: no Python with model_signing; its rows and ratios are left out"
            );
        } else {
            println!("smoke test: no Python with model_signing, skipped");
        }
    }
    describe_machine();
    print_load("start");
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_cmi-preflight"));
    println!("binary: {}", binary.display());
    if let Some(python) = &python {
        println!("python with model_signing: {}", python.display());
    }
    let work = tempfile::Builder::new()
        .prefix("cmi-bench-sign-")
        .tempdir_in(&plan.dir)
        .expect("temporary folder");
    let Some((private, public)) = key_pair(work.path(), python.as_deref()) else {
        println!("smoke test: neither openssl nor a Python to make a key with, skipped");
        return;
    };
    let setup = Setup {
        binary,
        python,
        private,
        public,
        work: work.path().to_path_buf(),
    };
    let verdicts: Vec<Verdict> = plan
        .sets
        .iter()
        .map(|count| measure(&plan, &setup, *count))
        .collect();
    println!();
    println!("## summary: target `sign` >= 1.0x `model_signing sign key` (median wall time, model_signing's over ours)");
    println!(
        "{:<14} {:>8} {:>15}  verdict",
        "artifact", "ours s", "model_signing s"
    );
    for verdict in &verdicts {
        let theirs = verdict
            .theirs
            .map_or_else(|| "-".to_string(), |s| format!("{s:.3}"));
        println!(
            "{:<14} {:>8.3} {:>15}  {}",
            verdict.artifact, verdict.ours, theirs, verdict.line
        );
    }
    print_load("end");
}
