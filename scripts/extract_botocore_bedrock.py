"""Extract the Custom Model Import operations from botocore's Bedrock service model.

Usage: python scripts/extract_botocore_bedrock.py [OUT]

Reads `botocore/data/bedrock/2023-04-20/service-2.json` (gzipped or not) from the botocore
that this Python imports, keeps the service's `metadata`, the six operations the product and
the Bedrock emulator use, and every shape they reference (inputs, outputs and errors,
transitively), verbatim and in botocore's order, and writes them with the botocore version to
OUT (default: testdata/botocore/bedrock-2023-04-20.json). The Bedrock emulator of
crates/testkit validates requests from that file alone.
"""

import gzip
import json
import os
import sys

import botocore

OPERATIONS = [
    "CreateModelImportJob",
    "GetModelImportJob",
    "ListModelImportJobs",
    "ListImportedModels",
    "GetImportedModel",
    "DeleteImportedModel",
]
SOURCE = "botocore/data/bedrock/2023-04-20/service-2.json"


def load_model():
    folder = os.path.join(os.path.dirname(botocore.__file__), "data", "bedrock", "2023-04-20")
    plain = os.path.join(folder, "service-2.json")
    if os.path.exists(plain):
        with open(plain, encoding="utf-8") as f:
            return json.load(f)
    with gzip.open(plain + ".gz", "rt", encoding="utf-8") as f:
        return json.load(f)


def referenced(shapes, roots):
    """Every shape reachable from `roots`, in discovery order."""
    seen = []
    pending = list(roots)
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.append(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                pending.append(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            pending.append(member["shape"])
    return seen


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        "testdata", "botocore", "bedrock-2023-04-20.json"
    )
    model = load_model()
    roots = []
    for name in OPERATIONS:
        operation = model["operations"][name]
        for key in ("input", "output"):
            if key in operation:
                roots.append(operation[key]["shape"])
        roots.extend(error["shape"] for error in operation.get("errors", []))
    keep = set(referenced(model["shapes"], roots))
    extract = {
        "botocore": {
            "version": botocore.__version__,
            "source": SOURCE,
            "extractedBy": "scripts/extract_botocore_bedrock.py",
            "operations": OPERATIONS,
        },
        "version": model.get("version"),
        "metadata": model["metadata"],
        "operations": {name: model["operations"][name] for name in OPERATIONS},
        "shapes": {name: shape for name, shape in model["shapes"].items() if name in keep},
    }
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(extract, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"{out}: botocore {botocore.__version__}, {len(OPERATIONS)} operations, {len(keep)} shapes")


if __name__ == "__main__":
    main()
