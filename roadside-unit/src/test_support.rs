//! Fixtures shared by the unit tests of this crate.

use map_encoder::model::Intersection;

/// The shipped 4-leg example intersection (`examples/4leg.toml`).
pub(crate) fn four_leg() -> Intersection {
    let text = include_str!("../../examples/4leg.toml");
    let (m, _) =
        map_encoder::model::parse("4leg.toml", text, map_encoder::model::Syntax::Toml).expect("the example parses");
    m.intersections.into_iter().next().expect("the example has an intersection")
}
