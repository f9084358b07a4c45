//! `dot_general` on the CPU backend against the interpreter: every placement of batch
//! and contracting axes, degenerate sizes, integer wrap-around, which layouts copy, and
//! bitwise determinism across thread counts.
//!
//! The matrix path (through `gemm`) sums in a blocked order with fused multiply-adds, so
//! its floats are compared with a tolerance scaled by `k` and by `Σ|l·r|` (the standard
//! bound for any summation order); the vector and small paths follow the canonical
//! order and must match the interpreter bitwise, and integers must match exactly.

mod inputs;

use std::sync::atomic::Ordering;

use nabla_cpu::gemm::{dot_general, planned_copies, Copies, FORCE_BASELINE, SMALL_WORK};
use nabla_cpu::simd::FORCE_NARROW;
use nabla_ir::dtype::numel;
use nabla_ir::{Array, DType, Data, Prim};
use proptest::prelude::*;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn random(shape: &[usize], dtype: DType, rng: &mut Rng) -> Array {
    let n = numel(shape);
    let data = match dtype {
        DType::F64 => Data::F64((0..n).map(|_| rng.unit()).collect()),
        DType::F32 => Data::F32((0..n).map(|_| rng.unit() as f32).collect()),
        // Full-range integers exercise wrap-around in products and sums.
        DType::I32 => Data::I32((0..n).map(|_| rng.next() as i32).collect()),
        DType::I64 => Data::I64((0..n).map(|_| rng.next() as i64).collect()),
        DType::U32 => Data::U32((0..n).map(|_| rng.next() as u32).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| rng.next() & 1 == 1).collect()),
    };
    Array::new(shape.to_vec(), data).unwrap()
}

/// The axes of one contraction.
#[derive(Clone, Debug)]
struct Axes {
    lc: Vec<usize>,
    rc: Vec<usize>,
    lb: Vec<usize>,
    rb: Vec<usize>,
}

impl Axes {
    fn new(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize]) -> Axes {
        Axes {
            lc: lc.to_vec(),
            rc: rc.to_vec(),
            lb: lb.to_vec(),
            rb: rb.to_vec(),
        }
    }

    fn prim(&self) -> Prim {
        Prim::DotGeneral {
            lhs_contract: self.lc.clone(),
            rhs_contract: self.rc.clone(),
            lhs_batch: self.lb.clone(),
            rhs_batch: self.rb.clone(),
            compensated: false,
        }
    }

    fn cpu(&self, l: &Array, r: &Array, threads: usize) -> Array {
        dot_general(l, r, &self.lc, &self.rc, &self.lb, &self.rb, threads).unwrap()
    }

    fn interp(&self, l: &Array, r: &Array) -> Array {
        nabla_interp::apply(&self.prim(), &[l.clone(), r.clone()])
            .unwrap()
            .remove(0)
    }

    fn copies(&self, l: &[usize], r: &[usize]) -> Copies {
        planned_copies(l, r, &self.lc, &self.rc, &self.lb, &self.rb).unwrap()
    }

    /// `(m, n, k)` of one batch.
    fn mnk(&self, l: &[usize], r: &[usize]) -> (usize, usize, usize) {
        let prod = |shape: &[usize], axes: &mut dyn Iterator<Item = usize>| -> usize {
            axes.map(|a| shape[a]).product()
        };
        let m = prod(
            l,
            &mut (0..l.len()).filter(|a| !self.lc.contains(a) && !self.lb.contains(a)),
        );
        let n = prod(
            r,
            &mut (0..r.len()).filter(|a| !self.rc.contains(a) && !self.rb.contains(a)),
        );
        let k = prod(l, &mut self.lc.iter().copied());
        (m, n, k)
    }
}

