//! SH001-SH004 on the vision-language families (Mllama, Qwen2-VL, Qwen2.5-VL): each valid
//! fixture of crates/testkit/src/fixtures/vision.rs with one tensor dropped, one mis-shaped,
//! one extra, or every tensor renamed to the transformers 4.52 layout, checked by the binary.

use assert_cmd::Command;
use cmi_testkit::fixtures::safetensors::{Init, Tensor};
use cmi_testkit::fixtures::vision::{valid_artifact, VisionArtifact};
use cmi_testkit::fixtures::{self, Fixture};
use serde_json::Value;

/// The distinct codes of `check`'s errors and warnings on the artifact (info notes, such as
/// CF016 on the Qwen VL families, are not what these tests are about).
fn codes(name: &str, artifact: &VisionArtifact) -> Vec<String> {
    let scratch = tempfile::tempdir().expect("tempdir");
    let fixture = Fixture {
        name: name.to_string(),
        expect: None,
        infos: Vec::new(),
        committed: false,
        files: artifact.files().into_vec(),
    };
    fixtures::write(&fixture, scratch.path()).expect("written");
    let output = Command::cargo_bin("cmi-preflight")
        .expect("binary built")
        .arg("check")
        .arg(scratch.path())
        .args(["--format", "json"])
        .output()
        .expect("runs");
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let mut codes: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect();
    codes.sort();
    codes.dedup();
    codes
}

const FAMILIES: &[(&str, &str, &str)] = &[
    // fixture, a tensor of its vision tower, a tensor of its language model
    (
        "mllama",
        "vision_model.global_transformer.layers.0.gate_attn",
        "language_model.model.layers.1.cross_attn.k_proj.weight",
    ),
    (
        "qwen2-vl",
        "visual.merger.mlp.0.weight",
        "model.layers.1.self_attn.k_proj.bias",
    ),
    (
        "qwen2_5-vl-sharded",
        "visual.blocks.1.mlp.gate_proj.weight",
        "model.embed_tokens.weight",
    ),
];

#[test]
fn a_dropped_tensor_is_missing() {
    for (name, vision, text) in FAMILIES {
        for dropped in [vision, text] {
            let mut artifact = valid_artifact(name);
            artifact.tensors.retain(|t| t.name != *dropped);
            assert_eq!(
                codes(name, &artifact),
                ["SH001"],
                "{name} without {dropped}"
            );
        }
    }
}

#[test]
fn a_wrong_shape_is_a_mismatch() {
    for (name, vision, text) in FAMILIES {
        for changed in [vision, text] {
            let mut artifact = valid_artifact(name);
            let tensor = artifact
                .tensors
                .iter_mut()
                .find(|t| t.name == *changed)
                .expect("tensor");
            let mut shape = tensor.shape.clone();
            shape[0] += 1;
            *tensor = Tensor::bf16(changed, &shape, Init::Matrix);
            assert_eq!(codes(name, &artifact), ["SH003"], "{name}: {changed}");
        }
    }
}

#[test]
fn an_extra_tensor_is_unexpected() {
    for (name, _, _) in FAMILIES {
        let mut artifact = valid_artifact(name);
        let extra = if name.starts_with("mllama") {
            "vision_model.transformer.layers.2.input_layernorm.weight"
        } else {
            "visual.blocks.2.norm1.weight"
        };
        artifact
            .tensors
            .push(Tensor::bf16(extra, &[16], Init::Norm));
        assert_eq!(codes(name, &artifact), ["SH002"], "{name}");
    }
}

#[test]
fn the_newer_layout_is_reported_once() {
    for (name, _, _) in FAMILIES {
        let mut artifact = valid_artifact(name);
        artifact.rename_to_newer_layout();
        assert_eq!(codes(name, &artifact), ["SH004"], "{name}");
        // A real problem beside the renaming is still reported, under the 4.51.3 name.
        artifact.tensors.pop();
        assert_eq!(codes(name, &artifact), ["SH001", "SH004"], "{name}");
    }
}
