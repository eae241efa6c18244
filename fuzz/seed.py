"""Seed corpora for the fuzz targets, from the committed fixtures of testdata/.

Usage: python3 fuzz/seed.py   (writes fuzz/corpus/header/ and fuzz/corpus/artifact/)

header: the first bytes of every safetensors file (its length prefix and header, 64 KiB at most).
artifact: each fixture folder as `[name: u8][length: u32 LE][bytes]` records, with the names of
fuzz_targets/artifact.rs (NAMES, in that order) and safetensors files cut after their header.
"""

import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = [
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "chat_template.jinja", "chat_template.json", "tokenizer.model",
    "spiece.model", "model.safetensors", "model.safetensors.index.json",
    "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    "preprocessor_config.json", "pytorch_model.bin", "original/consolidated.00.pth",
]


def header_bytes(path):
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return head
        n = struct.unpack("<Q", head)[0]
        return head + f.read(min(n, 64 * 1024))


def main():
    out = os.path.join(ROOT, "fuzz", "corpus")
    for target in ("header", "artifact"):
        os.makedirs(os.path.join(out, target), exist_ok=True)
    count = 0
    for group in ("valid", "invalid"):
        base = os.path.join(ROOT, "testdata", group)
        for fixture in sorted(os.listdir(base)):
            folder = os.path.join(base, fixture)
            record = b""
            for index, name in enumerate(NAMES):
                path = os.path.join(folder, name)
                if not os.path.isfile(path):
                    continue
                if name.endswith(".safetensors"):
                    data = header_bytes(path)
                    with open(os.path.join(out, "header", f"{fixture}-{index}"), "wb") as f:
                        f.write(data)
                else:
                    with open(path, "rb") as f:
                        data = f.read()
                record += struct.pack("<BI", index, len(data)) + data
            with open(os.path.join(out, "artifact", fixture), "wb") as f:
                f.write(record)
            count += 1
    print(f"seeded {count} fixtures into {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