/// Checks the CPU result against the interpreter: exactly for integers and for the
/// canonical-order paths, within `γ_{k+2}·Σ|l·r|` (doubled) for the `gemm` path.
fn check(ax: &Axes, l: &Array, r: &Array, threads: usize) -> Result<(), String> {
    let got = ax.cpu(l, r, threads);
    let want = ax.interp(l, r);
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return Err(format!(
            "{ax:?}: shape/dtype {:?} {} vs {:?} {}",
            got.shape(),
            got.dtype(),
            want.shape(),
            want.dtype()
        ));
    }
    let (m, n, k) = ax.mnk(l.shape(), r.shape());
    let canonical = m <= 1 || n <= 1 || m * n * k <= SMALL_WORK;
    let eps = match l.dtype() {
        DType::F64 => f64::EPSILON,
        DType::F32 => f32::EPSILON as f64,
        _ => {
            return if got.bit_eq(&want) {
                Ok(())
            } else {
                Err(format!(
                    "{ax:?} {:?} {:?}: integers differ",
                    l.shape(),
                    r.shape()
                ))
            };
        }
    };
    if canonical {
        return if got.bit_eq(&want) {
            Ok(())
        } else {
            Err(format!(
                "{ax:?} {:?} {:?}: canonical path not bitwise equal to the interpreter",
                l.shape(),
                r.shape()
            ))
        };
    }
    let bound = ax
        .interp(&inputs::magnitudes(l), &inputs::magnitudes(r))
        .to_f64_vec();
    let tol = 2.0 * (k as f64 + 2.0) * eps;
    for (i, ((g, w), b)) in got
        .to_f64_vec()
        .iter()
        .zip(want.to_f64_vec())
        .zip(bound)
        .enumerate()
    {
        if (g - w).abs() > tol * b + f64::MIN_POSITIVE {
            return Err(format!(
                "{ax:?} {:?} {:?}: element {i}: {g} vs {w} (bound {})",
                l.shape(),
                r.shape(),
                tol * b
            ));
        }
    }
    Ok(())
}

fn check_all_dtypes(ax: &Axes, ls: &[usize], rs: &[usize], rng: &mut Rng) {
    for dtype in [DType::F64, DType::F32, DType::I32, DType::I64, DType::U32] {
        let (l, r) = (random(ls, dtype, rng), random(rs, dtype, rng));
        check(ax, &l, &r, 2).unwrap();
    }
}

// ---- named cases and which of them copy --------------------------------------------

const NONE: Copies = Copies {
    lhs: false,
    rhs: false,
};

#[test]
fn common_products_match_and_do_not_copy() {
    let mut rng = Rng(1);
    let cases: &[(&str, &[usize], &[usize], Axes)] = &[
        ("x @ w", &[300, 70], &[70], Axes::new(&[1], &[0], &[], &[])),
        ("v @ W", &[70], &[70, 90], Axes::new(&[0], &[0], &[], &[])),
        ("v @ W.T", &[70], &[90, 70], Axes::new(&[0], &[1], &[], &[])),
        ("x.T @ v", &[70, 90], &[70], Axes::new(&[0], &[0], &[], &[])),
        ("dot", &[5000], &[5000], Axes::new(&[0], &[0], &[], &[])),
        (
            "x @ W",
            &[40, 50],
            &[50, 60],
            Axes::new(&[1], &[0], &[], &[]),
        ),
        (
            "w @ x.T",
            &[40, 50],
            &[60, 50],
            Axes::new(&[1], &[1], &[], &[]),
        ),
        (
            "x.T @ g",
            &[50, 40],
            &[50, 60],
            Axes::new(&[0], &[0], &[], &[]),
        ),
        (
            "x.T @ g.T",
            &[50, 40],
            &[60, 50],
            Axes::new(&[0], &[1], &[], &[]),
        ),
        (
            "batched",
            &[3, 20, 30],
            &[3, 30, 25],
            Axes::new(&[2], &[1], &[0], &[0]),
        ),
        (
            "batched, rhs transposed",
            &[3, 20, 30],
            &[3, 25, 30],
            Axes::new(&[2], &[2], &[0], &[0]),
        ),
        (
            "batched matvec",
            &[4, 20, 30],
            &[4, 30],
            Axes::new(&[2], &[1], &[0], &[0]),
        ),
        (
            "attention scores [b,h,s,d]",
            &[2, 3, 17, 16],
            &[2, 3, 19, 16],
            Axes::new(&[3], &[3], &[0, 1], &[0, 1]),
        ),
        (
            "attention scores [b,s,h,d]",
            &[2, 17, 3, 16],
            &[2, 19, 3, 16],
            Axes::new(&[3], &[3], &[0, 2], &[0, 2]),
        ),
        (
            "attention values",
            &[2, 3, 17, 19],
            &[2, 3, 19, 16],
            Axes::new(&[3], &[2], &[0, 1], &[0, 1]),
        ),
        (
            "two contracted axes",
            &[20, 6, 7],
            &[6, 7, 30],
            Axes::new(&[1, 2], &[0, 1], &[], &[]),
        ),
        (
            "two contracted axes listed backwards",
            &[20, 6, 7],
            &[6, 7, 30],
            Axes::new(&[2, 1], &[1, 0], &[], &[]),
        ),
        (
            "grad of a weight over batch and time",
            &[4, 9, 30],
            &[4, 9, 20],
            Axes::new(&[0, 1], &[0, 1], &[], &[]),
        ),
        (
            "trailing batch axis",
            &[20, 30, 3],
            &[30, 25, 3],
            Axes::new(&[1], &[0], &[2], &[2]),
        ),
    ];
    for (name, ls, rs, ax) in cases {
        assert_eq!(ax.copies(ls, rs), NONE, "{name}");
        check_all_dtypes(ax, ls, rs, &mut rng);
    }
}

