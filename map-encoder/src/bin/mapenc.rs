//! `mapenc`: the digital-map-code command.  Thin shell over the
//! `map_encoder` library: reads files, calls the pure cores, writes files,
//! turns errors into messages and exit codes (0 ok, 1 invalid input, 2 usage
//! or I/O).

use clap::{Parser, Subcommand, ValueEnum};
use map_encoder::compile::{compile_map, compile_maps, compile_rsi, MapOptions, RsiOptions};
use map_encoder::csae::{self, Message, MessageFrame, TopType};
use map_encoder::decompile::decompile_map;
use map_encoder::model::{self, MapFile, Syntax};
use map_encoder::validate::{self, Severity};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const EXAMPLE_4LEG: &str = include_str!("../../../examples/4leg.toml");

#[derive(Parser)]
#[command(
    name = "mapenc",
    version,
    about = "Zhilu digital map codes: compile intersection files into CSAE MAP/RSI (UPER), decode and check V2X messages, render maps.",
    long_about = "Zhilu digital map codes.\n\n\
An intersection file (TOML or JSON, see docs/intersection-file.md) describes lanes, connections, signal groups and rules. \
mapenc validates it, compiles it into T/CSAE 53-2020 MessageFrames (MAP for geometry and connectivity, RSI for rules the MAP cannot carry), \
decodes any CSAE 53/157 message to JER JSON (X.697) and back, and renders a map to SVG/PNG so an engineer can check it by eye.\n\n\
Exit status: 0 success, 1 invalid input (validation errors, undecodable message), 2 usage or I/O error.",
    after_help = "Examples:\n  mapenc validate examples/4leg.toml examples/corridor.toml\n  mapenc encode examples/4leg.toml --msg map -o map.uper\n  mapenc decode map.uper --type MessageFrame\n  mapenc encode-jer map.jer.json --type MessageFrame --hex -o map.hex\n  mapenc render examples/4leg.toml -o 4leg.svg\n  mapenc decompile map.uper -o roundtrip.toml\n  mapenc demo --out out/"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Msg {
    /// MapData: lanes, connections, signal groups, speed limits.
    Map,
    /// RoadSideInformation: time-of-day bans and limits, class limits, work zones.
    Rsi,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check intersection files; exit 0 when valid, 1 with the errors listed otherwise.
    Validate {
        /// Intersection files (.toml or .json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also fail (exit 1) on warnings.
        #[arg(long)]
        strict: bool,
    },
    /// Compile an intersection file into a UPER-encoded CSAE MessageFrame.
    Encode {
        /// Intersection file.
        file: PathBuf,
        /// Which message to produce.
        #[arg(long, value_enum, default_value = "map")]
        msg: Msg,
        /// Write hex text (one message per line) instead of binary.
        #[arg(long)]
        hex: bool,
        /// Output file (binary RSI for several intersections: one file each, `OUT-<id>`).
        #[arg(short, long)]
        out: PathBuf,
        /// msgCnt of the message (0..127).
        #[arg(long, default_value_t = 0)]
        msg_cnt: u8,
        /// Local time the RSI is for, `YYYY-MM-DDTHH:MM` (daily windows are sent as
        /// their current or next occurrence); default: now (UTC).
        #[arg(long)]
        at: Option<String>,
    },
    /// Decode a UPER message and print it as JER JSON (X.697) on stdout.
    Decode {
        /// Input file with the bytes (binary, or hex text with --hex; hex is also detected).
        input: PathBuf,
        /// The input is hex text.
        #[arg(long)]
        hex: bool,
        /// Top-level type: MessageFrame, MapData, SPAT, RSM, RSI, BSM, SSM, RSC.
        #[arg(long = "type", default_value = "MessageFrame")]
        ty: String,
        /// Print on one line.
        #[arg(long)]
        compact: bool,
    },
    /// Encode JER JSON (as `decode` prints it) into UPER.
    EncodeJer {
        /// JSON file.
        input: PathBuf,
        /// Top-level type: MessageFrame, MapData, SPAT, RSM, RSI, BSM, SSM, RSC.
        #[arg(long = "type", default_value = "MessageFrame")]
        ty: String,
        /// Write hex text instead of binary.
        #[arg(long)]
        hex: bool,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Decode a MAP (MessageFrame or MapData, binary or hex) into an intersection file.
    Decompile {
        /// Input MAP.
        input: PathBuf,
        /// Output intersection file (.toml or .json).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Draw an intersection file or a MAP to scale as SVG (or PNG when OUT ends in .png).
    Render {
        /// Intersection file (.toml/.json) or a MAP (.uper/.bin/.hex).
        input: PathBuf,
        /// Output .svg or .png.
        #[arg(short, long)]
        out: PathBuf,
        /// Picture width in pixels.
        #[arg(long, default_value_t = 1200)]
        width: u32,
    },
    /// Import a real HD map (Lanelet2 OSM, OpenDRIVE, SUMO network) into an intersection file.
    Import {
        /// Map format: `lanelet2` (.osm), `opendrive` (.xodr), `sumo` (.net.xml, .net.xml.gz) or `kml` (lane list).
        format: ImportFormat,
        /// The map file.
        input: PathBuf,
        /// `LAT,LON` to place a map that has no real geo-reference.
        #[arg(long, value_parser = parse_origin)]
        origin: Option<[f64; 2]>,
        /// `all` (every signalised junction, the default) or junction ids of the map, comma-separated.
        #[arg(long, default_value = "all")]
        intersections: String,
        /// Lateral tolerance of the geometry simplification, metres.
        #[arg(long, default_value_t = 0.1)]
        tolerance: f64,
        /// Length of lane kept next to each intersection, metres.
        #[arg(long, default_value_t = 250.0)]
        lane_length: f64,
        /// Output intersection file (.toml or .json).
        #[arg(short, long)]
        out: PathBuf,
    },
    /// The whole job on the built-in 4-leg example: validate, compile MAP and RSI,
    /// decode them back, compare, and render the picture into OUT.
    Demo {
        /// Output folder.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportFormat {
    /// MAP-like KML lane list (lanes with Source, Sink, SignalGroup), as the TAF-BW test field publishes.
    Kml,
    /// Lanelet2 OSM (plain or Autoware).
    Lanelet2,
    /// ASAM OpenDRIVE 1.4 to 1.8 (.xodr).
    Opendrive,
    /// SUMO network (.net.xml, .net.xml.gz).
    Sumo,
}

fn parse_origin(s: &str) -> Result<[f64; 2], String> {
    let (a, b) = s.split_once(',').ok_or("expected LAT,LON")?;
    let lat: f64 = a.trim().parse().map_err(|_| format!("`{a}` is not a latitude"))?;
    let lon: f64 = b.trim().parse().map_err(|_| format!("`{b}` is not a longitude"))?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(format!("{lat},{lon} is not a WGS84 position"));
    }
    Ok([lat, lon])
}

/// A failure with its exit code.
struct Fail(u8, String);

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail(2, e.to_string())
    }
}

