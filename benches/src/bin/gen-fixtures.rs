//! Writes `benches/fixtures/ssm-200.hex`: the UPER hex of the 200-participant
//! SSM that the benchmarks build (see `zhilu_benches::ssm_200`), for tools
//! outside Rust (`benches/asn1tools_speed.py`).
//!
//!     cargo run -p zhilu-benches --bin gen-fixtures

use std::path::PathBuf;

use map_encoder::csae::encode_frame;
use zhilu_benches::{bytes_to_hex, ssm_200, SSM_200_FIXTURE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bytes = encode_frame(&ssm_200())?;
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SSM_200_FIXTURE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, bytes_to_hex(&bytes) + "\n")?;
    println!("wrote {} ({} bytes of UPER)", path.display(), bytes.len());
    Ok(())
}