#[test]
fn interleaved_groups_copy_one_operand() {
    let mut rng = Rng(2);
    // The lhs free axes 0 and 2 are split by the contracted axis.
    let ax = Axes::new(&[1], &[0], &[], &[]);
    let (ls, rs) = ([20, 30, 4], [30, 25]);
    assert_eq!(
        ax.copies(&ls, &rs),
        Copies {
            lhs: true,
            rhs: false
        }
    );
    check_all_dtypes(&ax, &ls, &rs, &mut rng);
    // Contracted pairs in opposite orders in the two operands: one of them is copied.
    let ax = Axes::new(&[1, 2], &[1, 0], &[], &[]);
    let (ls, rs) = ([20, 6, 7], [7, 6, 30]);
    let c = ax.copies(&ls, &rs);
    assert!(c.lhs != c.rhs, "{c:?}");
    check_all_dtypes(&ax, &ls, &rs, &mut rng);
}

// ---- every placement of batch and contracting axes --------------------------------

/// All ordered selections of `count` distinct axes out of `rank`.
fn selections(rank: usize, count: usize) -> Vec<Vec<usize>> {
    if count == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for s in selections(rank, count - 1) {
        for a in 0..rank {
            if !s.contains(&a) {
                let mut t = s.clone();
                t.push(a);
                out.push(t);
            }
        }
    }
    out
}

/// Every contraction of a rank-`rl` lhs with a rank-`rr` rhs: all ordered choices of
/// batch and contracting axes on both sides.
fn all_axes(rl: usize, rr: usize) -> Vec<Axes> {
    let mut out = Vec::new();
    for nb in 0..=rl.min(rr) {
        for nc in 0..=(rl - nb).min(rr - nb) {
            for ls in selections(rl, nb + nc) {
                for rs in selections(rr, nb + nc) {
                    let (lb, lc) = ls.split_at(nb);
                    let (rb, rc) = rs.split_at(nb);
                    out.push(Axes::new(lc, rc, lb, rb));
                }
            }
        }
    }
    out
}

/// Shapes for `ax` with paired axes equal; `dim` draws each size.
fn shapes(
    ax: &Axes,
    rl: usize,
    rr: usize,
    dim: &mut dyn FnMut() -> usize,
) -> (Vec<usize>, Vec<usize>) {
    let ls: Vec<usize> = (0..rl).map(|_| dim()).collect();
    let rs: Vec<usize> = (0..rr)
        .map(|b| {
            let pair = ax
                .rc
                .iter()
                .position(|&x| x == b)
                .map(|i| ax.lc[i])
                .or_else(|| ax.rb.iter().position(|&x| x == b).map(|i| ax.lb[i]));
            match pair {
                Some(a) => ls[a],
                None => dim(),
            }
        })
        .collect();
    (ls, rs)
}

#[test]
fn every_axis_placement_up_to_rank_three() {
    let mut rng = Rng(3);
    let mut count = 0;
    for rl in 0..=3 {
        for rr in 0..=3 {
            for ax in all_axes(rl, rr) {
                // Small sizes (canonical paths) and sizes that reach gemm.
                for big in [false, true] {
                    let (ls, rs) = shapes(&ax, rl, rr, &mut || {
                        if big {
                            [1, 5, 12, 17][rng.below(4)]
                        } else {
                            1 + rng.below(4)
                        }
                    });
                    let dtypes: &[DType] = if big {
                        &[DType::F64, DType::I32]
                    } else {
                        &[DType::F64, DType::F32, DType::I32]
                    };
                    for &dtype in dtypes {
                        let (l, r) = (random(&ls, dtype, &mut rng), random(&rs, dtype, &mut rng));
                        check(&ax, &l, &r, 2).unwrap();
                        count += 1;
                    }
                }
            }
        }
    }
    assert!(count > 1000, "{count}");
}

