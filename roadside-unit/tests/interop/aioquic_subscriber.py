#!/usr/bin/env python3
"""An independent subscriber of Zhilu's RSU: aioquic (not quinn) for QUIC and
TLS, asn1tools built from the official CSAE ASN.1 modules (not Zhilu's codec)
for the messages, tools/spdu.py for the IEEE 1609.2 envelope.

It connects with mutual TLS, offers ALPN `zhilu-v2x/1` (or --alpn), sends a
subscribe request for MAP, RSM and SPaT on a bidirectional stream (u32
big-endian length + JSON, docs/protocol.md), reads the response, and then
collects the MAP from a server-initiated unidirectional stream and RSM and
SPaT from QUIC datagrams.  Every message: the 16-byte header is parsed, the
SPDU unwrapped (not verified) and its payload decoded as a UPER MessageFrame.

Prints one JSON object on stdout:

    {"ok": bool, "alpn": str|null, "response": {...}, "map": {...},
     "rsm": {...}, "spat": {...}, "errors": [...], "error": str|null,
     "stage": "connect"|"subscribe"|"collect", "close": {"error_code", "reason"}|absent}

"close" is the CONNECTION_CLOSE that ended the connection, e.g. 0x178 (TLS
alert 120, no_application_protocol) when the RSU does not speak --alpn.

Exit 0 only when a MAP, at least --min-rsm RSMs with participants and at
least --min-spat SPaTs were decoded without any malformed message; 1 when the
connection worked but that was not reached; 2 when the connection or the
subscription failed (wrong ALPN, certificate refused, ...).

Stops early once everything wanted has arrived, otherwise after --seconds.
"""

import argparse
import asyncio
import base64
import glob
import importlib.util
import json
import os
import ssl
import struct
import sys
import time

HEADER = struct.Struct(">BBBBIq")  # version, type, part, parts, seq, data_time (µs since the UNIX epoch)
TYPES = {1: "map", 2: "spat", 3: "rsm", 4: "ssm", 5: "rsi"}
FRAME_OF = {"map": "mapFrame", "spat": "spatFrame", "rsm": "rsmFrame", "rsi": "rsiFrame"}


def read_text(path):
    """The conformance oracle's reader (some official modules are GB 18030, not UTF-8)."""
    here = os.path.dirname(os.path.abspath(__file__))
    conform = os.path.join(here, "..", "..", "..", "map-encoder", "conformance", "asn1_conform.py")
    spec = importlib.util.spec_from_file_location("zhilu_asn1_conform", conform)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_text(path)


def compile_schema(asn1_dir):
    import asn1tools

    files = sorted(glob.glob(os.path.join(asn1_dir, "*.asn")))
    if not files:
        raise SystemExit("no .asn files in %s" % asn1_dir)
    return asn1tools.compile_string("\n".join(read_text(f) for f in files), "uper")


