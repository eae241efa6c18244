"""Load generated fixtures with the real Hugging Face libraries.

Usage: python scripts/crosscheck_fixtures.py DIR...

For each model folder: transformers' AutoConfig and AutoTokenizer load it (at the transformers
version Bedrock supports), the tokenizer encodes and decodes text and renders its chat template,
and every safetensors file opens with the safetensors library, whose tensor names, dtypes and
shapes are printed as JSON for the caller to compare. Exits non-zero on the first failure.
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from safetensors import safe_open  # noqa: E402
from transformers import AutoConfig, AutoTokenizer  # noqa: E402
from transformers.utils import logging  # noqa: E402

logging.set_verbosity_error()


def check(folder):
    config = AutoConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("hello world")["input_ids"]
    if not ids:
        raise SystemExit(f"{folder}: tokenizer produced no ids")
    # Vision-language configs nest the text model's fields (Mllama: text_config).
    vocab_size = config.get_text_config().vocab_size
    if max(ids) >= vocab_size:
        raise SystemExit(f"{folder}: token id {max(ids)} >= vocab_size {vocab_size}")
    tokenizer.decode(ids)
    if tokenizer.chat_template:
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
        )
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".safetensors"):
            continue
        with safe_open(os.path.join(folder, name), framework="numpy") as handle:
            for key in handle.keys():
                piece = handle.get_slice(key)
                tensors[key] = {
                    "file": name,
                    "dtype": piece.get_dtype(),
                    "shape": list(piece.get_shape()),
                }
    return {
        "model_type": config.model_type,
        "architectures": config.architectures,
        "tokenizer_class": type(tokenizer).__name__,
        "tensors": tensors,
    }


def main():
    result = {folder: check(folder) for folder in sys.argv[1:]}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