#[test]
fn rank_four_placements_sampled() {
    let mut rng = Rng(4);
    let mut all = Vec::new();
    for (rl, rr) in [(4, 4), (4, 2), (2, 4), (4, 3), (3, 4), (4, 1), (1, 4)] {
        all.extend(all_axes(rl, rr).into_iter().map(|a| (rl, rr, a)));
    }
    for i in 0..600 {
        let (rl, rr, ax) = &all[rng.below(all.len())];
        let (ls, rs) = shapes(ax, *rl, *rr, &mut || [1, 2, 5, 9][rng.below(4)]);
        let dtype = [DType::F64, DType::F32, DType::I64, DType::U32][i % 4];
        let (l, r) = (random(&ls, dtype, &mut rng), random(&rs, dtype, &mut rng));
        check(ax, &l, &r, 2).unwrap();
    }
}

// ---- degenerate sizes ---------------------------------------------------------------

#[test]
fn zero_sizes_and_empty_contraction() {
    let mut rng = Rng(5);
    let cases: &[(&[usize], &[usize], Axes)] = &[
        // k = 0: zeros of the result's shape.
        (&[4, 0], &[0, 5], Axes::new(&[1], &[0], &[], &[])),
        (&[0], &[0], Axes::new(&[0], &[0], &[], &[])),
        (&[3, 0, 2], &[3, 0], Axes::new(&[1], &[1], &[0], &[0])),
        // Empty results.
        (&[0, 4], &[4, 5], Axes::new(&[1], &[0], &[], &[])),
        (&[4, 4], &[4, 0], Axes::new(&[1], &[0], &[], &[])),
        (&[0, 4, 3], &[0, 3, 2], Axes::new(&[2], &[1], &[0], &[0])),
        // No contraction: outer products and scalars.
        (&[], &[], Axes::new(&[], &[], &[], &[])),
        (&[], &[3, 4], Axes::new(&[], &[], &[], &[])),
        (&[70, 80], &[60], Axes::new(&[], &[], &[], &[])),
        (&[5, 70], &[5, 80], Axes::new(&[], &[], &[0], &[0])),
        // Unit sizes everywhere.
        (&[1, 1], &[1, 1], Axes::new(&[1], &[0], &[], &[])),
        (
            &[1, 300, 1],
            &[1, 1, 200],
            Axes::new(&[2], &[1], &[0], &[0]),
        ),
        (
            &[1, 1, 1, 1],
            &[1, 1],
            Axes::new(&[3, 1], &[1, 0], &[], &[]),
        ),
    ];
    for (ls, rs, ax) in cases {
        check_all_dtypes(ax, ls, rs, &mut rng);
    }
}

#[test]
fn long_vector_contractions_span_many_blocks() {
    let mut rng = Rng(6);
    // k beyond one canonical block (4096) in dot products, matrix-vector and
    // vector-matrix products, both with rows contiguous along k and across it.
    let cases: &[(&[usize], &[usize], Axes)] = &[
        (&[20_000], &[20_000], Axes::new(&[0], &[0], &[], &[])),
        (&[9, 9000], &[9000], Axes::new(&[1], &[0], &[], &[])),
        (&[9000, 9], &[9000], Axes::new(&[0], &[0], &[], &[])),
        (&[9000], &[9000, 300], Axes::new(&[0], &[0], &[], &[])),
        (&[2, 9000], &[2, 9000, 3], Axes::new(&[1], &[1], &[0], &[0])),
    ];
    for (ls, rs, ax) in cases {
        check_all_dtypes(ax, ls, rs, &mut rng);
    }
}