fn read_text(p: &Path) -> Result<String, Fail> {
    let meta = std::fs::metadata(p).map_err(|e| Fail(2, format!("{}: {e}", p.display())))?;
    if meta.len() as usize > model::MAX_FILE_BYTES {
        return Err(Fail(
            1,
            format!("{}: {} bytes is larger than the {}-byte limit", p.display(), meta.len(), model::MAX_FILE_BYTES),
        ));
    }
    std::fs::read_to_string(p).map_err(|e| Fail(2, format!("{}: {e}", p.display())))
}

fn read_bytes(p: &Path, hex: bool) -> Result<Vec<u8>, Fail> {
    let meta = std::fs::metadata(p).map_err(|e| Fail(2, format!("{}: {e}", p.display())))?;
    let limit = csae::MAX_MESSAGE_BYTES * 2 + 64;
    if meta.len() as usize > limit {
        return Err(Fail(1, format!("{}: {} bytes is larger than any CSAE message can be", p.display(), meta.len())));
    }
    let raw = std::fs::read(p).map_err(|e| Fail(2, format!("{}: {e}", p.display())))?;
    let text = std::str::from_utf8(&raw).ok().map(|s| s.split_whitespace().collect::<String>());
    let looks_hex =
        text.as_ref().is_some_and(|t| !t.is_empty() && t.len() % 2 == 0 && t.bytes().all(|b| b.is_ascii_hexdigit()));
    if hex || looks_hex {
        let t = text.ok_or_else(|| Fail(1, format!("{}: not hex text", p.display())))?;
        let t = t.trim_start_matches("0x");
        return decode_hex(t).map_err(|e| Fail(1, format!("{}: {e}", p.display())));
    }
    Ok(raw)
}

