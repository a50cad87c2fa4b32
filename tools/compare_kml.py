#!/usr/bin/env python3
"""Compare an imported intersection file with a MAP-like KML lane list
(the TAF-BW `k733_map.kml`: lanes as WGS84 polylines with Source, Sink and
SignalGroup per connection).

    python3 tools/compare_kml.py IMPORTED.toml k733_map.kml [--match-m 2.0]

Each KML lane is matched to the imported lane whose centre line is closest
(mean distance of the KML points to it, within --match-m metres); then the
KML's connections (source lane -> sink lanes) are looked up among the
imported connections through that matching.  Prints a summary and the
unmatched items; exit 0.  The KML is non-commercial data: read it from the
team's data folder, never commit it.
"""
import argparse
import math
import re
import sys
import tomllib
import xml.etree.ElementTree as ET

NS = {"k": "http://www.opengis.net/kml/2.2"}


def local(lat0, lon0):
    k = math.cos(math.radians(lat0))
    return lambda lat, lon: ((lon - lon0) * 111319.49 * k, (lat - lat0) * 111132.95)


def seg_dist(p, a, b):
    ax, ay = a
    bx, by = b
    px, py = p
    dx, dy = bx - ax, by - ay
    l2 = dx * dx + dy * dy
    t = 0.0 if l2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / l2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def poly_dist(p, line):
    return min(seg_dist(p, line[i], line[i + 1]) for i in range(len(line) - 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("imported")
    ap.add_argument("kml")
    ap.add_argument("--match-m", type=float, default=2.0)
    a = ap.parse_args()
    model = tomllib.load(open(a.imported, "rb"))
    root = ET.parse(a.kml).getroot()
    kml_lanes = {}
    for pm in root.iter("{%s}Placemark" % NS["k"]):
        name = pm.findtext("k:name", default="", namespaces=NS)
        m = re.match(r"Lane (\d+)", name)
        coords = pm.findtext(".//k:coordinates", default="", namespaces=NS).split()
        if not m or not coords:
            continue
        pts = [tuple(float(v) for v in c.split(",")[:2]) for c in coords]  # lon, lat
        data = {d.get("name"): (d.findtext("k:value", default="", namespaces=NS) or "") for d in pm.iter("{%s}Data" % NS["k"])}
        sinks = [int(s) for s in data.get("Sink", "").replace(" ", "").split(",") if s]
        groups = [int(s) for s in data.get("SignalGroup", "").replace(" ", "").split(",") if s]
        kml_lanes[int(m.group(1))] = {"pts": pts, "sinks": sinks, "groups": groups}
    results = []
    for x in model.get("intersection", []):
        ref = x["reference"]
        to_xy = local(ref["lat"], ref["lon"])
        ours = {l["id"]: l for l in x.get("lane", []) if l.get("points")}
        # our lanes are cut near the junction and the KML's run further out, so a
        # KML lane matches the imported lane whose points all lie near it
        # (mean distance of the imported points to the KML polyline)
        kml_xy = {kid: [to_xy(lat, lon) for lon, lat in kl["pts"]] for kid, kl in kml_lanes.items()}
        best_for = {}
        for lid, l in ours.items():
            pts = [tuple(p) for p in l["points"]]
            for kid, line in kml_xy.items():
                if len(line) < 2:
                    continue
                d = sum(poly_dist(p, line) for p in pts) / len(pts)
                if d <= a.match_m and (kid not in best_for or d < best_for[kid][0]):
                    best_for[kid] = (d, lid)
        match = {kid: v[1] for kid, v in best_for.items()}
        errs = sorted(v[0] for v in best_for.values())
        if errs:
            print(f"  lateral distance of matched lanes: median {errs[len(errs) // 2]:.2f} m, max {errs[-1]:.2f} m")
        conns = {(c["from"], c["to"]) for c in x.get("connection", []) if isinstance(c["to"], int)}
        kml_conns = [(k, s) for k, kl in kml_lanes.items() for s in kl["sinks"]]
        found = [(k, s) for k, s in kml_conns if (match.get(k), match.get(s)) in conns]
        groups = sorted({g for kl in kml_lanes.values() for g in kl["groups"]})
        results.append((x["id"], match, kml_conns, found, groups, len(ours)))
    for xid, match, kml_conns, found, groups, n_ours in results:
        print(f"intersection {xid}: imported lanes {n_ours}; KML lanes {len(kml_lanes)}, matched {len(match)} within {a.match_m} m")
        print(f"  KML connections {len(kml_conns)}, found among imported connections {len(found)}")
        print(f"  KML signal groups {len(groups)}: {groups}")
        un = sorted(set(kml_lanes) - set(match))
        print(f"  unmatched KML lanes: {un}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
