#!/usr/bin/env python3
"""Independent conformance oracle for Zhilu's CSAE codec.

Decodes UPER bytes with asn1tools (a decoder built directly from the official
ASN.1 modules in map-encoder/asn1/, sharing no code with Zhilu), turns the
value into X.697 JER following the schema, and compares it member by member
with the JER that Zhilu says it meant to encode.  It also re-encodes the
value with asn1tools and checks that the bytes are identical.

    asn1_conform.py jer  [--schema DIR] TYPE HEX       # print JER of HEX
    asn1_conform.py check [--schema DIR] < cases.jsonl  # batch compare

Each line of cases.jsonl is {"name": ..., "type": ..., "hex": ..., "jer": {...}}.
Output: one line per case, "ok NAME" or "FAIL NAME: path: what"; exit 1 if
any case failed, 2 on usage or schema errors.  Needs `pip install asn1tools`.
"""

import argparse
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCHEMA = os.path.normpath(os.path.join(HERE, "..", "asn1", "csae157"))


def read_text(path):
    raw = open(path, "rb").read()
    for enc in ("utf-8-sig", "gb18030", "latin-1"):
        try:
            return raw.decode(enc) + "\n"
        except UnicodeDecodeError:
            continue
    raise SystemExit(2)


def open_type_table(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"--.*?(--|$)", " ", text, flags=re.M)
    values = {n: int(v) for n, v in re.findall(r"^\s*([a-z][\w-]*)\s+ExtMsgID\s*::=\s*(\d+)", text, re.M)}
    rows = re.findall(r"\{\s*([A-Za-z][\w-]*)\s+IDENTIFIED\s+BY\s+([a-z][\w-]*)\s*\}", text)
    return {values[ref]: tn for tn, ref in rows if ref in values}


class Oracle:
    def __init__(self, schema_dir):
        import asn1tools
        files = sorted(glob.glob(os.path.join(schema_dir, "*.asn")))
        if not files:
            raise SystemExit("no .asn files in %s" % schema_dir)
        text = "\n".join(read_text(f) for f in files)
        self.spec = asn1tools.compile_string(text, "uper")
        parsed = asn1tools.parse_string(text)
        self.types = {}
        for mod in parsed.values():
            for name, t in mod["types"].items():
                self.types.setdefault(name, t)
        self.open_types = open_type_table(text)

    def resolve(self, t):
        while t["type"] in self.types:
            t = self.types[t["type"]]
        return t

    def to_jer(self, t, v, top_name=None):
        if top_name == "MessageFrameExt" or t.get("type") == "MessageFrameExt":
            ident = v["messageId"]
            inner_t = self.open_types.get(ident)
            if inner_t is None:
                return {"messageId": ident, "value": bytes(v["value"]).hex().upper()}
            inner = self.spec.decode(inner_t, bytes(v["value"]), check_constraints=True)
            return {"messageId": ident, "value": self.to_jer({"type": inner_t}, inner)}
        d = self.resolve(t)
        k = d["type"]
        if k == "SEQUENCE":
            out = {}
            for m in d["members"]:
                if m is None:
                    continue
                if m["name"] in v:
                    if m["type"] == "MessageFrameExt":
                        out[m["name"]] = self.to_jer(m, v[m["name"]], "MessageFrameExt")
                    else:
                        out[m["name"]] = self.to_jer(m, v[m["name"]])
            return out
        if k == "CHOICE":
            name, x = v
            for m in d["members"]:
                if m is not None and m["name"] == name:
                    if m["type"] == "MessageFrameExt":
                        return {name: self.to_jer(m, x, "MessageFrameExt")}
                    return {name: self.to_jer(m, x)}
            raise ValueError("unknown alternative %s" % name)
        if k == "SEQUENCE OF":
            return [self.to_jer(d["element"], x) for x in v]
        if k == "BIT STRING":
            data, n = v
            hexs = bytes(data)[: (n + 7) // 8].hex().upper()
            size = d.get("size") or []
            fixed = len(size) == 1 and isinstance(size[0], int)
            return hexs if fixed else {"value": hexs, "length": n}
        if k == "OCTET STRING":
            return bytes(v).hex().upper()
        if k == "NULL":
            return None
        return v


def diff(a, b, path="$"):
    """First difference between expected `a` (Zhilu) and actual `b` (asn1tools)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                return "%s.%s: Zhilu meant %s, asn1tools decoded nothing" % (path, k, json.dumps(a[k])[:80])
            if k not in a:
                return "%s.%s: asn1tools decoded %s, Zhilu meant nothing" % (path, k, json.dumps(b[k])[:80])
            r = diff(a[k], b[k], path + "." + k)
            if r:
                return r
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d elements meant, %d decoded" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            r = diff(x, y, "%s[%d]" % (path, i))
            if r:
                return r
        return None
    if a != b or type(a) is not type(b):
        return "%s: Zhilu meant %s, asn1tools decoded %s" % (path, json.dumps(a)[:80], json.dumps(b)[:80])
    return None


def check_case(oracle, case):
    ty = case["type"]
    data = bytes.fromhex(case["hex"])
    value = oracle.spec.decode(ty, data, check_constraints=True)
    again = oracle.spec.encode(ty, value, check_constraints=True)
    if again != data:
        return "asn1tools re-encodes to different bytes (%s vs %s)" % (again.hex()[:40], data.hex()[:40])
    jer = oracle.to_jer({"type": ty}, value, ty if ty == "MessageFrameExt" else None)
    return diff(case["jer"], jer)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["jer", "check"])
    ap.add_argument("type", nargs="?")
    ap.add_argument("hex", nargs="?")
    ap.add_argument("--schema", default=DEFAULT_SCHEMA)
    args = ap.parse_args()
    try:
        oracle = Oracle(args.schema)
    except ImportError:
        print("asn1tools is missing: pip install asn1tools", file=sys.stderr)
        return 2
    if args.mode == "jer":
        if not args.type or not args.hex:
            ap.error("jer needs TYPE and HEX")
        hx = open(args.hex).read() if os.path.exists(args.hex) else args.hex
        value = oracle.spec.decode(args.type, bytes.fromhex(hx.strip()), check_constraints=True)
        print(json.dumps(oracle.to_jer({"type": args.type}, value), sort_keys=True))
        return 0
    failed = 0
    total = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        case = json.loads(line)
        total += 1
        try:
            problem = check_case(oracle, case)
        except Exception as exc:  # asn1tools raises many error classes
            problem = "asn1tools could not decode: %s: %s" % (type(exc).__name__, exc)
        if problem:
            failed += 1
            print("FAIL %s: %s" % (case.get("name", "?"), problem))
        else:
            print("ok %s" % case.get("name", "?"))
    print("%d cases, %d failed" % (total, failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