fn decode_hex(t: &str) -> Result<Vec<u8>, String> {
    if !t.len().is_multiple_of(2) {
        return Err("hex text has an odd number of digits".into());
    }
    (0..t.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&t[i..i + 2], 16).map_err(|_| format!("`{}` at character {i} is not hex", &t[i..i + 2]))
        })
        .collect()
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_out(p: &Path, bytes: &[u8]) -> Result<(), Fail> {
    if let Some(dir) = p.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| Fail(2, format!("{}: {e}", dir.display())))?;
        }
    }
    std::fs::write(p, bytes).map_err(|e| Fail(2, format!("{}: {e}", p.display())))
}

/// Parse and validate; print diagnostics to stderr; fail on errors.
fn load_valid(p: &Path) -> Result<MapFile, Fail> {
    let name = p.display().to_string();
    let text = read_text(p)?;
    let (m, map) = model::parse(&name, &text, Syntax::from_path(&name)).map_err(|e| Fail(1, e.to_string()))?;
    let diags = validate::validate(&name, &m, &map);
    for d in &diags {
        eprintln!("{d}");
    }
    if validate::has_errors(&diags) {
        let n = diags.iter().filter(|d| d.severity == Severity::Error).count();
        return Err(Fail(1, format!("{name}: {n} error(s); nothing was encoded")));
    }
    Ok(m)
}

fn top_type(s: &str) -> Result<TopType, Fail> {
    TopType::parse(s).ok_or_else(|| {
        Fail(2, format!("unknown type `{s}`: use MessageFrame, MapData, SPAT, RSM, RSI, BSM, SSM or RSC"))
    })
}

fn now_local() -> (i32, u32) {
    // UTC "now" as (year, minute of year), from the system clock
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut days = (secs / 86400) as i64;
    let mins = ((secs % 86400) / 60) as u32;
    let mut year = 1970;
    loop {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let n = if leap { 366 } else { 365 };
        if days < n {
            break;
        }
        days -= n;
        year += 1;
    }
    (year, days as u32 * 1440 + mins)
}

fn decode_map_input(p: &Path) -> Result<csae::MapData, Fail> {
    let bytes = read_bytes(p, false)?;
    let name = p.display();
    match Message::decode(TopType::MessageFrame, &bytes) {
        Ok(Message::MessageFrame(MessageFrame::MapFrame(m))) => Ok(m),
        Ok(_) => Err(Fail(1, format!("{name}: a MessageFrame, but not a MAP"))),
        Err(frame_err) => match Message::decode(TopType::MapData, &bytes) {
            Ok(Message::MapData(m)) => Ok(m),
            _ => Err(Fail(1, format!("{name}: not a MAP: {frame_err}"))),
        },
    }
}

