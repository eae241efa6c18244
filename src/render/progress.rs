//! Progress on stderr, shown only on a terminal and without `--quiet`: bars for hashing
//! (total bytes with throughput and ETA, and a bar for each large file in flight), and a
//! spinner for a followed import job.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use cmi_agent::hash::{NoProgress, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Files at least this large get a bar of their own.
const LARGE_FILE: u64 = 64 * 1024 * 1024;

/// Bars drawn with indicatif.
pub struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    files: Mutex<HashMap<String, ProgressBar>>,
}

/// The progress sink for a command: bars on a terminal, nothing otherwise.
pub fn for_terminal(quiet: bool) -> Arc<dyn Progress> {
    if quiet || !std::io::stderr().is_terminal() {
        Arc::new(NoProgress)
    } else {
        Arc::new(Bars::new())
    }
}

impl Bars {
    fn new() -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new(0));
        total.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Bars {
            multi,
            total,
            files: Mutex::new(HashMap::new()),
        }
    }
}

impl Progress for Bars {
    fn plan(&self, files: u64, bytes: u64) {
        self.total.set_length(bytes);
        let noun = if files == 1 { "file" } else { "files" };
        self.total.set_message(format!("hashing {files} {noun}"));
    }

    fn start(&self, path: &str, size: u64) {
        if size < LARGE_FILE {
            return;
        }
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "  {msg:40!} [{bar:30}] {binary_bytes}/{binary_total_bytes}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(path.to_string());
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), bar);
    }

    fn advance(&self, path: &str, bytes: u64) {
        self.total.inc(bytes);
        if let Some(bar) = self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)
        {
            bar.inc(bytes);
        }
    }

    fn finish(&self, path: &str) {
        if let Some(bar) = self
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path)
        {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.total.finish_and_clear();
    }
}

/// A spinner on stderr for a followed job ("InProgress 3m12s"), on a terminal only.
pub fn job_spinner(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}
