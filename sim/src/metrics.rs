//! Multi-object tracking scores of a tracker's output (hypotheses) against ground truth on
//! the ground plane: CLEAR MOT (MOTA, MOTP), identity scores (IDF1, Ristani et al. 2016)
//! and position / velocity RMSE over matched pairs.
//!
//! Owns: the per-frame correspondence procedure of py-motmetrics 1.4 (keep still-valid
//! previous matches, then an optimal assignment of the rest) and its global identity
//! matching, both on Euclidean centre distance; a pair matches when `distance <= gate_m`.
//! Must not: read or write files, know about sensors or the tracker, or look at wall-clock
//! time: every function here is pure. Frames are taken in slice order (time order), and ids
//! are assumed unique within the truth and within the hypotheses of one frame.

use crate::trajectories::TrackPoint;
use pathfinding::prelude::{kuhn_munkres_min, Matrix};
use std::collections::{BTreeMap, HashMap};

/// Matching gate of the nuScenes tracking benchmark: 2 m between centres.
pub const DEFAULT_GATE_M: f64 = 2.0;

/// One object (truth) or hypothesis (tracker output) in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    pub id: u64,
    pub pos_m: [f64; 2],
    /// Only used by [`rmse`].
    pub vel_mps: Option<[f64; 2]>,
}

impl Object {
    pub fn new(id: u64, x_m: f64, y_m: f64) -> Self {
        Self { id, pos_m: [x_m, y_m], vel_mps: None }
    }

    pub fn with_velocity(self, vx_mps: f64, vy_mps: f64) -> Self {
        Self { vel_mps: Some([vx_mps, vy_mps]), ..self }
    }
}

/// Ground truth and hypotheses at one timestamp.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub t_ms: i64,
    pub truth: Vec<Object>,
    pub hyp: Vec<Object>,
}

/// Pair two track files into frames (union of their timestamps, in time order). Velocities
/// are always taken, so a file read without `vx`/`vy` scores as standing still: clear
/// `vel_mps` for a tracker that does not estimate velocity.
pub fn frames_from_tracks(truth: &[TrackPoint], hyp: &[TrackPoint]) -> Vec<Frame> {
    let mut by_t: BTreeMap<i64, Frame> = BTreeMap::new();
    let obj = |p: &TrackPoint| Object::new(p.track_id, p.x_m, p.y_m).with_velocity(p.vx_mps, p.vy_mps);
    for p in truth {
        by_t.entry(p.t_ms).or_insert_with(|| Frame { t_ms: p.t_ms, ..Frame::default() }).truth.push(obj(p));
    }
    for p in hyp {
        by_t.entry(p.t_ms).or_insert_with(|| Frame { t_ms: p.t_ms, ..Frame::default() }).hyp.push(obj(p));
    }
    by_t.into_values().collect()
}

/// CLEAR MOT counts and scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClearMot {
    /// Truth objects summed over frames.
    pub num_objects: usize,
    /// Matched pairs, identity switches included (py-motmetrics' `num_detections`;
    /// its `num_matches` is `matches - idsw`).
    pub matches: usize,
    pub fp: usize,
    pub fn_: usize,
    pub idsw: usize,
    /// `1 - (fn + fp + idsw) / num_objects`; NaN without objects.
    pub mota: f64,
    /// Mean distance of matched pairs; NaN without matches.
    pub motp_m: f64,
}

/// Identity scores (Ristani et al. 2016), counted in object-frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Identity {
    pub idtp: usize,
    pub idfp: usize,
    pub idfn: usize,
    /// `idtp / (idtp + idfp)`; NaN when there is no hypothesis.
    pub idp: f64,
    /// `idtp / (idtp + idfn)`; NaN when there is no truth.
    pub idr: f64,
    /// `2 idtp / (2 idtp + idfp + idfn)`; NaN when both are empty.
    pub idf1: f64,
}

/// Root-mean-square errors over the pairs matched by [`clear_mot`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rmse {
    /// NaN without matched pairs.
    pub position_m: f64,
    /// Over the pairs where both sides carry a velocity; NaN if none does.
    pub velocity_mps: f64,
    pub pairs: usize,
    pub velocity_pairs: usize,
}

/// A matched pair: frame index, truth index and hypothesis index in that frame, distance.
struct Pair {
    frame: usize,
    truth: usize,
    hyp: usize,
    dist_m: f64,
}

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        f64::NAN
    } else {
        num / den
    }
}

