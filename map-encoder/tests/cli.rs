//! End to end: the real `mapenc` binary on the shipped examples and on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mapenc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapenc")).args(args).output().expect("run mapenc")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("mapenc-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).display().to_string()
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn example(n: &str) -> String {
    root().join("examples").join(n).display().to_string()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn validate_examples_exit_zero() {
    let o = mapenc(&["validate", &example("4leg.toml"), &example("corridor.toml")]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(text(&o.stderr).contains("0 error(s)"));
}

#[test]
fn validate_reports_file_line_element_and_expectation() {
    let t = TempDir::new("validate");
    let bad =
        std::fs::read_to_string(example("4leg.toml")).unwrap().replacen("signal_group = 5\n", "signal_group = 99\n", 1);
    let line = bad.lines().position(|l| l == "signal_group = 99").unwrap() + 1;
    let f = t.path("bad.toml");
    std::fs::write(&f, &bad).unwrap();
    let o = mapenc(&["validate", &f]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    assert!(out.contains(&format!("bad.toml:{line}: error: intersection 1001, connection")), "{out}");
    assert!(out.contains("unknown signal group 99; defined: 1, 2"), "{out}");
    // a syntax error names its line too
    std::fs::write(&f, "format = \"zhilu-intersection/1\"\n[[intersection]]\nid = \"x\"\n").unwrap();
    let o = mapenc(&["validate", &f]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("bad.toml:3: error"), "{}", text(&o.stdout));
    // JSON input is accepted, with lines
    let json = t.path("4leg.json");
    let m: serde_json::Value = serde_json::to_value(
        map_encoder::model::parse(
            "x",
            &std::fs::read_to_string(example("4leg.toml")).unwrap(),
            map_encoder::model::Syntax::Toml,
        )
        .unwrap()
        .0,
    )
    .unwrap();
    std::fs::write(&json, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    let o = mapenc(&["validate", &json]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    // encoding an invalid file is refused
    std::fs::write(&f, &bad).unwrap();
    let o = mapenc(&["encode", &f, "--msg", "map", "-o", &t.path("x.uper")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!Path::new(&t.path("x.uper")).exists());
}

#[test]
fn encode_decode_encode_jer_round_trip() {
    let t = TempDir::new("codec");
    let uper = t.path("map.uper");
    let o = mapenc(&["encode", &example("4leg.toml"), "--msg", "map", "-o", &uper]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let bytes = std::fs::read(&uper).unwrap();
    let o = mapenc(&["decode", &uper, "--type", "MessageFrame"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json = t.path("map.json");
    std::fs::write(&json, &o.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["mapFrame"]["nodes"][0]["id"]["id"], 1001);
    assert_eq!(v["mapFrame"]["nodes"][0]["inLinks"][0]["name"], "north");
    let hex = t.path("map.hex");
    let o = mapenc(&["encode-jer", &json, "--type", "MessageFrame", "--hex", "-o", &hex]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let h = std::fs::read_to_string(&hex).unwrap();
    let want: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(h.trim(), want);
    // decode the hex form too
    let o = mapenc(&["decode", &hex, "--hex", "--compact"]);
    assert!(o.status.success());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(), v);
    // RSI
    let rsi = t.path("rsi.hex");
    let o = mapenc(&["encode", &example("4leg.toml"), "--msg", "rsi", "--at", "2026-12-02T08:00", "--hex", "-o", &rsi]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = mapenc(&["decode", &rsi]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rsiFrame"]["rtss"].as_array().unwrap().len(), 3);
}

#[test]
fn bad_messages_fail_with_position() {
    let t = TempDir::new("bad");
    let uper = t.path("map.uper");
    assert!(mapenc(&["encode", &example("4leg.toml"), "-o", &uper]).status.success());
    let bytes = std::fs::read(&uper).unwrap();
    let cut = t.path("cut.uper");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let o = mapenc(&["decode", &cut]);
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    assert!(e.contains("decoding failed at bit") && e.contains("mapFrame.nodes[0].inLinks["), "{e}");
    // wrong type
    let o = mapenc(&["decode", &uper, "--type", "SPAT"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("decoding failed at bit"), "{}", text(&o.stderr));
    // corrupt: garbage
    let junk = t.path("junk.bin");
    std::fs::write(&junk, [0xffu8; 40]).unwrap();
    let o = mapenc(&["decode", &junk]);
    assert_eq!(o.status.code(), Some(1));
    // oversized input is refused before reading
    let big = t.path("big.bin");
    std::fs::write(&big, vec![0u8; 200_000]).unwrap();
    let o = mapenc(&["decode", &big]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("larger than any CSAE message"), "{}", text(&o.stderr));
    // JSON that does not fit
    let j = t.path("bad.json");
    std::fs::write(
        &j,
        r#"{"mapFrame": {"msgCnt": 1, "nodes": [{"id": {"id": 70000}, "refPos": {"lat": 0, "long": 0}}]}}"#,
    )
    .unwrap();
    let o = mapenc(&["encode-jer", &j, "-o", &t.path("x")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("mapFrame.nodes[0].id.id: 70000 is outside 0..65535"), "{}", text(&o.stderr));
    // unknown type name is a usage error
    assert_eq!(mapenc(&["decode", &uper, "--type", "Nope"]).status.code(), Some(2));
    // missing file
    assert_eq!(mapenc(&["decode", &t.path("missing")]).status.code(), Some(2));
}

#[test]
fn decompile_and_render() {
    let t = TempDir::new("render");
    let uper = t.path("c.uper");
    assert!(mapenc(&["encode", &example("corridor.toml"), "-o", &uper]).status.success());
    let toml = t.path("c.toml");
    let o = mapenc(&["decompile", &uper, "-o", &toml]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(mapenc(&["validate", &toml]).status.success());
    let again = t.path("again.uper");
    assert!(mapenc(&["encode", &toml, "-o", &again]).status.success());
    assert_eq!(std::fs::read(&uper).unwrap(), std::fs::read(&again).unwrap());
    let svg = t.path("c.svg");
    let o = mapenc(&["render", &example("4leg.toml"), "-o", &svg]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = std::fs::read_to_string(&svg).unwrap();
    assert!(s.contains("<svg") && s.contains("lane-1001-1"));
    let png = t.path("c.png");
    let o = mapenc(&["render", &uper, "-o", &png, "--width", "600"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn demo_runs_the_whole_job() {
    let t = TempDir::new("demo");
    let o = mapenc(&["demo", "--out", &t.path("out")]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("bit-identical"), "{out}");
    for f in ["4leg-map.uper", "4leg-map.jer.json", "4leg-rsi.uper", "4leg.svg", "4leg.png", "4leg-decompiled.toml"] {
        assert!(Path::new(&t.path(&format!("out/{f}"))).exists(), "{f}");
    }
}

#[test]
fn help_explains() {
    let o = mapenc(&["--help"]);
    assert!(o.status.success());
    let h = text(&o.stdout);
    for w in ["validate", "encode", "decode", "encode-jer", "render", "decompile", "Exit status"] {
        assert!(h.contains(w), "{w} missing from --help");
    }
}

#[test]
fn import_sumo_network_end_to_end() {
    let t = TempDir::new("import");
    let net = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sumo/bologna_acosta_buslanes.net.xml");
    let out = t.path("bologna.toml");
    let o = mapenc(&["import", "sumo", &net.display().to_string(), "-o", &out]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("16 intersection(s)") && e.contains("largest error"), "{e}");
    let o = mapenc(&["validate", &out]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    let hex = t.path("bologna.hex");
    let o = mapenc(&["encode", &out, "--hex", "-o", &hex]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&hex).unwrap().lines().count(), 2, "split into two MapData");
    // one junction only
    let one = t.path("one.toml");
    let o = mapenc(&["import", "sumo", &net.display().to_string(), "--intersections", "9", "-o", &one]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 intersection(s)"));
    // a network without a projection is refused unless placed with --origin
    let local = t.path("local.net.xml");
    std::fs::write(
        &local,
        std::fs::read_to_string(&net)
            .unwrap()
            .replace("+proj=utm +zone=32 +ellps=WGS84 +datum=WGS84 +units=m +no_defs", "!"),
    )
    .unwrap();
    let o = mapenc(&["import", "sumo", &local, "-o", &t.path("x.toml")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--origin"), "{}", text(&o.stderr));
    let o = mapenc(&["import", "sumo", &local, "--origin", "23.129,113.264", "-o", &t.path("x.toml")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // broken XML says what is wrong
    let broken = t.path("broken.net.xml");
    std::fs::write(&broken, "<net><edge id=\"a\"").unwrap();
    let o = mapenc(&["import", "sumo", &broken, "-o", &t.path("y.toml")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("XML"), "{}", text(&o.stderr));
}
