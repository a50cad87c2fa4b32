//! # signal_core — pure fixed-time signal control
//!
//! The signal-control core shared by the roadside unit (its local fallback plan and the timing it
//! puts in SPaT) and, later, the cloud-control service and the simulator.
//!
//! * [`light`] — [`Light`], what a signal group shows, and its CSAE / J2735 `MovementPhaseState`
//!   name.
//! * [`plan`] — [`Plan`] and [`Stage`] (TOML or JSON via serde), [`Plan::validate`] with errors
//!   naming plan, stage and field ([`PlanError`]), and the safety check [`conflicts`].
//! * [`runner`] — [`PlanRunner`]: runs a plan, switches safely to a commanded one, and reports
//!   [`ControllerState`] / [`GroupState`] with start, end and next light of every group.
//! * [`watch`] — [`CommandWatch`]: when plan commands stop arriving, the RSU falls back to its
//!   local plan.
//!
//! ## The model
//!
//! A plan is a list of stages repeated forever. A stage releases its signal groups: they show green
//! ([`Light::ProtectedGreen`], or [`Light::PermissiveGreen`] for the groups listed in
//! `permissive`) for `green_s`, then [`Light::Yellow`] for `yellow_s`, then every group is
//! [`Light::Red`] for `all_red_s`. Groups not in the running stage are red. The cycle is the sum of
//! the stage durations.
//!
//! Time is *controller time*: monotonic seconds as `f64`, passed in by the caller. The runner's
//! start time is the reference for offsets: stage 0's green starts at
//! `start + offset_s + k * cycle`.
//!
//! A commanded plan is queued and takes over at the next stage boundary (end of the running
//! stage's all-red). There the runner joins the new plan's own schedule: at a stage boundary of
//! it, that stage; inside a green with at least the stage's shortest green (`min_green_s`) left,
//! that stage with the rest of its green; otherwise the next stage early, its green stretched up to
//! its longest green (`max_green_s`) to absorb the difference. Without `min_green_s` /
//! `max_green_s` a green is never shortened / stretched.
//!
//! ## Invariants
//!
//! * Sans-IO: no clock, file or socket; deterministic for the same calls.
//! * Time never goes backwards: an earlier time given to `advance` or `command` is ignored.
//! * At any instant the green groups are exactly the running stage's groups during its green, or
//!   none: two groups are green together only if one stage names both (so [`conflicts`] on a plan
//!   is the complete safety check of what the runner shows).
//! * A running green or yellow is never cut: plans change only at a stage boundary, and the first
//!   green of the new plan is at least its stage's shortest green.
//! * SPaT timing is exact for a fixed-time runner: `likely_end_s` is when the light will change
//!   under the plans that will run, already counting a pending plan after the boundary
//!   (confidence 1). With a plan pending, `[min_end_s, max_end_s]` spans the end under the running
//!   plan and under the pending one. `start_s <= time_s < likely_end_s` and
//!   `min_end_s <= likely_end_s <= max_end_s` always.
//! * A group that does not change under the plans that will run (named by no stage of them)
//!   reports confidence 0 and `likely_end_s = time_s + cycle`, a finite placeholder, never
//!   infinity.
//! * Input is checked, never trusted: invalid plans and non-finite times are refused with an error
//!   saying what was expected; nothing panics on input.
//!
//! ## Example
//!
//! ```
//! use signal_core::{Light, Plan, PlanRunner, Stage};
//!
//! let stage = |groups: &[u8], green_s| Stage::fixed(groups, green_s, 3.0, 2.0);
//! let plan = Plan { id: 1, offset_s: 0.0, stages: vec![stage(&[1, 5], 30.0), stage(&[2, 6], 20.0)] };
//! let mut runner = PlanRunner::new(plan, 100.0)?;
//! runner.advance(131.0);
//! let state = runner.state();
//! let g1 = &state.groups[0];
//! assert_eq!((g1.group, g1.light, g1.start_s, g1.likely_end_s), (1, Light::Yellow, 130.0, 133.0));
//! let g2 = &state.groups[1];
//! assert_eq!((g2.light, g2.likely_end_s, g2.next_light), (Light::Red, 135.0, Light::ProtectedGreen));
//! # Ok::<(), signal_core::PlanError>(())
//! ```
#![warn(missing_docs)]

pub mod light;
pub mod plan;
pub mod runner;
pub mod watch;

pub use light::Light;
pub use plan::{conflicts, Plan, PlanError, Stage};
pub use runner::{ControllerState, GroupState, PlanRunner};
pub use watch::CommandWatch;