/// Centre distance if within the gate (`<=`); NaN positions never match.
fn gated(a: &Object, b: &Object, gate_m: f64) -> Option<f64> {
    let d = (a.pos_m[0] - b.pos_m[0]).hypot(a.pos_m[1] - b.pos_m[1]);
    (d <= gate_m).then_some(d)
}

/// Minimum-cost assignment between truth indices `rows` and hypothesis indices `cols` that
/// first maximises the number of gated pairs, then minimises their summed distance.
fn assign(f: &Frame, rows: &[usize], cols: &[usize], gate_m: f64) -> Vec<(usize, usize, f64)> {
    let d: Vec<Option<f64>> =
        rows.iter().flat_map(|&r| cols.iter().map(move |&c| gated(&f.truth[r], &f.hyp[c], gate_m))).collect();
    if d.iter().all(Option::is_none) {
        return Vec::new();
    }
    // Integer costs in micrometres (sub-micrometre differences are ties); a pair beyond the
    // gate costs more than all gated pairs together, so it never displaces a gated pair.
    let um = |d: f64| (d * 1e6).min(1e18).round() as i128;
    let beyond: i128 = d.iter().flatten().map(|&x| um(x)).sum::<i128>() + 1;
    let n = rows.len().max(cols.len());
    let costs = Matrix::from_fn(n, n, |(r, c)| {
        if r < rows.len() && c < cols.len() {
            d[r * cols.len() + c].map_or(beyond, um)
        } else {
            0 // padding row or column: free, dropped below
        }
    });
    let (_, col_of_row) = kuhn_munkres_min(&costs);
    col_of_row
        .into_iter()
        .enumerate()
        .filter(|&(r, c)| r < rows.len() && c < cols.len())
        .filter_map(|(r, c)| d[r * cols.len() + c].map(|x| (rows[r], cols[c], x)))
        .collect()
}

/// The CLEAR MOT matching of all frames: the scores and every matched pair.
fn correspondences(frames: &[Frame], gate_m: f64) -> (ClearMot, Vec<Pair>) {
    let mut last: HashMap<u64, u64> = HashMap::new(); // truth id -> hypothesis id of its latest match
    let (mut num_objects, mut fp, mut idsw) = (0, 0, 0);
    let mut pairs = Vec::new();
    for (fi, f) in frames.iter().enumerate() {
        num_objects += f.truth.len();
        let mut t_used = vec![false; f.truth.len()];
        let mut h_used = vec![false; f.hyp.len()];
        let mut matched = Vec::new();
        // 1. Keep previous correspondences that are still within the gate.
        for (ti, t) in f.truth.iter().enumerate() {
            let Some(&prev) = last.get(&t.id) else { continue };
            let Some(hi) = (0..f.hyp.len()).find(|&hi| !h_used[hi] && f.hyp[hi].id == prev) else { continue };
            if let Some(d) = gated(t, &f.hyp[hi], gate_m) {
                (t_used[ti], h_used[hi]) = (true, true);
                matched.push((ti, hi, d));
            }
        }
        // 2. Optimal assignment of the rest; a match contradicting the last one is a switch.
        let rows: Vec<usize> = (0..f.truth.len()).filter(|&i| !t_used[i]).collect();
        let cols: Vec<usize> = (0..f.hyp.len()).filter(|&j| !h_used[j]).collect();
        for (ti, hi, d) in assign(f, &rows, &cols, gate_m) {
            if last.get(&f.truth[ti].id).is_some_and(|&h| h != f.hyp[hi].id) {
                idsw += 1;
            }
            h_used[hi] = true;
            matched.push((ti, hi, d));
        }
        for (ti, hi, d) in matched {
            last.insert(f.truth[ti].id, f.hyp[hi].id);
            pairs.push(Pair { frame: fi, truth: ti, hyp: hi, dist_m: d });
        }
        fp += h_used.iter().filter(|used| !**used).count();
    }
    let matches = pairs.len();
    let fn_ = num_objects - matches;
    let dist_sum_m: f64 = pairs.iter().map(|p| p.dist_m).sum();
    let mota = 1.0 - ratio((fn_ + fp + idsw) as f64, num_objects as f64);
    let motp_m = ratio(dist_sum_m, matches as f64);
    (ClearMot { num_objects, matches, fp, fn_, idsw, mota, motp_m }, pairs)
}

/// CLEAR MOT scores (Bernardin & Stiefelhagen 2008) as py-motmetrics computes them.
pub fn clear_mot(frames: &[Frame], gate_m: f64) -> ClearMot {
    correspondences(frames, gate_m).0
}

