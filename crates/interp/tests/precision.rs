//! Accuracy of `reduce_sum` and `dot_general`, plain and compensated, on the
//! Ogita–Rump–Oishi test set (`tests/data/testset_bits.json`): every result must meet
//! its textbook error bound for the case's condition number.

mod common;

use common::*;
use nabla_ir::canonical::{BLOCK, LANES};
use nabla_ir::{Array, Prim, ReduceOp};
use serde_json::Value;

struct Case {
    id: String,
    kind: String,
    f32: bool,
    x: Vec<f64>,
    y: Vec<f64>,
    /// The exact result as a double-double `hi + lo`.
    hi: f64,
    lo: f64,
    /// `Σ|x|` (sums) in binary64.
    sum_abs: f64,
    /// `2·Σ|x_i y_i| / |Σ x_i y_i|` for dots.
    cond: Option<f64>,
}

fn hex(v: &Value) -> u64 {
    let s = v.as_str().expect("hex string");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex bits")
}

fn load() -> Vec<Case> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/testset_bits.json"
    ))
    .expect("test set present");
    let root: Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = root["cases"].as_array().expect("cases array");
    cases
        .iter()
        .map(|c| {
            let f32 = c["dtype"] == "float32";
            let decode = |v: &Value| -> Vec<f64> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|b| {
                                let b = hex(b);
                                if f32 {
                                    f64::from(f32::from_bits(b as u32))
                                } else {
                                    f64::from_bits(b)
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let dd = c["exact_dd"].as_array().expect("exact_dd");
            Case {
                id: c["id"].as_str().expect("id").to_string(),
                kind: c["kind"].as_str().expect("kind").to_string(),
                f32,
                x: decode(&c["x"]),
                y: decode(&c["y"]),
                hi: f64::from_bits(hex(&dd[0])),
                lo: f64::from_bits(hex(&dd[1])),
                sum_abs: f64::from_bits(hex(&c["sum_abs"])),
                cond: c["cond"].as_f64(),
            }
        })
        .collect()
}

impl Case {
    fn array(&self, v: &[f64]) -> Array {
        if self.f32 {
            f32s(&[v.len()], &v.iter().map(|&a| a as f32).collect::<Vec<_>>())
        } else {
            f64s(&[v.len()], v)
        }
    }

    fn value(&self, a: &Array) -> f64 {
        if self.f32 {
            f64::from(get_f32(a)[0])
        } else {
            get_f64(a)[0]
        }
    }

    fn unit_roundoff(&self) -> f64 {
        if self.f32 {
            2f64.powi(-24)
        } else {
            2f64.powi(-53)
        }
    }

    fn gamma(&self, k: usize) -> f64 {
        let ku = k as f64 * self.unit_roundoff();
        ku / (1.0 - ku)
    }

    fn rel_error(&self, r: f64) -> f64 {
        ((r - self.hi) - self.lo).abs() / self.hi.abs()
    }
}

/// Higham's depth of the canonical order for `n` terms: a lane's sequential chain,
/// the three lane-combining levels, and the block tree.
fn canonical_depth(n: usize) -> usize {
    let nblocks = n.div_ceil(BLOCK).max(1);
    BLOCK / LANES + 3 + nblocks.next_power_of_two().trailing_zeros() as usize
}

fn sum(case: &Case, compensated: bool) -> f64 {
    let prim = Prim::Reduce {
        op: ReduceOp::Sum,
        axes: vec![0],
        compensated,
    };
    case.value(&run1(prim, &[case.array(&case.x)]))
}

#[test]
fn sums_meet_their_error_bounds() {
    let cases: Vec<Case> = load()
        .into_iter()
        .filter(|c| c.kind.starts_with("sum_") || c.kind == "edge")
        .collect();
    assert_eq!(cases.len(), 53, "the test set changed");
    let mut checked = 0;
    for c in &cases {
        let n = c.x.len();
        let (plain, comp) = (sum(c, false), sum(c, true));
        if c.hi == 0.0 {
            // Only zeros (of either sign): the reduction starts from +0.
            assert!(c.x.iter().all(|&v| v == 0.0), "{}", c.id);
            assert_eq!((plain.to_bits(), comp.to_bits()), (0, 0), "{}", c.id);
            continue;
        }
        if !c.sum_abs.is_finite() {
            // Σ|x| overflows, so no bound applies; the canonical order overflows too and
            // must say so rather than return a finite wrong value.
            assert!(
                !plain.is_finite() && !comp.is_finite(),
                "{}: {plain:e} {comp:e}",
                c.id
            );
            continue;
        }
        let cond = c.sum_abs / c.hi.abs();
        let comp_bound = c.unit_roundoff() + c.gamma(n.saturating_sub(1)).powi(2) * cond;
        assert!(
            c.rel_error(comp) <= comp_bound,
            "{}: compensated error {:e} > {comp_bound:e} (cond {cond:e})",
            c.id,
            c.rel_error(comp)
        );
        let plain_bound = c.gamma(canonical_depth(n)) * cond;
        assert!(
            c.rel_error(plain) <= plain_bound,
            "{}: plain error {:e} > {plain_bound:e} (cond {cond:e})",
            c.id,
            c.rel_error(plain)
        );
        checked += 1;
    }
    assert!(checked >= 50, "only {checked} cases had bounds to check");
}

#[test]
fn compensated_sums_are_accurate_where_plain_sums_fail() {
    // The bounds above are loose for well-conditioned cases; make sure compensation is
    // doing real work on the ill-conditioned ones.
    let mut rescued = 0;
    for c in load().iter().filter(|c| c.kind == "sum_eft") {
        let (plain, comp) = (sum(c, false), sum(c, true));
        let cond = c.sum_abs / c.hi.abs();
        if cond > 1.0 / c.unit_roundoff() && c.rel_error(plain) > 1.0 && c.rel_error(comp) < 1e-3 {
            rescued += 1;
        }
    }
    assert!(
        rescued >= 5,
        "compensation rescued only {rescued} ill-conditioned sums"
    );
}

#[test]
fn dots_meet_their_error_bounds() {
    let cases: Vec<Case> = load().into_iter().filter(|c| c.kind == "dot").collect();
    assert_eq!(cases.len(), 55, "the test set changed");
    for c in &cases {
        let n = c.x.len();
        let cond = c.cond.expect("dot cases have a condition number");
        let dot = |compensated| {
            let prim = Prim::DotGeneral {
                lhs_contract: vec![0],
                rhs_contract: vec![0],
                lhs_batch: vec![],
                rhs_batch: vec![],
                compensated,
            };
            c.value(&run1(prim, &[c.array(&c.x), c.array(&c.y)]))
        };
        let comp = dot(true);
        let comp_bound = c.unit_roundoff() + c.gamma(n).powi(2) * cond / 2.0;
        assert!(
            c.rel_error(comp) <= comp_bound,
            "{}: compensated dot error {:e} > {comp_bound:e} (cond {cond:e})",
            c.id,
            c.rel_error(comp)
        );
        // Plain: each product adds one rounding to the summation depth.
        let plain = dot(false);
        let plain_bound = c.gamma(canonical_depth(n) + 1) * cond / 2.0;
        assert!(
            c.rel_error(plain) <= plain_bound,
            "{}: plain dot error {:e} > {plain_bound:e}",
            c.id,
            c.rel_error(plain)
        );
    }
}
