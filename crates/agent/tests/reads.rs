//! The check reads only what it needs: one read per safetensors file when the probe covers
//! the header, a second one only when it does not, and never the tensor data.

use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use cmi_agent::hash::{FileDigest, HashError, HashOptions, Progress};
use tokio::sync::Semaphore;

use cmi_agent::{check, CheckOptions, Listing, LocalSource, ReadError, Source, SourceError};

/// A source that records every read of the source it wraps.
struct Recording {
    inner: LocalSource,
    reads: Mutex<Vec<(String, Range<u64>)>>,
}

impl Source for Recording {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        self.inner.list().await
    }

    async fn hash_file(
        &self,
        path: &str,
        size: u64,
        options: &HashOptions,
        budget: &Arc<Semaphore>,
        progress: Arc<dyn Progress>,
    ) -> Result<FileDigest, HashError> {
        self.inner
            .hash_file(path, size, options, budget, progress)
            .await
    }

    async fn read_range(&self, path: &str, range: Range<u64>) -> Result<Vec<u8>, ReadError> {
        self.reads
            .lock()
            .expect("not poisoned")
            .push((path.to_string(), range.clone()));
        self.inner.read_range(path, range).await
    }
}

fn fixture(name: &str) -> LocalSource {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/valid")
        .join(name);
    LocalSource::open(dir).expect("fixture exists")
}

fn header_extent(dir: &Path, file: &str) -> u64 {
    let bytes = std::fs::read(dir.join(file)).expect("readable");
    8 + u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

async fn recorded(name: &str, probe: u64) -> (Recording, cmi_format::Report) {
    let source = Recording {
        inner: fixture(name),
        reads: Mutex::new(Vec::new()),
    };
    let options = CheckOptions {
        concurrency: 4,
        header_probe: probe,
        bedrock_region: None,
    };
    let report = check(&source, options).await.expect("listed");
    (source, report)
}

#[tokio::test]
async fn one_read_per_shard_when_the_probe_covers_the_header() {
    let (source, report) = recorded("llama-sharded", cmi_agent::check::DEFAULT_HEADER_PROBE).await;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let root = source.inner.root().to_path_buf();
    let reads = source.reads.into_inner().expect("not poisoned");
    let shards: Vec<_> = reads
        .iter()
        .filter(|(p, _)| p.ends_with(".safetensors"))
        .collect();
    assert!(shards.len() >= 2);
    for (path, range) in &shards {
        let size = std::fs::metadata(root.join(path)).expect("exists").len();
        assert_eq!(range.start, 0);
        assert_eq!(
            range.end,
            size.min(cmi_agent::check::DEFAULT_HEADER_PROBE),
            "{path}"
        );
    }
    let mut distinct: Vec<_> = shards.iter().map(|(p, _)| p).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), shards.len(), "one read per shard");
}

#[tokio::test]
async fn a_short_probe_takes_a_second_read_of_exactly_the_whole_header() {
    let (source, report) = recorded("llama-sharded", 64).await;
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    let root = source.inner.root().to_path_buf();
    let reads = source.reads.into_inner().expect("not poisoned");
    for file in [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        let ranges: Vec<_> = reads
            .iter()
            .filter(|(p, _)| p == file)
            .map(|(_, r)| r.clone())
            .collect();
        let extent = header_extent(&root, file);
        // The second read takes the whole header into one buffer (the probe is dropped first),
        // so a long header is never held twice.
        assert_eq!(ranges, vec![0..64, 0..extent], "{file}");
        let size = std::fs::metadata(root.join(file)).expect("exists").len();
        assert!(extent < size, "the data section is never read");
    }
}