/// Identity scores: the one-to-one matching of truth ids to hypothesis ids maximising the
/// object-frames where the pair is within the gate, built as py-motmetrics does on an
/// `(n_truth + n_hyp)` square matrix where every id may also stay unmatched.
/// O((n_truth + n_hyp)³): meant for scenario-sized id sets.
pub fn idf1(frames: &[Frame], gate_m: f64) -> Identity {
    let (mut truth_ix, mut hyp_ix) = (HashMap::new(), HashMap::new());
    let (mut truth_n, mut hyp_n): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    let mut together: HashMap<(usize, usize), i64> = HashMap::new();
    // dense index of an id, counting its object-frames
    fn index(ix: &mut HashMap<u64, usize>, n: &mut Vec<i64>, id: u64) -> usize {
        let i = *ix.entry(id).or_insert_with(|| {
            n.push(0);
            n.len() - 1
        });
        n[i] += 1;
        i
    }
    for f in frames {
        let t: Vec<usize> = f.truth.iter().map(|o| index(&mut truth_ix, &mut truth_n, o.id)).collect();
        let h: Vec<usize> = f.hyp.iter().map(|o| index(&mut hyp_ix, &mut hyp_n, o.id)).collect();
        for (a, &r) in f.truth.iter().zip(&t) {
            for (b, &c) in f.hyp.iter().zip(&h) {
                if gated(a, b, gate_m).is_some() {
                    *together.entry((r, c)).or_default() += 1;
                }
            }
        }
    }
    let (nt, nh) = (truth_n.len(), hyp_n.len());
    let (total_truth, total_hyp): (i64, i64) = (truth_n.iter().sum(), hyp_n.iter().sum());
    let idfn = if nt + nh == 0 {
        0
    } else {
        // Rows: truth ids, then one "unmatched" row per hypothesis id; columns: hypothesis
        // ids, then one "unmatched" column per truth id. Cost = FN + FP object-frames.
        let forbidden = total_truth + total_hyp + 1;
        let tp = |r: usize, c: usize| together.get(&(r, c)).copied().unwrap_or(0);
        let fn_of = |r: usize, c: usize| match (r < nt, c < nh) {
            (true, true) => truth_n[r] - tp(r, c),
            (true, false) => truth_n[r],
            _ => 0,
        };
        let costs = Matrix::from_fn(nt + nh, nt + nh, |(r, c)| match (r < nt, c < nh) {
            (true, true) => truth_n[r] + hyp_n[c] - 2 * tp(r, c),
            (true, false) if c - nh == r => truth_n[r],
            (false, true) if r - nt == c => hyp_n[c],
            (false, false) => 0,
            _ => forbidden,
        });
        let (_, col_of_row) = kuhn_munkres_min(&costs);
        col_of_row.iter().enumerate().map(|(r, &c)| fn_of(r, c)).sum()
    };
    let idtp = total_truth - idfn;
    let idfp = total_hyp - idtp;
    let (tp, fp, fn_) = (idtp as f64, idfp as f64, idfn as f64);
    Identity {
        idtp: idtp as usize,
        idfp: idfp as usize,
        idfn: idfn as usize,
        idp: ratio(tp, tp + fp),
        idr: ratio(tp, tp + fn_),
        idf1: ratio(2.0 * tp, 2.0 * tp + fp + fn_),
    }
}

/// Position and velocity RMSE over the pairs matched by the CLEAR MOT procedure.
/// The CLEAR MOT correspondences: `(frame index, truth index, hypothesis index)` of every matched
/// pair, for scores computed on the same matching (e.g. lane-assignment accuracy).
pub fn matched_pairs(frames: &[Frame], gate_m: f64) -> Vec<(usize, usize, usize)> {
    correspondences(frames, gate_m).1.into_iter().map(|p| (p.frame, p.truth, p.hyp)).collect()
}

