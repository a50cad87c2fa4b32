//! Bytes arriving on the uplink stream, in arbitrary chunks, read as messages of either direction.
//! Must never panic and never buffer beyond the frame limit plus one read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(1, |b| usize::from(*b % 64) + 1);
    for up in [true, false] {
        let mut r = uplink::FrameReader::new();
        for chunk in data.chunks(split) {
            r.feed(chunk);
            loop {
                let more = if up {
                    matches!(r.next_message::<uplink::Up>(), Ok(Some(_)))
                } else {
                    matches!(r.next_message::<uplink::Down>(), Ok(Some(_)))
                };
                if !more {
                    break;
                }
            }
            if r.pending() > uplink::MAX_FRAME_BYTES + 4 + data.len() {
                panic!("unbounded buffering");
            }
        }
    }
});
