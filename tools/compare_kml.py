#!/usr/bin/env python3
"""Compare an imported intersection file with a MAP-like KML lane list
(the TAF-BW `k733_map.kml`: lanes as WGS84 polylines with Source, Sink and
SignalGroup per connection).

    python3 tools/compare_kml.py IMPORTED.toml k733_map.kml [--match-m 2.0]

Each KML travel lane is matched to the imported lane that runs closest
alongside it (mean distance, over the stretch where both run side by side,
within --match-m metres; the two are cut at different places); pairs of
short stubs that are each other's only sink are the KML's crosswalks and are
matched to imported crosswalks by their ends; then the
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


def beyond_ends(p, line):
    """Whether p projects before the start or past the end of the polyline."""
    (ax, ay), (bx, by) = line[0], line[1]
    if (p[0] - ax) * (bx - ax) + (p[1] - ay) * (by - ay) < 0:
        return True
    (ax, ay), (bx, by) = line[-1], line[-2]
    return (p[0] - ax) * (bx - ax) + (p[1] - ay) * (by - ay) < 0


def sample(line, step=1.0):
    out = [line[0]]
    for a, b in zip(line, line[1:]):
        n = max(1, int(math.dist(a, b) / step))
        out += [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(1, n + 1)]
    return out


def length(line):
    return sum(math.dist(a, b) for a, b in zip(line, line[1:]))


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
        # KML crosswalks: two short stubs that are each other's only sink
        stubs = {
            k: kl["sinks"][0]
            for k, kl in kml_lanes.items()
            if len(kl["sinks"]) == 1
            and kml_lanes.get(kl["sinks"][0], {}).get("sinks") == [k]
            and length(kml_xy[k]) < 6.0
            and length(kml_xy[kl["sinks"][0]]) < 6.0
        }
        best_for = {}
        for lid, l in ours.items():
            if l.get("type") == "crosswalk":
                continue
            pts = sample([tuple(p) for p in l["points"]])
            for kid, line in kml_xy.items():
                if len(line) < 2 or kid in stubs:
                    continue
                # where both run side by side: the imported lane and the KML lane are cut at different places
                inner = [poly_dist(p, line) for p in pts if not beyond_ends(p, line)]
                if len(inner) < 4:
                    continue
                d = sum(inner) / len(inner)
                if d <= a.match_m and (kid not in best_for or d < best_for[kid][0]):
                    best_for[kid] = (d, lid)
        match = {kid: v[1] for kid, v in best_for.items()}
        errs = sorted(v[0] for v in best_for.values())
        if errs:
            print(f"  lateral distance of matched lanes: median {errs[len(errs) // 2]:.2f} m, max {errs[-1]:.2f} m")
        conns = {(c["from"], c["to"]) for c in x.get("connection", []) if isinstance(c["to"], int)}
        kml_conns = [(k, s) for k, kl in kml_lanes.items() for s in kl["sinks"] if k not in stubs]
        found = [(k, s) for k, s in kml_conns if (match.get(k), match.get(s)) in conns]
        # signal groups of matched connections that agree (the importer keeps a site's own numbers)
        sg = {(c["from"], c["to"]): c.get("signal_group") for c in x.get("connection", []) if isinstance(c["to"], int)}
        same_sg = sum(
            1
            for k, kl in kml_lanes.items()
            if k not in stubs
            for s, g in zip(kl["sinks"], kl["groups"])
            if sg.get((match.get(k), match.get(s))) == g
        )
        walks = [l for l in x.get("lane", []) if l.get("type") == "crosswalk" and l.get("points")]
        pairs = sorted({tuple(sorted(p)) for p in stubs.items()})
        mid = lambda k: tuple(sum(c) / len(c) for c in zip(kml_xy[k][0], kml_xy[k][-1]))
        walk_found = sum(
            1
            for a_, b_ in pairs
            if any(
                min(math.dist(w["points"][0], mid(a_)), math.dist(w["points"][-1], mid(a_))) <= 2 * a.match_m
                and min(math.dist(w["points"][0], mid(b_)), math.dist(w["points"][-1], mid(b_))) <= 2 * a.match_m
                for w in walks
            )
        )
        groups = sorted({g for kl in kml_lanes.values() for g in kl["groups"]})
        vehicle = sorted(set(kml_lanes) - set(stubs))
        results.append((x["id"], match, kml_conns, found, groups, len(ours), vehicle, pairs, walk_found, same_sg))
    for xid, match, kml_conns, found, groups, n_ours, vehicle, pairs, walk_found, same_sg in results:
        print(
            f"intersection {xid}: imported lanes {n_ours}; KML travel lanes {len(vehicle)}, "
            f"matched {len(match)} within {a.match_m} m"
        )
        print(f"  KML connections {len(kml_conns)}, found among imported connections {len(found)}, same signal group {same_sg}")
        print(f"  KML crosswalks (stub pairs) {len(pairs)}, found among imported crosswalks {walk_found}")
        print(f"  KML signal groups {len(groups)}: {groups}")
        un = sorted(set(vehicle) - set(match))
        print(f"  unmatched KML travel lanes: {un}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