pub fn rmse(frames: &[Frame], gate_m: f64) -> Rmse {
    let (_, pairs) = correspondences(frames, gate_m);
    let pos_sq: f64 = pairs.iter().map(|p| p.dist_m * p.dist_m).sum();
    let vel_sq: Vec<f64> = pairs
        .iter()
        .filter_map(|p| {
            let f = &frames[p.frame];
            let (vt, vh) = (f.truth[p.truth].vel_mps?, f.hyp[p.hyp].vel_mps?);
            Some((vt[0] - vh[0]).powi(2) + (vt[1] - vh[1]).powi(2))
        })
        .collect();
    Rmse {
        position_m: ratio(pos_sq, pairs.len() as f64).sqrt(),
        velocity_mps: ratio(vel_sq.iter().sum(), vel_sq.len() as f64).sqrt(),
        pairs: pairs.len(),
        velocity_pairs: vel_sq.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EPS: f64 = 1e-12;

    fn frame(t_ms: i64, truth: &[(u64, f64, f64)], hyp: &[(u64, f64, f64)]) -> Frame {
        let objs = |v: &[(u64, f64, f64)]| v.iter().map(|&(id, x, y)| Object::new(id, x, y)).collect();
        Frame { t_ms, truth: objs(truth), hyp: objs(hyp) }
    }

    /// Truth 1 drives east along y = 0, truth 2 along y = 0 ten metres ahead. Hypothesis 101
    /// follows 1 for two frames then jumps to 2; 102 sees 2 once; 103 takes over 1 in the
    /// last frame; 104 is a false positive. Offsets are along y so distances are exact.
    fn story() -> Vec<Frame> {
        vec![
            frame(0, &[(1, 0.0, 0.0), (2, 10.0, 0.0)], &[(101, 0.0, 0.2), (102, 10.0, 0.3), (104, 5.0, 5.0)]),
            frame(100, &[(1, 1.0, 0.0), (2, 11.0, 0.0)], &[(101, 1.0, 0.2)]),
            frame(200, &[(1, 2.0, 0.0), (2, 12.0, 0.0)], &[(101, 12.0, 0.3), (103, 2.0, 0.3)]),
        ]
    }

    #[test]
    fn story_matches_py_motmetrics() {
        let m = clear_mot(&story(), 1.0);
        assert_eq!((m.num_objects, m.matches, m.fp, m.fn_, m.idsw), (6, 5, 1, 1, 2));
        assert!((m.mota - (1.0 - 4.0 / 6.0)).abs() < EPS, "{m:?}");
        assert!((m.motp_m - 0.26).abs() < EPS, "{m:?}"); // (0.2 + 0.3 + 0.2 + 0.3 + 0.3) / 5
        let id = idf1(&story(), 1.0);
        // best identity map: 1 -> 101 (2 frames), 2 -> 102 (1 frame)
        assert_eq!((id.idtp, id.idfp, id.idfn), (3, 3, 3));
        assert_eq!((id.idp, id.idr, id.idf1), (0.5, 0.5, 0.5));
        let r = rmse(&story(), 1.0);
        assert_eq!((r.pairs, r.velocity_pairs), (5, 0));
        assert!((r.position_m - (0.35f64 / 5.0).sqrt()).abs() < EPS && r.velocity_mps.is_nan());
    }

    #[test]
    fn gate_is_inclusive() {
        let at = |d: f64| frame(0, &[(1, 0.0, 0.0)], &[(9, 0.0, d)]);
        assert_eq!(clear_mot(&[at(DEFAULT_GATE_M)], DEFAULT_GATE_M).matches, 1);
        let beyond = clear_mot(&[at(DEFAULT_GATE_M + 1e-9)], DEFAULT_GATE_M);
        assert_eq!((beyond.matches, beyond.fp, beyond.fn_, beyond.mota), (0, 1, 1, -1.0));
        assert_eq!(idf1(&[at(DEFAULT_GATE_M + 1e-9)], DEFAULT_GATE_M).idtp, 0);
    }

    #[test]
    fn assignment_prefers_more_matches_over_shorter_distance() {
        // Greedy would pair 1 with the closest hypothesis (8) and leave 2 unmatched.
        let f = frame(0, &[(1, 0.0, 0.0), (2, 1.95, 0.0)], &[(8, 0.95, 0.0), (9, -1.0, 0.0)]);
        let m = clear_mot(&[f], DEFAULT_GATE_M);
        assert_eq!((m.matches, m.fp, m.fn_), (2, 0, 0));
        assert!((m.motp_m - 1.0).abs() < EPS, "{m:?}");
    }

    #[test]
    fn rmse_uses_velocities_when_both_sides_have_them() {
        let t = Object::new(1, 0.0, 0.0).with_velocity(10.0, 0.0);
        let f = Frame { t_ms: 0, truth: vec![t], hyp: vec![Object::new(5, 0.3, 0.4).with_velocity(7.0, 4.0)] };
        let r = rmse(&[f], DEFAULT_GATE_M);
        assert_eq!((r.position_m, r.velocity_mps, r.pairs, r.velocity_pairs), (0.5, 5.0, 1, 1));
    }

    #[test]
    fn track_files_pair_into_frames() {
        let truth = crate::trajectories::read_tracks("track_id,timestamp_ms,x,y,vx,vy\n1,0,0,0,1,0\n1,100,0.1,0,1,0\n")
            .expect("valid csv");
        let hyp = crate::trajectories::read_tracks("track_id,timestamp_ms,x,y\n7,100,0.1,0.5\n").expect("valid csv");
        let frames = frames_from_tracks(&truth, &hyp);
        assert_eq!(
            frames.iter().map(|f| (f.t_ms, f.truth.len(), f.hyp.len())).collect::<Vec<_>>(),
            [(0, 1, 0), (100, 1, 1)]
        );
        let r = rmse(&frames, DEFAULT_GATE_M);
        assert_eq!((r.pairs, r.position_m, r.velocity_mps), (1, 0.5, 1.0));
    }

    /// 1..8 frames of up to five truth objects; object k lives near x = 10 k, so distinct
    /// objects are always more than 2 gates apart.
    fn truth_frames() -> impl Strategy<Value = Vec<Frame>> {
        let object = (any::<bool>(), -1.0..1.0f64, -1.0..1.0f64, -15.0..15.0f64, -15.0..15.0f64);
        prop::collection::vec(prop::collection::vec(object, 5), 1..8)
            .prop_map(|frames| {
                (0i64..)
                    .zip(frames)
                    .map(|(k, objects)| Frame {
                        t_ms: 100 * k,
                        truth: (0u64..)
                            .zip(objects)
                            .filter(|(_, (present, ..))| *present)
                            .map(|(id, (_, dx, dy, vx, vy))| {
                                Object::new(id, 10.0 * id as f64 + dx, dy).with_velocity(vx, vy)
                            })
                            .collect(),
                        hyp: Vec::new(),
                    })
                    .collect::<Vec<_>>()
            })
            .prop_filter("at least one object", |f| f.iter().any(|f| !f.truth.is_empty()))
    }

    /// Truth frames plus noisy hypotheses with ids 0..8 (unique per frame).
    fn scenes() -> impl Strategy<Value = Vec<Frame>> {
        let hyp = (0u64..8, -5.0..45.0f64, -2.0..2.0f64);
        truth_frames().prop_flat_map(move |frames| {
            let n = frames.len();
            prop::collection::vec(prop::collection::vec(hyp.clone(), 0..6), n).prop_map(move |hyps| {
                let mut frames = frames.clone();
                for (f, h) in frames.iter_mut().zip(hyps) {
                    let unique: BTreeMap<u64, (f64, f64)> = h.into_iter().map(|(id, x, y)| (id, (x, y))).collect();
                    f.hyp = unique.into_iter().map(|(id, (x, y))| Object::new(id, x, y)).collect();
                }
                frames
            })
        })
    }

    proptest! {
        #[test]
        fn perfect_hypotheses_score_perfectly(mut frames in truth_frames()) {
            for f in &mut frames {
                f.hyp = f.truth.iter().map(|o| Object { id: o.id + 1000, ..*o }).collect();
            }
            let m = clear_mot(&frames, DEFAULT_GATE_M);
            prop_assert_eq!((m.mota, m.motp_m, m.idsw, m.fp, m.fn_), (1.0, 0.0, 0, 0, 0));
            prop_assert_eq!(idf1(&frames, DEFAULT_GATE_M).idf1, 1.0);
            let r = rmse(&frames, DEFAULT_GATE_M);
            prop_assert_eq!((r.position_m, r.velocity_mps, r.pairs), (0.0, 0.0, m.num_objects));
        }

        #[test]
        fn no_hypotheses_miss_everything(frames in truth_frames()) {
            let m = clear_mot(&frames, DEFAULT_GATE_M);
            prop_assert_eq!((m.mota, m.fn_, m.matches), (0.0, m.num_objects, 0));
            let id = idf1(&frames, DEFAULT_GATE_M);
            prop_assert_eq!((id.idf1, id.idfn, id.idtp), (0.0, m.num_objects, 0));
        }

        #[test]
        fn renaming_hypotheses_changes_nothing(
            frames in scenes(),
            perm in Just((0u64..8).collect::<Vec<_>>()).prop_shuffle(),
        ) {
            let mut renamed = frames.clone();
            for o in renamed.iter_mut().flat_map(|f| f.hyp.iter_mut()) {
                o.id = 100 + perm[o.id as usize];
            }
            // Debug text, so that NaN (no match, no velocity) compares equal to NaN
            let scores = |f: &[Frame]| {
                format!("{:?}", (clear_mot(f, DEFAULT_GATE_M), idf1(f, DEFAULT_GATE_M), rmse(f, DEFAULT_GATE_M)))
            };
            prop_assert_eq!(scores(&frames), scores(&renamed));
        }
    }
}
