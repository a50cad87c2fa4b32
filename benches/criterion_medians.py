#!/usr/bin/env python3
"""Print the criterion median (ns per call) of every benchmark of the `codec`
bench, as a Markdown table (or JSON with --json).

    python3 benches/criterion_medians.py [--dir target/criterion] [--json]

Reads `<dir>/<message>/<op>/new/estimates.json`, i.e. the last run.
"""

import argparse
import json
import os

MESSAGES = ["map-4leg", "spat-8phase", "rsm-16ptc", "ssm-200ptc"]
OPS = ["decode", "encode", "jer"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="target/criterion")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {}
    for m in MESSAGES:
        for op in OPS:
            p = os.path.join(args.dir, m, op, "new", "estimates.json")
            if os.path.exists(p):
                e = json.load(open(p))
                out.setdefault(m, {})[op] = {
                    "median_ns": e["median"]["point_estimate"],
                    "median_lo": e["median"]["confidence_interval"]["lower_bound"],
                    "median_hi": e["median"]["confidence_interval"]["upper_bound"],
                }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print("| message | " + " | ".join(OPS) + " |")
    print("| --- |" + " ---: |" * len(OPS))
    for m, ops in out.items():
        cells = []
        for op in OPS:
            v = ops.get(op)
            cells.append("%.0f" % v["median_ns"] if v else "")
        print("| %s | %s |" % (m, " | ".join(cells)))


if __name__ == "__main__":
    main()
