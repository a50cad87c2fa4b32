//! Any text as an intersection file (TOML or JSON by the first byte): parse,
//! validate, and when valid compile MAP and RSI: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use map_encoder::compile::{compile_map, compile_rsi, MapOptions, RsiOptions};
use map_encoder::model::{parse, Syntax};
use map_encoder::validate::{has_errors, validate};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let syntax = if sel & 1 == 0 { Syntax::Toml } else { Syntax::Json };
    let Ok((m, map)) = parse("fuzz", text, syntax) else { return };
    let d = validate("fuzz", &m, &map);
    if !has_errors(&d) {
        if let Ok((md, _)) = compile_map(&m, &MapOptions::default()) {
            let _ = map_encoder::csae::encode_frame(&map_encoder::csae::MessageFrame::MapFrame(md));
        }
        let _ = compile_rsi(&m, &RsiOptions { msg_cnt: 0, now: (2026, 480_000), rsu_id: None, codes: Default::default() });
    }
});
