//! UPER decode / UPER encode / JER write of the four benchmark messages
//! (see `zhilu_benches::fixtures`).
//!
//!     cargo bench -p zhilu-benches --bench codec -- --warm-up-time 1 --measurement-time 3
//!
//! * `decode`: `decode_frame(&bytes)`, including building and dropping the
//!   value (every `Vec` in it is allocated and freed per call);
//! * `encode`: `encode_frame(&value)`, returning a fresh `Vec<u8>`;
//! * `jer`: `value.write_jer(&mut s)` into a `String` cleared before each call
//!   (its capacity is reused, so this is the formatting cost alone).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use map_encoder::csae::{decode_frame, encode_frame};
use zhilu_benches::fixtures;

fn codec(c: &mut Criterion) {
    for f in fixtures() {
        let value = decode_frame(&f.bytes).expect("fixture decodes");
        assert_eq!(encode_frame(&value).expect("fixture encodes"), f.bytes, "{} round-trips", f.name);
        let mut g = c.benchmark_group(f.name);
        g.throughput(Throughput::Bytes(f.bytes.len() as u64));
        g.bench_function("decode", |b| b.iter(|| decode_frame(black_box(&f.bytes))));
        g.bench_function("encode", |b| b.iter(|| encode_frame(black_box(&value))));
        let mut out = String::with_capacity(64 * 1024);
        g.bench_function("jer", |b| {
            b.iter(|| {
                out.clear();
                black_box(&value).write_jer(&mut out);
                black_box(out.len())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
