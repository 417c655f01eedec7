"""`make lint`'s last check: every function of `sam build`, with its layers, fits Lambda's limit of
250 MB unzipped (a deploy would fail otherwise, long after the code was written)."""

from __future__ import annotations

import sys
from pathlib import Path

from localcloud.template import load_template

LIMIT = 250 * 1024 * 1024


def size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main(build: Path = Path(".aws-sam/build")) -> int:
    resources = load_template(build / "template.yaml")["Resources"]
    layers = {
        k: size(build / k) for k, r in resources.items() if r["Type"] == "AWS::Serverless::LayerVersion"
    }
    worst = 0
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        total = size(build / logical_id) + sum(layers.values())  # every function gets the shared layer
        worst = max(worst, total)
        if total > LIMIT:
            print(
                f"error: {logical_id} with its layers is {total / 2**20:.0f} MB unzipped; Lambda allows 250"
            )
            return 1
    print(f"largest function with its layers: {worst / 2**20:.0f} MB unzipped (Lambda's limit: 250 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