#[test]
fn integer_products_wrap_like_the_interpreter() {
    let a = Array::from_vec([2, 2], vec![i32::MAX, i32::MIN, 1 << 30, -7]).unwrap();
    let b = Array::from_vec([2, 2], vec![3, i32::MAX, i32::MIN, 5]).unwrap();
    let ax = Axes::new(&[1], &[0], &[], &[]);
    assert!(ax.cpu(&a, &b, 1).bit_eq(&ax.interp(&a, &b)));
    let u = Array::from_vec([1], vec![u32::MAX]).unwrap();
    let ax = Axes::new(&[0], &[0], &[], &[]);
    assert_eq!(ax.cpu(&u, &u, 1).to_vec::<u32>().unwrap(), [1]);
    // Large enough for the integer matrix loop, in all three of its layouts.
    let mut rng = Rng(7);
    for (ls, rs, ax) in [
        ([60, 70], [70, 80], Axes::new(&[1], &[0], &[], &[])),
        ([60, 70], [80, 70], Axes::new(&[1], &[1], &[], &[])),
        ([70, 60], [80, 70], Axes::new(&[0], &[1], &[], &[])),
    ] {
        for dtype in [DType::I32, DType::I64, DType::U32] {
            let (l, r) = (random(&ls, dtype, &mut rng), random(&rs, dtype, &mut rng));
            check(&ax, &l, &r, 3).unwrap();
        }
    }
}

#[test]
fn non_finite_values_propagate() {
    let ax = Axes::new(&[1], &[0], &[], &[]);
    let mut rng = Rng(8);
    for (m, k, n) in [(40, 50, 60), (1, 50, 60), (40, 50, 1), (3, 3, 3)] {
        let mut l = random(&[m, k], DType::F64, &mut rng)
            .to_vec::<f64>()
            .unwrap();
        l[0] = f64::INFINITY;
        if m > 1 {
            l[k + 1] = f64::NAN;
        }
        let l = Array::from_vec([m, k], l).unwrap();
        let r = random(&[k, n], DType::F64, &mut rng);
        let (got, want) = (ax.cpu(&l, &r, 2), ax.interp(&l, &r));
        for (g, w) in got.to_f64_vec().iter().zip(want.to_f64_vec()) {
            assert_eq!(g.is_nan(), w.is_nan());
            if !w.is_finite() {
                assert!(g.is_nan() || *g == w);
            }
        }
    }
}

#[test]
fn invalid_operands_are_errors() {
    let f = Array::from_vec([2, 3], vec![0.0f64; 6]).unwrap();
    let i = Array::from_vec([3], vec![0i32; 3]).unwrap();
    let b = Array::from_vec([3], vec![true; 3]).unwrap();
    assert!(dot_general(&f, &i, &[1], &[0], &[], &[], 1).is_err());
    assert!(dot_general(&b, &b, &[0], &[0], &[], &[], 1).is_err());
    assert!(dot_general(&f, &f, &[1], &[0], &[], &[], 1).is_err()); // 3 vs 2
    assert!(dot_general(&f, &f, &[2], &[0], &[], &[], 1).is_err()); // no axis 2
    assert!(dot_general(&f, &f, &[1, 1], &[1, 1], &[], &[], 1).is_err()); // repeated
    assert!(dot_general(&f, &f, &[1], &[1], &[0], &[], 1).is_err()); // unpaired
    assert!(dot_general(&f, &f, &[1], &[1], &[1], &[1], 1).is_err()); // batch = contract
}

// ---- bitwise determinism across thread counts --------------------------------------

fn same_bits_for_all_thread_counts(ls: &[usize], rs: &[usize], ax: &Axes, dtype: DType) {
    let mut rng = Rng(9);
    let (l, r) = (random(ls, dtype, &mut rng), random(rs, dtype, &mut rng));
    let one = ax.cpu(&l, &r, 1);
    for threads in [2, 3, 4, 8] {
        // Run inside pools of several sizes too: the split must not depend on either.
        for pool in [1, threads] {
            let p = rayon::ThreadPoolBuilder::new()
                .num_threads(pool)
                .build()
                .unwrap();
            let got = p.install(|| ax.cpu(&l, &r, threads));
            assert!(
                got.bit_eq(&one),
                "{ls:?} {rs:?} {ax:?} {dtype}: threads {threads} in a pool of {pool}"
            );
        }
    }
}

