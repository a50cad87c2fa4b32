#!/usr/bin/env python3
"""Unwrap the IEEE 1609.2 signed SPDUs that Zhilu's `v2x-security` crate emits,
without verifying them (no dependencies; Python 3.8+).

    python3 tools/spdu.py FILE      # prints {"psid", "generation_time_us",
                                    #   "time64", "signer", "payload_len",
                                    #   "payload_hex"} as JSON; exit 1 if refused

    from spdu import unwrap
    unwrap(spdu_bytes) -> {"psid": int, "generation_time_us": int, "payload": bytes, ...}

Accepted shape (COER, exactly what the crate emits; anything else raises
ValueError with the offset and what was expected):

    Ieee1609Dot2Data        03 81            protocolVersion 3, content signedData
      hashId                00               sha256
      tbsData.payload       40               preamble: data present
        data                03 80 LEN DATA   Ieee1609Dot2Data, unsecuredData
      headerInfo            40               preamble: only generationTime present
        psid                LEN BYTES        unsigned integer
        generationTime      8 bytes          Time64, TAI microseconds since 2004
      signer                80 + 8 bytes     digest (HashedId8)
                         or 81 01 01 CERT    certificate (one, not parsed here)
      signature             80 80 r(32) s(32) ecdsaNistP256Signature, r x-only

generation_time_us is Unix microseconds: 1609.2 time is TAI, so the leap
seconds since 2004 are subtracted (same table as the crate's `time` module).
"""
import json
import sys

# Unix time (s) of 2004-01-01 00:00:00 UTC, the 1609.2 epoch.
EPOCH_UNIX_S = 1_072_915_200
# Unix time (s) of the first second after each leap second since 2004.
LEAP_SECONDS = [1_136_073_600, 1_230_768_000, 1_341_100_800, 1_435_708_800, 1_483_228_800]

SIGNATURE_LEN = 66  # 80 (ecdsaNistP256Signature) 80 (x-only) r(32) s(32)


def time64_to_unix_us(t: int) -> int:
    naive = t + EPOCH_UNIX_S * 1_000_000
    leaps = 0
    for leap in LEAP_SECONDS:
        if naive - (leaps + 1) * 1_000_000 >= leap * 1_000_000:
            leaps += 1
    return naive - leaps * 1_000_000


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(
                f"SPDU truncated at byte {self.pos}: {what} needs {n} bytes, {len(self.data) - self.pos} left"
            )
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self, what: str) -> int:
        return self.take(1, what)[0]

    def expect(self, value: int, what: str) -> None:
        at = self.pos
        got = self.byte(what)
        if got != value:
            raise ValueError(f"byte {at}: {what}: expected 0x{value:02x}, got 0x{got:02x}")

    def length(self, what: str) -> int:
        """COER length determinant (short form < 128, long form 0x8N + N bytes)."""
        at = self.pos
        first = self.byte(what)
        if first < 0x80:
            return first
        n = first & 0x7F
        if n == 0 or n > 4:
            raise ValueError(f"byte {at}: {what}: unsupported length form 0x{first:02x}")
        value = int.from_bytes(self.take(n, what), "big")
        if value < 0x80 or (n > 1 and value < (1 << (8 * (n - 1)))):
            raise ValueError(f"byte {at}: {what}: non-canonical length encoding")
        return value


def unwrap(spdu: bytes) -> dict:
    """Returns {"psid", "generation_time_us", "payload"} (plus "time64" and
    "signer") of a signed SPDU emitted by v2x-security. Verifies nothing."""
    if not isinstance(spdu, (bytes, bytearray, memoryview)):
        raise ValueError("SPDU must be bytes")
    r = _Reader(bytes(spdu))
    r.expect(0x03, "Ieee1609Dot2Data.protocolVersion (3)")
    at = r.pos
    content = r.byte("Ieee1609Dot2Data.content")
    if content != 0x81:
        names = {0x80: "unsecuredData", 0x82: "encryptedData", 0x83: "signedCertificateRequest"}
        raise ValueError(
            f"byte {at}: content is {names.get(content, hex(content))}, expected signedData (0x81)"
        )
    r.expect(0x00, "SignedData.hashId (sha256)")
    r.expect(0x40, "SignedDataPayload preamble (data only)")
    r.expect(0x03, "payload Ieee1609Dot2Data.protocolVersion (3)")
    r.expect(0x80, "payload content (unsecuredData)")
    n = r.length("unsecuredData length")
    payload = r.take(n, "unsecuredData")
    r.expect(0x40, "HeaderInfo preamble (generationTime only)")
    psid_len = r.length("psid length")
    if not 1 <= psid_len <= 8:
        raise ValueError(f"byte {r.pos - 1}: psid length {psid_len} outside 1..8")
    psid = int.from_bytes(r.take(psid_len, "psid"), "big")
    time64 = int.from_bytes(r.take(8, "generationTime"), "big")
    at = r.pos
    signer_tag = r.byte("signer")
    if signer_tag == 0x80:
        signer = {"digest": r.take(8, "signer digest").hex()}
    elif signer_tag == 0x81:
        r.expect(0x01, "certificate count length")
        r.expect(0x01, "certificate count (1)")
        cert_len = len(r.data) - r.pos - SIGNATURE_LEN
        if cert_len <= 0:
            raise ValueError(f"byte {r.pos}: no room for a certificate before the signature")
        signer = {"certificate": r.take(cert_len, "certificate").hex()}
    else:
        raise ValueError(f"byte {at}: signer is 0x{signer_tag:02x}, expected digest (0x80) or certificate (0x81)")
    if len(r.data) - r.pos != SIGNATURE_LEN:
        raise ValueError(
            f"byte {r.pos}: expected a {SIGNATURE_LEN}-byte signature to end the SPDU, "
            f"{len(r.data) - r.pos} bytes left"
        )
    r.expect(0x80, "signature (ecdsaNistP256Signature)")
    r.expect(0x80, "signature rSig (x-only)")
    return {
        "psid": psid,
        "generation_time_us": time64_to_unix_us(time64),
        "time64": time64,
        "payload": payload,
        "signer": signer,
    }


def main(argv) -> int:
    if len(argv) != 2:
        print("usage: spdu.py FILE", file=sys.stderr)
        return 2
    with open(argv[1], "rb") as f:
        data = f.read()
    try:
        out = unwrap(data)
    except ValueError as e:
        print(f"spdu.py: {argv[1]}: {e}", file=sys.stderr)
        return 1
    payload = out.pop("payload")
    out["payload_len"] = len(payload)
    out["payload_hex"] = payload.hex()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
