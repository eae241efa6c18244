//! Header parse and validation of a 3,000-tensor safetensors file: cmi-format against the
//! `safetensors` crate's own `SafeTensors::read_metadata` on the same bytes.
//!
//! Run: `cargo bench --bench header`. The figure that matters is the ratio of the two.

use std::collections::HashMap;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// A safetensors file with `layers` Llama-style layers of 10 tensors each (3,000 tensors for
/// 300 layers), tiny shapes so that the data section stays small.
fn file_with_tensors(layers: usize) -> Vec<u8> {
    const PARTS: [&str; 10] = [
        "self_attn.q_proj.weight",
        "self_attn.k_proj.weight",
        "self_attn.v_proj.weight",
        "self_attn.o_proj.weight",
        "mlp.gate_proj.weight",
        "mlp.up_proj.weight",
        "mlp.down_proj.weight",
        "input_layernorm.weight",
        "post_attention_layernorm.weight",
        "self_attn.rotary_emb.inv_freq",
    ];
    let data = vec![0u8; 2 * 4 * 8];
    let mut tensors = Vec::new();
    for layer in 0..layers {
        for part in PARTS {
            let name = format!("model.layers.{layer}.{part}");
            let view = TensorView::new(Dtype::BF16, vec![4, 8], &data).expect("valid view");
            tensors.push((name, view));
        }
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(tensors, Some(metadata)).expect("serializable")
}

fn bench(c: &mut Criterion) {
    let file = file_with_tensors(300);
    let size = file.len() as u64;
    let header_len = u64::from_le_bytes(file[..8].try_into().expect("8 bytes"));
    assert_eq!(
        cmi_format::safetensors::parse_header(&file, size)
            .expect("valid")
            .tensors
            .len(),
        3000
    );
    let mut group = c.benchmark_group("header-3000-tensors");
    group.throughput(Throughput::Bytes(header_len));
    group.bench_function("cmi-format parse_header", |b| {
        b.iter(|| cmi_format::safetensors::parse_header(std::hint::black_box(&file), size))
    });
    group.bench_function("safetensors read_metadata", |b| {
        b.iter(|| SafeTensors::read_metadata(std::hint::black_box(&file)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
