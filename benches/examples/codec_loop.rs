//! Runs one codec operation on one benchmark message in a plain loop, for
//! profilers (callgrind counts instructions exactly; divide by the count).
//!
//!     cargo build --profile bench -p zhilu-benches --example codec_loop
//!     valgrind --tool=callgrind target/release/examples/codec_loop map-4leg decode 10000
//!
//! `message` is one of map-4leg, spat-8phase, rsm-16ptc, ssm-200ptc; `op` is
//! decode, encode or jer.

use std::hint::black_box;

use map_encoder::csae::{decode_frame, encode_frame};
use zhilu_benches::fixtures;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: codec_loop MESSAGE decode|encode|jer COUNT");
        std::process::exit(2);
    }
    let Some(f) = fixtures().into_iter().find(|f| f.name == args[1]) else {
        eprintln!("unknown message {}", args[1]);
        std::process::exit(2);
    };
    let n: usize = args[3].parse().unwrap_or_else(|_| {
        eprintln!("COUNT must be a number");
        std::process::exit(2)
    });
    let value = decode_frame(&f.bytes).expect("fixture decodes");
    let mut out = String::with_capacity(64 * 1024);
    let start = std::time::Instant::now();
    for _ in 0..n {
        match args[2].as_str() {
            "decode" => drop(black_box(decode_frame(black_box(&f.bytes)))),
            "encode" => drop(black_box(encode_frame(black_box(&value)))),
            "jer" => {
                out.clear();
                black_box(&value).write_jer(&mut out);
                black_box(out.len());
            }
            other => {
                eprintln!("unknown op {other}");
                std::process::exit(2);
            }
        }
    }
    let dt = start.elapsed();
    println!("{} {}: {} calls, {:.0} ns/call", f.name, args[2], n, dt.as_nanos() as f64 / n as f64);
}
