//! What a signal group shows: [`Light`], and its CSAE / SAE J2735 `MovementPhaseState` name.
//!
//! Owns the vocabulary only. Must not know about plans, time or encodings (the SPaT encoder maps the
//! names given here onto the codec's enumeration).

use serde::{Deserialize, Serialize};

/// What a signal group shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    /// Unlit (controller off or faulty).
    Dark,
    /// Steady red: stop and remain.
    Red,
    /// Red and yellow together: the green is about to start.
    RedYellow,
    /// Green, but conflicting traffic may also be moving (yield).
    PermissiveGreen,
    /// Green with no conflicting movement released.
    ProtectedGreen,
    /// Steady yellow: the clearance interval after a green.
    Yellow,
    /// Flashing yellow: proceed with caution.
    FlashingYellow,
    /// Flashing red: stop, then proceed.
    FlashingRed,
}

impl Light {
    /// Every light, in declaration order (for tests and tables).
    pub const ALL: [Light; 8] = [
        Light::Dark,
        Light::Red,
        Light::RedYellow,
        Light::PermissiveGreen,
        Light::ProtectedGreen,
        Light::Yellow,
        Light::FlashingYellow,
        Light::FlashingRed,
    ];

    /// True for the two greens (permissive and protected): the movement may go.
    pub fn is_green(self) -> bool {
        matches!(self, Light::PermissiveGreen | Light::ProtectedGreen)
    }

    /// The CSAE 53 / SAE J2735 `MovementPhaseState` name of this light.
    ///
    /// `Yellow` maps to `PROTECTED_CLEARANCE` whatever green preceded it; the standard's
    /// `PERMISSIVE_CLEARANCE` is not produced by this crate.
    pub fn movement_phase_name(self) -> &'static str {
        match self {
            Light::Dark => "DARK",
            Light::Red => "STOP_AND_REMAIN",
            Light::RedYellow => "PRE_MOVEMENT",
            Light::PermissiveGreen => "PERMISSIVE_MOVEMENT_ALLOWED",
            Light::ProtectedGreen => "PROTECTED_MOVEMENT_ALLOWED",
            Light::Yellow => "PROTECTED_CLEARANCE",
            Light::FlashingYellow => "CAUTION_CONFLICTING_TRAFFIC",
            Light::FlashingRed => "STOP_THEN_PROCEED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_standard() {
        let names: Vec<&str> = Light::ALL.iter().map(|l| l.movement_phase_name()).collect();
        assert_eq!(
            names,
            [
                "DARK",
                "STOP_AND_REMAIN",
                "PRE_MOVEMENT",
                "PERMISSIVE_MOVEMENT_ALLOWED",
                "PROTECTED_MOVEMENT_ALLOWED",
                "PROTECTED_CLEARANCE",
                "CAUTION_CONFLICTING_TRAFFIC",
                "STOP_THEN_PROCEED",
            ]
        );
    }

    #[test]
    fn only_the_two_greens_are_green() {
        let greens: Vec<Light> = Light::ALL.into_iter().filter(|l| l.is_green()).collect();
        assert_eq!(greens, [Light::PermissiveGreen, Light::ProtectedGreen]);
    }

    #[test]
    fn serde_names_are_snake_case() {
        assert_eq!(serde_json::to_string(&Light::RedYellow).ok().as_deref(), Some("\"red_yellow\""));
        let back: Result<Light, _> = serde_json::from_str("\"permissive_green\"");
        assert_eq!(back.ok(), Some(Light::PermissiveGreen));
    }
}
