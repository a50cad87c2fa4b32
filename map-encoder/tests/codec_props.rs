//! Property tests of the codec: any value inside the standard's constraints
//! survives UPER and JER round trips unchanged.

use arbitrary::{Arbitrary, Unstructured};
use map_encoder::csae::{decode_frame, encode_frame, Message, MessageFrame, TopType};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn any_frame_round_trips(seed in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let mut u = Unstructured::new(&seed);
        let v = MessageFrame::arbitrary(&mut u).expect("a value");
        let bytes = encode_frame(&v).expect("values inside the constraints encode");
        prop_assert_eq!(&decode_frame(&bytes).expect("our encoding decodes"), &v);
        let m = Message::MessageFrame(v);
        let jer: serde_json::Value = serde_json::from_str(&m.to_jer()).expect("JER is JSON");
        prop_assert_eq!(Message::from_jer(TopType::MessageFrame, &jer).expect("JER reads back"), m);
    }

    #[test]
    fn any_prefix_of_a_valid_frame_fails_cleanly(seed in proptest::collection::vec(any::<u8>(), 0..3000), cut in 0usize..4096) {
        let mut u = Unstructured::new(&seed);
        let v = MessageFrame::arbitrary(&mut u).expect("a value");
        let bytes = encode_frame(&v).expect("encodes");
        let cut = cut % bytes.len().max(1);
        // a strict prefix either fails with a position, or (when the cut only
        // removed zero padding) decodes to the same value
        match decode_frame(&bytes[..cut]) {
            Ok(w) => prop_assert_eq!(w, v),
            Err(e) => prop_assert!(e.bit_offset <= cut * 8 + 8, "{}", e),
        }
    }
}
