//! `check` over S3: requests and bytes received for a 1 GiB sharded artifact in the moto
//! emulator, counted by the testkit's loopback proxy between the tool and the emulator, beside
//! the peer approach of downloading every object and validating locally.
//!
//! `cargo bench --bench s3_check` runs the 1 GiB measurement. Under `cargo test` the same
//! code runs on a one-layer artifact (about 100 MB) as a smoke test. Needs the project's virtual environment
//! (`./scripts/test` creates it).
//!
//! Targets: bytes received below 0.1% of the artifact; at most one request per file plus the
//! listing.

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use cmi_agent::{CheckOptions, S3Source};
use cmi_testkit::fixtures;
use cmi_testkit::moto::{self, Moto};
use cmi_testkit::proxy::Proxy;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::{json, Value};

/// Llama-shaped dimensions whose layers weigh about 94 MB each in BF16.
const HIDDEN: usize = 2048;
const HEADS: usize = 16;
const KV_HEADS: usize = 8;
const INTERMEDIATE: usize = 5632;
const SHARD_LIMIT: usize = 256 << 20;

/// The files of a valid Llama artifact of `layers` layers: the tokenizer files of the
/// testkit's llama fixture, its config scaled up, and the shards with their index.
fn artifact(layers: usize) -> Vec<(String, Vec<u8>)> {
    let base = fixtures::all()
        .into_iter()
        .find(|f| f.name == "llama")
        .expect("llama fixture");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut vocab = 0;
    for file in base.files {
        let fixtures::Content::Bytes(bytes) = file.content else {
            continue;
        };
        match file.path.as_str() {
            "config.json" => {
                let mut config: Value = serde_json::from_slice(&bytes).expect("config");
                vocab = config["vocab_size"].as_u64().expect("vocab") as usize;
                config["hidden_size"] = json!(HIDDEN);
                config["num_attention_heads"] = json!(HEADS);
                config["num_key_value_heads"] = json!(KV_HEADS);
                config["head_dim"] = json!(HIDDEN / HEADS);
                config["intermediate_size"] = json!(INTERMEDIATE);
                config["num_hidden_layers"] = json!(layers);
                files.push((file.path, serde_json::to_vec_pretty(&config).expect("json")));
            }
            path if path.ends_with(".safetensors") => {}
            _ => files.push((file.path, bytes)),
        }
    }
    let head_dim = HIDDEN / HEADS;
    let mut shapes: Vec<(String, Vec<usize>)> =
        vec![("model.embed_tokens.weight".into(), vec![vocab, HIDDEN])];
    for i in 0..layers {
        let p = format!("model.layers.{i}");
        shapes.extend([
            (
                format!("{p}.self_attn.q_proj.weight"),
                vec![HEADS * head_dim, HIDDEN],
            ),
            (
                format!("{p}.self_attn.k_proj.weight"),
                vec![KV_HEADS * head_dim, HIDDEN],
            ),
            (
                format!("{p}.self_attn.v_proj.weight"),
                vec![KV_HEADS * head_dim, HIDDEN],
            ),
            (
                format!("{p}.self_attn.o_proj.weight"),
                vec![HIDDEN, HEADS * head_dim],
            ),
            (
                format!("{p}.mlp.gate_proj.weight"),
                vec![INTERMEDIATE, HIDDEN],
            ),
            (
                format!("{p}.mlp.up_proj.weight"),
                vec![INTERMEDIATE, HIDDEN],
            ),
            (
                format!("{p}.mlp.down_proj.weight"),
                vec![HIDDEN, INTERMEDIATE],
            ),
            (format!("{p}.input_layernorm.weight"), vec![HIDDEN]),
            (format!("{p}.post_attention_layernorm.weight"), vec![HIDDEN]),
        ]);
    }
    shapes.push(("model.norm.weight".into(), vec![HIDDEN]));
    shapes.push(("lm_head.weight".into(), vec![vocab, HIDDEN]));
    let largest = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>() * 2)
        .max()
        .unwrap_or(0);
    let zeros = vec![0u8; largest];
    let mut shards: Vec<Vec<(String, Vec<usize>)>> = vec![Vec::new()];
    let mut current = 0;
    for (name, shape) in shapes {
        let bytes = shape.iter().product::<usize>() * 2;
        if current + bytes > SHARD_LIMIT && current > 0 {
            shards.push(Vec::new());
            current = 0;
        }
        current += bytes;
        shards.last_mut().expect("a shard").push((name, shape));
    }
    let count = shards.len();
    let mut weight_map = serde_json::Map::new();
    let mut total = 0usize;
    for (index, shard) in shards.iter().enumerate() {
        let name = format!("model-{:05}-of-{count:05}.safetensors", index + 1);
        let views: Vec<(String, TensorView<'_>)> = shard
            .iter()
            .map(|(tensor, shape)| {
                let len = shape.iter().product::<usize>() * 2;
                total += len;
                weight_map.insert(tensor.clone(), json!(name));
                let view =
                    TensorView::new(Dtype::BF16, shape.clone(), &zeros[..len]).expect("view");
                (tensor.clone(), view)
            })
            .collect();
        let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        files.push((
            name,
            safetensors::serialize(views, Some(metadata)).expect("serialize"),
        ));
    }
    let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    files.push((
        "model.safetensors.index.json".into(),
        serde_json::to_vec_pretty(&index).expect("json"),
    ));
    files
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let layers = if full { 12 } else { 1 };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let files = artifact(layers);
        let artifact_bytes: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
        let moto = Moto::start();
        let client = moto.s3_client().await;
        cmi_testkit::s3::create_bucket(&client, "bench", moto::REGION)
            .await
            .expect("bucket");
        for (path, bytes) in &files {
            client
                .put_object()
                .bucket("bench")
                .key(format!("llama/{path}"))
                .body(ByteStream::from(bytes.clone()))
                .send()
                .await
                .expect("upload");
        }
        drop(files);
        let proxy = Proxy::start(&moto.endpoint());
        let config = moto::sdk_config_for(&proxy.endpoint(), moto::static_credentials(), moto::REGION).await;
        let uri: cmi_agent::S3Uri = "s3://bench/llama/".parse().expect("uri");
        let source = S3Source::new(&config, uri, "bench");
        let started = Instant::now();
        let report = cmi_agent::check(&source, CheckOptions::default())
            .await
            .expect("check runs");
        let check_time = started.elapsed();
        let check_stats = proxy.stats();
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        let file_count = report.summary.file_count;

        // The peer: download every object (what `aws s3 cp --recursive` does before a local
        // validation could start).
        proxy.reset_stats();
        let s3 = moto::s3_client(&config);
        let started = Instant::now();
        let listed = s3
            .list_objects_v2()
            .bucket("bench")
            .prefix("llama/")
            .send()
            .await
            .expect("list");
        for object in listed.contents() {
            let body = s3
                .get_object()
                .bucket("bench")
                .key(object.key().expect("key"))
                .send()
                .await
                .expect("get")
                .body
                .collect()
                .await
                .expect("body");
            std::hint::black_box(body);
        }
        let download_time = started.elapsed();
        let download_stats = proxy.stats();

        let fraction = check_stats.client_response_bytes as f64 / artifact_bytes as f64;
        println!("artifact: {artifact_bytes} bytes ({:.2} GiB) in {file_count} files", artifact_bytes as f64 / (1u64 << 30) as f64);
        println!(
            "check over S3: {} requests, {} response-body bytes received ({:.4}% of the artifact), {:.2?}",
            check_stats.requests,
            check_stats.client_response_bytes,
            fraction * 100.0,
            check_time
        );
        println!(
            "peer (download everything): {} requests, {} bytes, {:.2?}",
            download_stats.requests, download_stats.client_response_bytes, download_time
        );
        println!(
            "ratio: check receives {:.6}x the bytes of the download and takes {:.3}x its time",
            check_stats.client_response_bytes as f64 / download_stats.client_response_bytes as f64,
            check_time.as_secs_f64() / download_time.as_secs_f64()
        );
        let requests_ok = check_stats.requests <= file_count + 1;
        let bytes_verdict = match (full, fraction < 0.001) {
            (false, _) => "not judged on this smoke-test size",
            (true, true) => "met",
            (true, false) => "MISSED",
        };
        println!(
            "targets: bytes < 0.1% {bytes_verdict}; requests <= files + 1 listing ({} <= {}) {}",
            check_stats.requests,
            file_count + 1,
            if requests_ok { "met" } else { "MISSED" }
        );
        assert!(requests_ok, "more than one request per file plus the listing");
        if full {
            assert!(fraction < 0.001, "check read {fraction:.4} of the artifact");
        }
    });
}
