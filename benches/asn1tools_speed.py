#!/usr/bin/env python3
"""Time asn1tools (UPER) on the four messages of Zhilu's codec benchmarks.

    /work/pyenv/bin/python benches/asn1tools_speed.py [--repo DIR] [--batches N] [--json]

Run from the workspace root (or pass --repo).  The schema is every .asn file
in map-encoder/asn1/csae157, compiled with asn1tools.compile_string(..., "uper")
and default settings (no constraint checking).  Inputs, all `MessageFrame`:

  map-4leg     map-encoder/tests/vectors/csae53-msgframe-map-4leg.hex
  spat-8phase  map-encoder/tests/vectors/csae53-msgframe-spat-8phase.hex
  rsm-16ptc    map-encoder/tests/vectors/csae53-msgframe-rsm-16ptc.hex
  ssm-200ptc   benches/fixtures/ssm-200.hex (written by `cargo run -p zhilu-benches --bin gen-fixtures`)

For the SSM, a decode is two calls, as the ASN.1 defines the message:
`MessageFrame` gives msgFrameExt {messageId 12, value: <open type bytes>},
then the open type is decoded as `SensorSharingMsg` (the type the object set
`MessageTypes` assigns to messageId 12).  An encode is the reverse two calls.
Before timing, each message is decoded and re-encoded once and the bytes must
equal the input.

Method: for each (message, operation) the inner loop count k is doubled until
one batch of k calls takes at least 50 ms; then --batches batches are timed
and the median and the minimum ns per call are printed.
"""

import argparse
import glob
import json
import os
import statistics
import sys
import time

import asn1tools

MESSAGES = [
    ("map-4leg", "map-encoder/tests/vectors/csae53-msgframe-map-4leg.hex"),
    ("spat-8phase", "map-encoder/tests/vectors/csae53-msgframe-spat-8phase.hex"),
    ("rsm-16ptc", "map-encoder/tests/vectors/csae53-msgframe-rsm-16ptc.hex"),
    ("ssm-200ptc", "benches/fixtures/ssm-200.hex"),
]

SSM_MESSAGE_ID = 12  # ssmData ExtMsgID ::= 12 (MsgDayII.asn)


def read_text(path):
    raw = open(path, "rb").read()
    for enc in ("utf-8-sig", "gb18030", "latin-1"):
        try:
            return raw.decode(enc) + "\n"
        except UnicodeDecodeError:
            continue
    raise SystemExit("cannot decode %s" % path)


def load_spec(asn_dir):
    files = sorted(glob.glob(os.path.join(asn_dir, "*.asn")))
    if not files:
        raise SystemExit("no .asn files in %s" % asn_dir)
    return asn1tools.compile_string("\n".join(read_text(f) for f in files), "uper")


def codec_for(spec, data):
    """(decode, encode) closures for one MessageFrame, resolving the open type."""
    frame = spec.decode("MessageFrame", data)
    if frame[0] == "msgFrameExt":
        if frame[1]["messageId"] != SSM_MESSAGE_ID:
            raise SystemExit("only the SSM open type is handled, got messageId %d" % frame[1]["messageId"])

        def decode(d):
            f = spec.decode("MessageFrame", d)
            ext = f[1]
            return (f[0], {"messageId": ext["messageId"], "value": spec.decode("SensorSharingMsg", ext["value"])})

        def encode(v):
            ext = v[1]
            body = spec.encode("SensorSharingMsg", ext["value"])
            return spec.encode("MessageFrame", (v[0], {"messageId": ext["messageId"], "value": body}))
    else:
        def decode(d):
            return spec.decode("MessageFrame", d)

        def encode(v):
            return spec.encode("MessageFrame", v)
    return decode, encode


def time_call(fn, arg, batches, min_batch_ns=50_000_000):
    k = 1
    while True:
        t0 = time.perf_counter_ns()
        for _ in range(k):
            fn(arg)
        dt = time.perf_counter_ns() - t0
        if dt >= min_batch_ns:
            break
        k *= 2
    per_call = []
    for _ in range(batches):
        t0 = time.perf_counter_ns()
        for _ in range(k):
            fn(arg)
        per_call.append((time.perf_counter_ns() - t0) / k)
    return statistics.median(per_call), min(per_call), k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=".", help="workspace root (default: current directory)")
    ap.add_argument("--batches", type=int, default=15, help="timed batches per measurement (default 15)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args()

    t0 = time.perf_counter()
    spec = load_spec(os.path.join(args.repo, "map-encoder/asn1/csae157"))
    compile_s = time.perf_counter() - t0

    results = {}
    for name, rel in MESSAGES:
        path = os.path.join(args.repo, rel)
        data = bytes.fromhex(open(path).read().strip())
        decode, encode = codec_for(spec, data)
        value = decode(data)
        again = encode(value)
        if again != data:
            raise SystemExit("%s: asn1tools re-encode differs from the input" % name)
        dec = time_call(decode, data, args.batches)
        enc = time_call(encode, value, args.batches)
        results[name] = {
            "bytes": len(data),
            "decode_ns_median": round(dec[0]),
            "decode_ns_min": round(dec[1]),
            "encode_ns_median": round(enc[0]),
            "encode_ns_min": round(enc[1]),
        }
        if not args.json:
            print("%-12s %5d B  decode %12.0f ns/call (min %12.0f)  encode %12.0f ns/call (min %12.0f)"
                  % (name, len(data), dec[0], dec[1], enc[0], enc[1]), flush=True)

    meta = {
        "asn1tools": asn1tools.__version__,
        "python": sys.version.split()[0],
        "schema": "map-encoder/asn1/csae157",
        "compile_seconds": round(compile_s, 2),
        "batches": args.batches,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print("asn1tools %s, CPython %s, schema compiled in %.1f s" % (meta["asn1tools"], meta["python"], compile_s))


if __name__ == "__main__":
    main()