fn run(cli: Cli) -> Result<(), Fail> {
    match cli.cmd {
        Cmd::Validate { files, strict } => {
            let mut errors = 0;
            let mut warnings = 0;
            for f in &files {
                let name = f.display().to_string();
                let text = match read_text(f) {
                    Ok(t) => t,
                    Err(Fail(_, msg)) => {
                        eprintln!("{msg}");
                        errors += 1;
                        continue;
                    }
                };
                match model::parse(&name, &text, Syntax::from_path(&name)) {
                    Err(e) => {
                        println!("{}:{}: error: {}", e.file, e.line, e.message);
                        errors += 1;
                    }
                    Ok((m, map)) => {
                        for d in validate::validate(&name, &m, &map) {
                            println!("{d}");
                            match d.severity {
                                Severity::Error => errors += 1,
                                Severity::Warning => warnings += 1,
                            }
                        }
                    }
                }
            }
            eprintln!("{} file(s): {errors} error(s), {warnings} warning(s)", files.len());
            if errors > 0 || (strict && warnings > 0) {
                return Err(Fail(1, String::new()));
            }
            Ok(())
        }
        Cmd::Encode { file, msg, hex, out, msg_cnt, at } => {
            let m = load_valid(&file)?;
            let frames: Vec<(u16, MessageFrame)> = match msg {
                Msg::Map => {
                    let opts = MapOptions { msg_cnt, minute_of_year: None };
                    let maps = compile_maps(&m, &opts).map_err(|e| Fail(1, e.to_string()))?;
                    if maps.len() == 1 {
                        let (_, notes) = compile_map(&m, &opts).map_err(|e| Fail(1, e.to_string()))?;
                        for n in notes.lines {
                            eprintln!("note: {n}");
                        }
                    } else {
                        let nodes: usize = maps.iter().map(|x| x.nodes.len()).sum();
                        eprintln!(
                            "note: {nodes} nodes do not fit one MapData (32): split into {} messages",
                            maps.len()
                        );
                    }
                    maps.into_iter().enumerate().map(|(i, x)| (i as u16 + 1, MessageFrame::MapFrame(x))).collect()
                }
                Msg::Rsi => {
                    let now = match at {
                        Some(s) => model::parse_datetime(&s).map_err(|e| Fail(2, format!("--at: {e}")))?,
                        None => now_local(),
                    };
                    let rsis = compile_rsi(&m, &RsiOptions { msg_cnt, now, rsu_id: None, codes: Default::default() })
                        .map_err(|e| Fail(1, e.to_string()))?;
                    if rsis.is_empty() {
                        return Err(Fail(
                            1,
                            format!(
                                "{}: no rule needs RSI (no bans, timed or class limits, or work zones)",
                                file.display()
                            ),
                        ));
                    }
                    rsis.into_iter()
                        .map(|r| (u16::from_be_bytes([r.id[6], r.id[7]]), MessageFrame::RsiFrame(r)))
                        .collect()
                }
            };
            let mut encoded = Vec::new();
            for (_, f) in &frames {
                encoded.push(csae::encode_frame(f).map_err(|e| Fail(1, e.to_string()))?);
            }
            if hex {
                let text: String = encoded.iter().map(|b| to_hex(b) + "\n").collect();
                write_out(&out, text.as_bytes())?;
            } else if encoded.len() == 1 {
                write_out(&out, &encoded[0])?;
            } else {
                for (i, b) in encoded.iter().enumerate() {
                    let id = match msg {
                        Msg::Rsi => m.intersections.get(i).map(|x| x.id).unwrap_or(i as u16),
                        Msg::Map => i as u16 + 1,
                    };
                    let p = PathBuf::from(format!("{}-{id}", out.display()));
                    write_out(&p, b)?;
                    eprintln!("wrote {}", p.display());
                }
                return Ok(());
            }
            let total: usize = encoded.iter().map(Vec::len).sum();
            eprintln!("wrote {} ({} message(s), {total} bytes)", out.display(), encoded.len());
            Ok(())
        }
        Cmd::Decode { input, hex, ty, compact } => {
            let t = top_type(&ty)?;
            let bytes = read_bytes(&input, hex)?;
            let m = Message::decode(t, &bytes).map_err(|e| Fail(1, format!("{}: {e}", input.display())))?;
            let jer = m.to_jer();
            if compact {
                println!("{jer}");
            } else {
                let v: serde_json::Value = serde_json::from_str(&jer).map_err(|e| Fail(2, e.to_string()))?;
                println!("{}", serde_json::to_string_pretty(&v).map_err(|e| Fail(2, e.to_string()))?);
            }
            Ok(())
        }
        Cmd::EncodeJer { input, ty, hex, out } => {
            let t = top_type(&ty)?;
            let text = read_text(&input)?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Fail(1, format!("{}:{}: {e}", input.display(), e.line())))?;
            let m = Message::from_jer(t, &v).map_err(|e| Fail(1, format!("{}: {e}", input.display())))?;
            let b = m.encode().map_err(|e| Fail(1, format!("{}: {e}", input.display())))?;
            if hex {
                write_out(&out, (to_hex(&b) + "\n").as_bytes())?;
            } else {
                write_out(&out, &b)?;
            }
            eprintln!("wrote {} ({} bytes)", out.display(), b.len());
            Ok(())
        }
        Cmd::Decompile { input, out } => {
            let map = decode_map_input(&input)?;
            let (m, dropped) = decompile_map(&map);
            for d in dropped.lines {
                eprintln!("note: {d}");
            }
            let text = if Syntax::from_path(&out.display().to_string()) == Syntax::Json {
                serde_json::to_string_pretty(&m).map_err(|e| Fail(2, e.to_string()))?
            } else {
                model::to_toml(&m).map_err(|e| Fail(2, e.to_string()))?
            };
            write_out(&out, text.as_bytes())?;
            eprintln!("wrote {} ({} intersection(s))", out.display(), m.intersections.len());
            Ok(())
        }
        Cmd::Render { input, out, width } => {
            let name = input.display().to_string();
            let lower = name.to_ascii_lowercase();
            let m = if lower.ends_with(".toml") || lower.ends_with(".json") {
                let text = read_text(&input)?;
                model::parse(&name, &text, Syntax::from_path(&name)).map_err(|e| Fail(1, e.to_string()))?.0
            } else {
                decompile_map(&decode_map_input(&input)?).0
            };
            render_to(&m, &out, width)
        }
        Cmd::Import { format, input, origin, intersections, tolerance, lane_length, out } => {
            use map_encoder::import::{build, BuildOptions, ParseOptions};
            let name = input.display().to_string();
            let meta = std::fs::metadata(&input).map_err(|e| Fail(2, format!("{name}: {e}")))?;
            if meta.len() as usize > model::MAX_FILE_BYTES * 16 {
                return Err(Fail(1, format!("{name}: {} bytes is larger than the import limit", meta.len())));
            }
            let bytes = std::fs::read(&input).map_err(|e| Fail(2, format!("{name}: {e}")))?;
            let popts = ParseOptions { file: name.clone(), origin };
            let text = || String::from_utf8(bytes.clone()).map_err(|e| Fail(1, format!("{name}: not UTF-8 text: {e}")));
            let net = match format {
                ImportFormat::Sumo => map_encoder::import::sumo::parse_sumo(&bytes, &popts),
                ImportFormat::Opendrive => map_encoder::import::opendrive::parse_opendrive(&text()?, &popts),
                ImportFormat::Lanelet2 => map_encoder::import::lanelet2::parse_lanelet2(&text()?, &popts),
                ImportFormat::Kml => map_encoder::import::kml::parse_kml(&text()?, &popts),
            }
            .map_err(|e| Fail(1, e.to_string()))?;
            let junctions = if intersections.trim() == "all" {
                Vec::new()
            } else {
                intersections.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
            };
            let bopts =
                BuildOptions { junctions, tolerance_m: tolerance, max_lane_length_m: lane_length, region: None };
            let (m, report) = build(&net, &bopts).map_err(|e| Fail(1, e.to_string()))?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            for (id, src, lanes, conns, groups) in &report.intersections {
                eprintln!(
                    "intersection {id} (junction {src}): {lanes} lanes, {conns} connections, {groups} signal groups"
                );
            }
            eprintln!(
                "geometry simplified with {tolerance} m tolerance: largest error {:.3} m ({} lane(s) needed a coarser tolerance to fit 31 points)",
                report.max_simplification_error_m, report.coarsened_lanes
            );
            let text = if Syntax::from_path(&out.display().to_string()) == Syntax::Json {
                serde_json::to_string_pretty(&m).map_err(|e| Fail(2, e.to_string()))?
            } else {
                model::to_toml(&m).map_err(|e| Fail(2, e.to_string()))?
            };
            write_out(&out, text.as_bytes())?;
            eprintln!("wrote {} ({} intersection(s), {} link(s))", out.display(), m.intersections.len(), m.links.len());
            Ok(())
        }
        Cmd::Demo { out } => demo(&out),
    }
}