#[test]
fn results_are_bitwise_identical_for_any_thread_count() {
    let mm = Axes::new(&[1], &[0], &[], &[]);
    let cases: &[(&[usize], &[usize], Axes)] = &[
        // One large product: gemm's own threads.
        (&[300, 257], &[257, 190], mm.clone()),
        (&[257, 300], &[190, 257], Axes::new(&[0], &[1], &[], &[])),
        // Many small products: threads across batches.
        (
            &[64, 33, 40],
            &[64, 40, 31],
            Axes::new(&[2], &[1], &[0], &[0]),
        ),
        // k long enough for several k-blocks inside gemm.
        (&[70, 3000], &[3000, 90], mm.clone()),
        // Vector paths, including k split into canonical blocks.
        (&[3000, 500], &[500], mm.clone()),
        (&[500], &[500, 3000], Axes::new(&[0], &[0], &[], &[])),
        (&[300_000], &[300_000], Axes::new(&[0], &[0], &[], &[])),
        (&[20_000], &[20_000, 40], Axes::new(&[0], &[0], &[], &[])),
        // Small path with many batches.
        (
            &[5000, 4, 4],
            &[5000, 4, 4],
            Axes::new(&[2], &[1], &[0], &[0]),
        ),
    ];
    for (ls, rs, ax) in cases {
        for dtype in [DType::F64, DType::F32] {
            same_bits_for_all_thread_counts(ls, rs, ax, dtype);
        }
    }
    same_bits_for_all_thread_counts(&[200, 150], &[150, 170], &mm, DType::I64);
}

#[test]
fn wider_simd_does_not_change_the_bits() {
    // The switch is process-wide; other tests running meanwhile only change speed,
    // which is exactly the property under test.
    let cases: &[(&[usize], &[usize], Axes)] = &[
        (&[300, 700], &[700], Axes::new(&[1], &[0], &[], &[])),
        // Rows with a tail of 4, none, and nothing but a tail.
        (&[37, 100], &[100], Axes::new(&[1], &[0], &[], &[])),
        (&[9, 16], &[16], Axes::new(&[1], &[0], &[], &[])),
        (&[13, 7], &[7], Axes::new(&[1], &[0], &[], &[])),
        (&[700, 300], &[700], Axes::new(&[0], &[0], &[], &[])),
        (&[20_000], &[20_000], Axes::new(&[0], &[0], &[], &[])),
        (&[9000], &[9000, 50], Axes::new(&[0], &[0], &[], &[])),
        (&[50, 7, 9], &[50, 9, 6], Axes::new(&[2], &[1], &[0], &[0])),
    ];
    let mut rng = Rng(10);
    for (ls, rs, ax) in cases {
        for dtype in [DType::F64, DType::F32, DType::I32] {
            let (l, r) = (random(ls, dtype, &mut rng), random(rs, dtype, &mut rng));
            let wide = ax.cpu(&l, &r, 2);
            FORCE_NARROW.store(true, Ordering::Relaxed);
            let avx2 = ax.cpu(&l, &r, 2);
            FORCE_NARROW.store(false, Ordering::Relaxed);
            FORCE_BASELINE.store(true, Ordering::Relaxed);
            let base = ax.cpu(&l, &r, 2);
            FORCE_BASELINE.store(false, Ordering::Relaxed);
            assert!(wide.bit_eq(&base), "{ls:?} {rs:?} {ax:?} {dtype}");
            assert!(avx2.bit_eq(&base), "AVX2: {ls:?} {rs:?} {ax:?} {dtype}");
        }
    }
}

// ---- random shapes and axes ---------------------------------------------------------

/// A random contraction: ranks, axis roles and sizes.
fn contraction() -> impl Strategy<Value = (Axes, Vec<usize>, Vec<usize>, u64)> {
    (0usize..=4, 0usize..=4, any::<u64>()).prop_map(|(rl, rr, seed)| {
        let mut rng = Rng(seed | 1);
        let all = all_axes(rl, rr);
        let ax = all[rng.below(all.len())].clone();
        let big = rng.below(3) == 0;
        let (ls, rs) = shapes(&ax, rl, rr, &mut || {
            if big {
                [1, 3, 17, 33, 64][rng.below(5)]
            } else {
                rng.below(6)
            }
        });
        (ax, ls, rs, seed)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_contractions_match_the_interpreter((ax, ls, rs, seed) in contraction()) {
        // Keep each case cheap for the reference interpreter.
        prop_assume!(numel(&ls) <= 200_000 && numel(&rs) <= 200_000);
        let mut rng = Rng(seed | 1);
        for dtype in [DType::F64, DType::F32, DType::I32] {
            let (l, r) = (random(&ls, dtype, &mut rng), random(&rs, dtype, &mut rng));
            check(&ax, &l, &r, 1 + (seed % 4) as usize).map_err(TestCaseError::fail)?;
            let one = ax.cpu(&l, &r, 1);
            prop_assert!(ax.cpu(&l, &r, 3).bit_eq(&one));
        }
    }
}