def load_spdu(path):
    spec = importlib.util.spec_from_file_location("zhilu_spdu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def count_lanes(node):
    n = 0
    for link in node.get("inLinks") or []:
        n += len(link.get("lanes") or [])
    for link in node.get("inLinks-ex") or []:
        for section in link.get("sections") or []:
            n += len(section.get("lanes") or [])
    return n


class Collector:
    """What arrived, decoded."""

    def __init__(self, schema, spdu):
        self.schema = schema
        self.spdu = spdu
        self.map = None
        self.rsm = {"count": 0, "with_participants": 0, "participants": 0, "max_participants": 0, "psid": []}
        self.spat = {"count": 0, "intersections": 0, "psid": []}
        self.other = {}
        self.errors = []
        self.datagrams = 0
        self.uni_streams = 0
        self.latency_us = {"rsm": [], "spat": []}

    def message(self, data, via):
        try:
            self._message(bytes(data), via)
        except Exception as e:  # a malformed message is a finding, not a crash
            self.errors.append("%s message of %d bytes: %s: %s" % (via, len(data), type(e).__name__, e))

    def _message(self, data, via):
        if len(data) < HEADER.size:
            raise ValueError("shorter than the 16-byte header")
        version, code, part, parts, seq, data_time = HEADER.unpack_from(data)
        if version != 1:
            raise ValueError("header version %d" % version)
        kind = TYPES.get(code)
        if kind is None:
            raise ValueError("unknown type code %d" % code)
        if part >= parts:
            raise ValueError("part %d of %d" % (part, parts))
        if (via == "datagram") != (kind in ("spat", "rsm", "ssm")):
            raise ValueError("%s arrived as a %s" % (kind, via))
        unwrapped = self.spdu.unwrap(data[HEADER.size:])
        frame, value = self.schema.decode("MessageFrame", unwrapped["payload"], check_constraints=True)
        if FRAME_OF.get(kind) != frame:
            raise ValueError("header says %s, payload is %s" % (kind, frame))
        now_us = int(time.time() * 1e6)
        if kind == "map":
            nodes = value["nodes"]
            self.map = {
                "decoded": True,
                "revision": seq,
                "nodes": len(nodes),
                "links": sum(len(n.get("inLinks") or []) + len(n.get("inLinks-ex") or []) for n in nodes),
                "lanes": sum(count_lanes(n) for n in nodes),
                "node_ids": [[n["id"].get("region"), n["id"]["id"]] for n in nodes],
                "psid": unwrapped["psid"],
                "signer": sorted(unwrapped["signer"]),
                "bytes": len(data),
            }
        elif kind == "rsm":
            n = len(value["participants"])
            r = self.rsm
            r["count"] += 1
            r["participants"] += n
            r["max_participants"] = max(r["max_participants"], n)
            if n:
                r["with_participants"] += 1
                r["last_participant"] = {
                    k: value["participants"][-1].get(k) for k in ("ptcType", "ptcId", "speed", "heading")
                }
            if unwrapped["psid"] not in r["psid"]:
                r["psid"].append(unwrapped["psid"])
            self.latency_us["rsm"].append(now_us - data_time)
        elif kind == "spat":
            s = self.spat
            s["count"] += 1
            s["intersections"] = len(value["intersections"])
            if unwrapped["psid"] not in s["psid"]:
                s["psid"].append(unwrapped["psid"])
            self.latency_us["spat"].append(now_us - data_time)
        else:
            self.other[kind] = self.other.get(kind, 0) + 1

    def complete(self, min_rsm, min_spat):
        return (
            self.map is not None
            and self.rsm["with_participants"] >= min_rsm
            and self.spat["count"] >= min_spat
            and not self.errors
        )


def make_protocol_class(out):
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.quic.events import (
        ConnectionTerminated,
        DatagramFrameReceived,
        HandshakeCompleted,
        StreamDataReceived,
    )

    class Subscriber(QuicConnectionProtocol):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.collector = None
            self.control_stream = None
            self.control_buf = b""
            self.responses = asyncio.Queue()
            self.uni = {}
            self.alpn = None
            self.terminated = None
            self.changed = asyncio.Event()

        def quic_event_received(self, event):
            if isinstance(event, HandshakeCompleted):
                self.alpn = event.alpn_protocol
            elif isinstance(event, ConnectionTerminated):
                self.terminated = "error 0x%x: %s" % (event.error_code, event.reason_phrase)
                # also when the handshake fails (connect() then raises a bare ConnectionError)
                out["close"] = {"error_code": event.error_code, "reason": event.reason_phrase}
                self.responses.put_nowait(None)
            elif isinstance(event, DatagramFrameReceived):
                if self.collector is not None:
                    self.collector.datagrams += 1
                    self.collector.message(event.data, "datagram")
            elif isinstance(event, StreamDataReceived):
                sid = event.stream_id
                if sid == self.control_stream:
                    self.control_buf += event.data
                    while len(self.control_buf) >= 4:
                        (n,) = struct.unpack_from(">I", self.control_buf)
                        if len(self.control_buf) < 4 + n:
                            break
                        body, self.control_buf = self.control_buf[4 : 4 + n], self.control_buf[4 + n :]
                        self.responses.put_nowait(json.loads(body))
                elif sid % 4 == 3:  # server-initiated unidirectional: one message per stream
                    self.uni[sid] = self.uni.get(sid, b"") + event.data
                    if event.end_stream and self.collector is not None:
                        self.collector.uni_streams += 1
                        self.collector.message(self.uni.pop(sid), "stream")
            self.changed.set()

    return Subscriber


async def run(args, out):
    from aioquic.asyncio import connect
    from aioquic.quic.configuration import QuicConfiguration

    schema = compile_schema(args.asn1_dir)
    spdu = load_spdu(args.spdu_module)
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=[args.alpn],
        server_name=args.server_name,
        verify_mode=ssl.CERT_REQUIRED,
        # without it the server may not send datagrams at all (RFC 9221 transport parameter)
        max_datagram_frame_size=65536,
        idle_timeout=30.0,
    )
    config.load_verify_locations(cafile=args.cafile)
    config.load_cert_chain(args.cert, args.key)
    protocol_class = make_protocol_class(out)
    out["stage"] = "connect"
    started = time.monotonic()
    async with connect(args.host, args.port, configuration=config, create_protocol=protocol_class) as conn:
        out["handshake_ms"] = round((time.monotonic() - started) * 1000, 1)
        out["alpn"] = conn.alpn
        collector = Collector(schema, spdu)
        conn.collector = collector
        out["stage"] = "subscribe"
        sid = conn._quic.get_next_available_stream_id(is_unidirectional=False)
        conn.control_stream = sid
        request = {"op": "subscribe", "id": 7, "types": ["map", "rsm", "spat"]}
        body = json.dumps(request).encode()
        conn._quic.send_stream_data(sid, struct.pack(">I", len(body)) + body, end_stream=False)
        conn.transmit()
        response = await asyncio.wait_for(conn.responses.get(), args.seconds)
        if response is None:
            raise ConnectionError("connection closed before the response: %s" % conn.terminated)
        announcement = (response.get("info") or {}).pop("certificate_spdu", None)
        out["response"] = response
        if announcement is not None:
            a = spdu.unwrap(base64.b64decode(announcement))
            out["announcement"] = {"signer": sorted(a["signer"]), "payload_len": len(a["payload"])}
        if not response.get("ok") or response.get("id") != 7:
            raise ConnectionError("subscription refused: %s" % json.dumps(response))
        print("subscribed", file=sys.stderr, flush=True)
        out["stage"] = "collect"
        deadline = time.monotonic() + args.seconds
        while not collector.complete(args.min_rsm, args.min_spat) and conn.terminated is None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            conn.changed.clear()
            try:
                await asyncio.wait_for(conn.changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass
        out["collect_s"] = round(time.monotonic() - started, 2)
        out["terminated"] = conn.terminated
        out["map"] = collector.map or {"decoded": False}
        out["rsm"] = collector.rsm
        out["spat"] = collector.spat
        out["other"] = collector.other
        out["datagrams"] = collector.datagrams
        out["uni_streams"] = collector.uni_streams
        out["errors"] = collector.errors[:20]
        for k, v in collector.latency_us.items():
            v.sort()
            out.setdefault("latency_us", {})[k] = {"min": v[0], "median": v[len(v) // 2]} if v else None
        out["ok"] = collector.complete(args.min_rsm, args.min_spat)
        conn.close(error_code=0, reason_phrase="done")
    return 0 if out["ok"] else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True, help="CA of the RSU's TLS certificate (PEM)")
    ap.add_argument("--cert", required=True, help="client certificate (PEM), from the subscriber CA")
    ap.add_argument("--key", required=True, help="its private key (PEM)")
    ap.add_argument("--server-name", default="localhost")
    ap.add_argument("--alpn", default="zhilu-v2x/1")
    ap.add_argument("--asn1-dir", default="map-encoder/asn1/csae157")
    ap.add_argument("--spdu-module", default="tools/spdu.py")
    ap.add_argument("--seconds", type=float, default=10.0, help="longest time to wait for the messages")
    ap.add_argument("--min-rsm", type=int, default=3, help="RSMs with participants wanted")
    ap.add_argument("--min-spat", type=int, default=3, help="SPaTs wanted")
    args = ap.parse_args()
    out = {"ok": False, "alpn": None, "response": None, "error": None}
    try:
        code = asyncio.run(asyncio.wait_for(run(args, out), args.seconds + 60))
    except Exception as e:  # report any failure as JSON: the caller asserts on it
        out["ok"] = False
        out["error"] = "%s: %s" % (type(e).__name__, e)
        code = 2 if out.get("stage") in ("connect", "subscribe") else 1
    print(json.dumps(out, sort_keys=True, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
