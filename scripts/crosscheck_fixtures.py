"""Load model folders with the real Hugging Face libraries, as Bedrock would.

Usage: python scripts/crosscheck_fixtures.py DIR...

For each model folder, at the transformers version Bedrock supports (4.51.3):
- AutoConfig and AutoTokenizer load it; the tokenizer encodes and decodes text and renders its
  chat template; a folder with preprocessor_config.json also loads through AutoProcessor.
- The class named by config.json `architectures[0]` (looked up on the transformers module, as a
  Hub model is loaded) loads the weights with `from_pretrained(output_loading_info=True,
  torch_dtype="auto")`. Any missing, unexpected or mismatched key is a refusal naming the key.
  Mismatched shapes are asked for with `ignore_mismatched_sizes=True`, which reports each
  mismatched key by name (the default raises one error that names only the module's local
  parameter, `weight`); the re-initialised weights are only compared by shape below.
- The loaded model is written back with `save_pretrained` into a temporary folder: the tensors
  transformers writes (its state dict minus tied weights and the keys it never saves) must be
  exactly the folder's tensors, name for name and shape for shape. This also catches keys that
  the model class tells `from_pretrained` to ignore when they are missing or unexpected.
- Every safetensors file opens with the safetensors library.

A folder whose config.json names a model_type that this transformers does not know is skipped
with the reason (its loader is newer than the version Bedrock documents for the other families).

Prints one JSON object on stdout, keyed by folder: model_type, architectures, the tokenizer and
processor classes, `tensors` (the folder's tensors: file, dtype, shape), `model_tensors` (what
transformers writes back: name and shape), `errors` (every refusal, each naming the folder and
the key) or `skipped` (the reason). Exit status: 0 when every folder loads, 3 when at least one
folder was refused (the JSON is complete either way), anything else when the script itself failed.
"""

import json
import os
import sys
import tempfile
import traceback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import transformers  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoConfig, AutoProcessor, AutoTokenizer  # noqa: E402
from transformers.models.auto.configuration_auto import CONFIG_MAPPING  # noqa: E402
from transformers.utils import logging  # noqa: E402

logging.set_verbosity_error()
logging.disable_progress_bar()

REFUSED = 3


def read_tensors(folder):
    """Every tensor in the folder's safetensors files: name -> file, dtype and shape."""
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
    return tensors


def check_tokenizer(folder, config, result, errors):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    result["tokenizer_class"] = type(tokenizer).__name__
    ids = tokenizer("hello world")["input_ids"]
    if not ids:
        errors.append(f"{folder}: the tokenizer produced no ids")
        return
    vocab_size = getattr(config.get_text_config(), "vocab_size", None)
    if vocab_size is not None and max(ids) >= vocab_size:
        errors.append(f"{folder}: token id {max(ids)} >= vocab_size {vocab_size}")
    tokenizer.decode(ids)
    if tokenizer.chat_template:
        tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
        )
    if os.path.exists(os.path.join(folder, "preprocessor_config.json")):
        result["processor_class"] = type(AutoProcessor.from_pretrained(folder)).__name__


def check_model(folder, config, result, errors):
    name = (config.architectures or [None])[0]
    model_class = getattr(transformers, name, None) if name else None
    if model_class is None:
        errors.append(f"{folder}: transformers has no class {name!r} (config.json architectures)")
        return
    model, info = model_class.from_pretrained(
        folder,
        output_loading_info=True,
        torch_dtype="auto",
        ignore_mismatched_sizes=True,
    )
    for key in info["missing_keys"]:
        errors.append(f"{folder}: {name} is missing key {key}")
    for key in info["unexpected_keys"]:
        errors.append(f"{folder}: {name} does not expect key {key}")
    for key in info["mismatched_keys"]:
        errors.append(f"{folder}: {name} key {key} has a shape the model does not expect")
    for message in info["error_msgs"]:
        errors.append(f"{folder}: {name}: {message}")
    with tempfile.TemporaryDirectory(prefix="cmi-crosscheck-") as scratch:
        model.save_pretrained(scratch, safe_serialization=True)
        written = {key: t["shape"] for key, t in read_tensors(scratch).items()}
    result["model_tensors"] = written
    files = {key: t["shape"] for key, t in result["tensors"].items()}
    for key in sorted(written.keys() - files.keys()):
        errors.append(f"{folder}: {name} writes key {key} {written[key]}, the folder lacks it")
    for key in sorted(files.keys() - written.keys()):
        errors.append(f"{folder}: {name} never writes key {key} {files[key]}, the folder has it")
    for key in sorted(files.keys() & written.keys()):
        if files[key] != written[key]:
            errors.append(
                f"{folder}: {name} writes key {key} with shape {written[key]},"
                f" the folder has {files[key]}"
            )


def check(folder):
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            model_type = json.load(handle).get("model_type")
    except (OSError, ValueError, AttributeError) as error:
        return {"errors": [f"{folder}: config.json: {type(error).__name__}: {error}"]}
    if model_type not in CONFIG_MAPPING:
        reason = (
            f"model_type {model_type!r} is not known to transformers {transformers.__version__};"
            " a newer transformers checks this folder"
        )
        print(f"{folder}: skipped: {reason}", file=sys.stderr)
        return {"model_type": model_type, "skipped": reason}
    errors = []
    result = {"model_type": model_type, "tensors": read_tensors(folder), "errors": errors}
    try:
        config = AutoConfig.from_pretrained(folder)
    except Exception as error:  # a refusal by the library is a finding about this folder
        errors.append(f"{folder}: AutoConfig: {type(error).__name__}: {error}")
        return result
    result["architectures"] = config.architectures
    for step in (check_tokenizer, check_model):
        try:
            step(folder, config, result, errors)
        except Exception as error:  # a refusal by the library is a finding about this folder
            errors.append(f"{folder}: {step.__name__}: {type(error).__name__}: {error}")
            traceback.print_exc(file=sys.stderr)
    return result


def main():
    result = {folder: check(folder) for folder in sys.argv[1:]}
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    refused = [e for r in result.values() for e in r.get("errors", [])]
    for error in refused:
        print(error, file=sys.stderr)
    if refused:
        sys.exit(REFUSED)


if __name__ == "__main__":
    main()