fn render_to(m: &MapFile, out: &Path, width: u32) -> Result<(), Fail> {
    let opts = map_encoder::render::RenderOptions { width_px: width, ..Default::default() };
    let svg = map_encoder::render::render_svg(m, &opts);
    if out.display().to_string().to_ascii_lowercase().ends_with(".png") {
        let png = map_encoder::render::render_png(&svg).map_err(|e| Fail(2, e.to_string()))?;
        write_out(out, &png)?;
    } else {
        write_out(out, svg.as_bytes())?;
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn demo(out: &Path) -> Result<(), Fail> {
    let name = "examples/4leg.toml (built in)";
    let (m, map) = model::parse(name, EXAMPLE_4LEG, Syntax::Toml).map_err(|e| Fail(1, e.to_string()))?;
    let diags = validate::validate(name, &m, &map);
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    println!(
        "1. validated {name}: {} intersection(s), {} lanes, {errors} error(s), {} warning(s)",
        m.intersections.len(),
        m.intersections.iter().map(|x| x.lanes.len()).sum::<usize>(),
        diags.len() - errors
    );
    if errors > 0 {
        return Err(Fail(1, "the built-in example does not validate".into()));
    }
    let (mapdata, _) = compile_map(&m, &MapOptions::default()).map_err(|e| Fail(1, e.to_string()))?;
    let frame = MessageFrame::MapFrame(mapdata);
    let bytes = csae::encode_frame(&frame).map_err(|e| Fail(1, e.to_string()))?;
    write_out(&out.join("4leg-map.uper"), &bytes)?;
    println!(
        "2. compiled MAP: {} nodes, {} bytes UPER -> {}",
        match &frame {
            MessageFrame::MapFrame(x) => x.nodes.len(),
            _ => 0,
        },
        bytes.len(),
        out.join("4leg-map.uper").display()
    );
    let back = csae::decode_frame(&bytes).map_err(|e| Fail(1, e.to_string()))?;
    if back != frame {
        return Err(Fail(1, "decoded MAP differs from the compiled one".into()));
    }
    let jer = Message::MessageFrame(back.clone()).to_jer();
    write_out(&out.join("4leg-map.jer.json"), jer.as_bytes())?;
    println!("3. decoded it back: identical value; JER -> {}", out.join("4leg-map.jer.json").display());
    let MessageFrame::MapFrame(md) = back else { return Err(Fail(1, "not a MAP".into())) };
    let (model2, _) = decompile_map(&md);
    let (again, _) = compile_map(&model2, &MapOptions::default()).map_err(|e| Fail(1, e.to_string()))?;
    let again_bytes = csae::encode_frame(&MessageFrame::MapFrame(again)).map_err(|e| Fail(1, e.to_string()))?;
    println!(
        "4. decompiled to the model and re-encoded: {}",
        if again_bytes == bytes { "bit-identical" } else { "DIFFERENT" }
    );
    write_out(
        &out.join("4leg-decompiled.toml"),
        model::to_toml(&model2).map_err(|e| Fail(2, e.to_string()))?.as_bytes(),
    )?;
    let rsis = compile_rsi(
        &m,
        &RsiOptions { msg_cnt: 0, now: (2026, 334 * 1440 + 8 * 60), rsu_id: None, codes: Default::default() },
    )
    .map_err(|e| Fail(1, e.to_string()))?;
    for r in rsis {
        let b = csae::encode_frame(&MessageFrame::RsiFrame(r)).map_err(|e| Fail(1, e.to_string()))?;
        write_out(&out.join("4leg-rsi.uper"), &b)?;
        println!(
            "5. compiled RSI (rules the MAP cannot carry): {} bytes -> {}",
            b.len(),
            out.join("4leg-rsi.uper").display()
        );
    }
    render_to(&m, &out.join("4leg.svg"), 1200)?;
    render_to(&m, &out.join("4leg.png"), 1200)?;
    println!("6. rendered {} and {}", out.join("4leg.svg").display(), out.join("4leg.png").display());
    if again_bytes != bytes {
        return Err(Fail(1, "decompile/re-encode is not bit-identical".into()));
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            if !msg.is_empty() {
                eprintln!("mapenc: {msg}");
            }
            ExitCode::from(code)
        }
    }
}
