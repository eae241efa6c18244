"""Check GPT-OSS fixtures against transformers' own GPT-OSS code.

Usage: PYTHONPATH=<transformers >= 4.55> python scripts/crosscheck_gpt_oss.py DIR...

GPT-OSS came with transformers 4.55, newer than the 4.51.3 of the test environment, so this
script runs with a newer transformers put first on PYTHONPATH (scripts/test installs it into
.venv/transformers-gpt-oss). For each model folder:

- transformers reads config.json and generation_config.json, and builds GptOssForCausalLM from
  the config on the meta device (no weights, no memory);
- when config.json has an mxfp4 `quantization_config`, the experts are swapped for
  `Mxfp4GptOssExperts` exactly as `Mxfp4HfQuantizer` does before it loads a pre-quantized
  checkpoint (`integrations.mxfp4._replace_with_mxfp4_linear`, with the quantizer's
  `modules_to_not_convert`), and the quantizer's `update_expected_keys` must agree on the names;
- the names and shapes of that model's state dict must equal the tensors of the folder's
  safetensors headers, read with the safetensors library; U8 tensors must be U8 in the model
  and every other tensor must be stored in the float dtype the config names (BF16 when it names
  none, as openai/gpt-oss-20b stores its non-quantized weights);
- the sharded index maps every tensor to the shard that holds it;
- the tokenizer loads, keeps the harmony special tokens at their ids, and every id of
  config.json and generation_config.json is a token of it below `vocab_size`.

Prints, as JSON, what the safetensors library sees in each folder; exits non-zero with the
differences on the first folder that does not match.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from packaging.version import Version  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    Mxfp4Config,
)
from transformers.integrations import mxfp4  # noqa: E402
from transformers.quantizers.quantizer_mxfp4 import Mxfp4HfQuantizer  # noqa: E402
from transformers.utils import logging  # noqa: E402

logging.set_verbosity_error()

SAFETENSORS_DTYPES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.uint8: "U8"}

# The harmony special tokens that config.json and generation_config.json refer to.
HARMONY = {"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|call|>": 200012}


def fail(folder, message):
    raise SystemExit(f"{folder}: {message}")


def expected_tensors(folder, config):
    """Names, shapes and torch dtypes of the checkpoint, from transformers' code alone."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    plain_keys = list(model.state_dict().keys())
    quantization = getattr(config, "quantization_config", None)
    if quantization is not None:
        if isinstance(quantization, dict):
            quantization = Mxfp4Config.from_dict(quantization)
        if quantization.quant_method != "mxfp4":
            fail(folder, f"quant_method {quantization.quant_method!r} is not mxfp4")
        # replace_with_mxfp4_linear without the kernel download: lm_head plus the config's list.
        not_converted = list({"lm_head", *(quantization.modules_to_not_convert or [])})
        with torch.device("meta"):
            model, replaced = mxfp4._replace_with_mxfp4_linear(
                model, not_converted, quantization_config=quantization, config=config
            )
        if not replaced:
            fail(folder, "no experts were converted to MXFP4")
        quantizer = Mxfp4HfQuantizer(quantization, pre_quantized=True)
        loaded_keys = set(quantizer.update_expected_keys(model, plain_keys, []))
        if loaded_keys != set(model.state_dict().keys()):
            fail(folder, f"the quantizer expects other keys: {sorted(loaded_keys ^ set(model.state_dict()))[:10]}")
    return {name: (list(t.shape), t.dtype) for name, t in model.state_dict().items()}


def read_headers(folder):
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        with safe_open(os.path.join(folder, name), framework="pt") as handle:
            for key in handle.keys():
                piece = handle.get_slice(key)
                tensors[key] = {"file": name, "dtype": piece.get_dtype(), "shape": list(piece.get_shape())}
    return tensors


def check_tokenizer(folder, config, generation):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for token, expected in HARMONY.items():
        if tokenizer.convert_tokens_to_ids(token) != expected:
            fail(folder, f"{token} is id {tokenizer.convert_tokens_to_ids(token)}, not {expected}")
    eos = generation.eos_token_id if isinstance(generation.eos_token_id, list) else [generation.eos_token_id]
    ids = [config.eos_token_id, config.pad_token_id, generation.bos_token_id, generation.pad_token_id, *eos]
    for token_id in ids:
        if token_id is None or not 0 <= token_id < config.vocab_size:
            fail(folder, f"token id {token_id} is outside vocab_size {config.vocab_size}")
        if tokenizer.convert_ids_to_tokens(token_id) is None:
            fail(folder, f"token id {token_id} is no token of the tokenizer")
    encoded = tokenizer("hello world")["input_ids"]
    if not encoded or max(encoded) >= config.vocab_size:
        fail(folder, f"bad encoding {encoded}")
    tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    return eos


def check(folder):
    config = AutoConfig.from_pretrained(folder)
    if config.model_type != "gpt_oss":
        fail(folder, f"model_type {config.model_type}")
    generation = GenerationConfig.from_pretrained(folder)
    expected = expected_tensors(folder, config)
    found = read_headers(folder)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        fail(folder, f"missing {missing[:10]} ({len(missing)}), unexpected {unexpected[:10]} ({len(unexpected)})")
    declared = getattr(config, "dtype", None) or torch.bfloat16
    float_dtype = SAFETENSORS_DTYPES[getattr(torch, declared) if isinstance(declared, str) else declared]
    for name, (shape, dtype) in expected.items():
        if found[name]["shape"] != shape:
            fail(folder, f"{name} has shape {found[name]['shape']}, transformers builds {shape}")
        want = "U8" if dtype == torch.uint8 else float_dtype
        if found[name]["dtype"] != want:
            fail(folder, f"{name} is {found[name]['dtype']}, expected {want}")
    with open(os.path.join(folder, "model.safetensors.index.json")) as handle:
        weight_map = json.load(handle)["weight_map"]
    if weight_map != {name: t["file"] for name, t in found.items()}:
        fail(folder, "the index does not map every tensor to the shard that holds it")
    eos = check_tokenizer(folder, config, generation)
    return {
        "model_type": config.model_type,
        "architectures": config.architectures,
        "eos_token_id": eos,
        "tensors": found,
    }


def main():
    if Version(transformers.__version__) < Version("4.55"):
        raise SystemExit(f"transformers {transformers.__version__} has no GPT-OSS; put a newer one on PYTHONPATH")
    result = {folder: check(folder) for folder in sys.argv[1:]}
    result["transformers_version"] = transformers.__version__
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
