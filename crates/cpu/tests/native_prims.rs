//! The primitives the CPU backend runs as native loops (take, pad, dynamic slices,
//! scatters, argmax/argmin, compensated sums and products, scalar reductions) equal the
//! interpreter's results bit for bit (compensated sums and products up to NaN
//! payloads), for every dtype, axis and index dtype, on empty arrays and scalars, with
//! one thread and several (sizes past the parallel threshold take the parallel paths). The fallback used here fails, so a primitive that silently
//! went back to the interpreter fails the test.

use nabla_cpu::eqn;
use nabla_cpu::program::{Compiled, Fallback};
use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{
    ArgOp, Array, Atom, Builder, DType, Data, Prim, ReduceOp, Scalar, ScatterMode, Type,
};
use proptest::prelude::*;

/// Refuses everything: the primitives under test must not reach it.
struct NoFallback;

impl Fallback for NoFallback {
    fn apply(&self, prim: &Prim, _: &[Array]) -> Result<Vec<Array>, Diagnostic> {
        Err(Diagnostic::error(
            Code::INTERNAL,
            format!("{} reached the fallback", prim.name()),
        ))
    }
}

const DTYPES: [DType; 6] = [
    DType::Bool,
    DType::I32,
    DType::I64,
    DType::U32,
    DType::F32,
    DType::F64,
];
const INDEX_DTYPES: [DType; 3] = [DType::I32, DType::I64, DType::U32];

/// splitmix64: a small deterministic generator for data and parameters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }
}

/// A float from a palette rich in ties, signed zeros, infinities and (when `nans`) NaNs,
/// with magnitudes far apart so that summation order shows in the bits.
fn float(rng: &mut Rng, nans: bool) -> f64 {
    match rng.below(50) {
        0 if nans => f64::NAN,
        1 => 0.0,
        2 => -0.0,
        3 => f64::INFINITY,
        4 => f64::NEG_INFINITY,
        5..=20 => rng.range(-4, 4) as f64,
        21..=30 => (rng.range(-1000, 1000) as f64) * 10f64.powi(rng.range(-12, 12) as i32),
        _ => (rng.next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5,
    }
}

/// Finite floats with heavy cancellation (for compensated sums).
fn finite(rng: &mut Rng) -> f64 {
    (rng.range(-1000, 1000) as f64) * 10f64.powi(rng.range(-16, 16) as i32)
}

fn array(dtype: DType, shape: &[usize], rng: &mut Rng, nans: bool) -> Array {
    let n: usize = shape.iter().product();
    let data = match dtype {
        DType::Bool => Data::Bool((0..n).map(|_| rng.below(2) == 0).collect()),
        DType::I32 => Data::I32(
            (0..n)
                .map(|_| match rng.below(30) {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    _ => rng.range(-9, 9) as i32,
                })
                .collect(),
        ),
        DType::I64 => Data::I64(
            (0..n)
                .map(|_| match rng.below(30) {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    _ => rng.range(-9, 9),
                })
                .collect(),
        ),
        DType::U32 => Data::U32(
            (0..n)
                .map(|_| match rng.below(30) {
                    0 => u32::MAX,
                    _ => rng.below(12) as u32,
                })
                .collect(),
        ),
        DType::F32 => Data::F32((0..n).map(|_| float(rng, nans) as f32).collect()),
        DType::F64 => Data::F64((0..n).map(|_| float(rng, nans)).collect()),
    };
    Array::new(shape.to_vec(), data).unwrap()
}

fn finite_array(dtype: DType, shape: &[usize], rng: &mut Rng) -> Array {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| finite(rng)).collect();
    Array::from_vec(shape.to_vec(), v).unwrap().cast(dtype)
}

/// Indices in `lo..=hi` of an index dtype (u32 takes negatives as huge values).
fn indices(dtype: DType, shape: &[usize], lo: i64, hi: i64, rng: &mut Rng) -> Array {
    let n: usize = shape.iter().product();
    let v: Vec<i64> = (0..n).map(|_| rng.range(lo, hi)).collect();
    let data = match dtype {
        DType::I32 => Data::I32(v.iter().map(|&i| i as i32).collect()),
        DType::I64 => Data::I64(v),
        DType::U32 => Data::U32(v.iter().map(|&i| i as u32).collect()),
        other => panic!("index dtype {other}"),
    };
    Array::new(shape.to_vec(), data).unwrap()
}

fn index_scalar(dtype: DType, i: i64) -> Array {
    Array::scalar(match dtype {
        DType::I32 => Scalar::I32(i as i32),
        DType::I64 => Scalar::I64(i),
        DType::U32 => Scalar::U32(i as u32),
        other => panic!("index dtype {other}"),
    })
}

/// Runs `prim` natively on 1 and 3 threads and through the interpreter: results equal
/// by `eq`, or both refusing the operands.
fn compare(prim: &Prim, ins: &[Array], eq: fn(&Array, &Array) -> bool) -> Result<(), String> {
    let want = nabla_interp::apply(prim, ins);
    for threads in [1, 3] {
        let got = eqn::run(prim, ins, threads, &NoFallback, Span::DUMMY);
        match (&want, got) {
            (Ok(w), Ok(g)) => {
                if w.len() != g.len() || !w.iter().zip(&g).all(|(a, b)| eq(a, b)) {
                    return Err(format!(
                        "{} on {:?} with {threads} threads: got {:?}, want {:?}",
                        prim.name(),
                        ins.iter().map(Array::ty).collect::<Vec<_>>(),
                        g.iter().map(short).collect::<Vec<_>>(),
                        w.iter().map(short).collect::<Vec<_>>(),
                    ));
                }
            }
            (Err(_), Err(d)) if !d.message.contains("reached the fallback") => {}
            (w, g) => {
                return Err(format!(
                    "{} on {:?} with {threads} threads: native {:?}, interpreter {:?}",
                    prim.name(),
                    ins.iter().map(Array::ty).collect::<Vec<_>>(),
                    g.map(|v| v.len()).map_err(|d| d.message),
                    w.as_ref().map(|v| v.len()).map_err(|e| e.message.clone()),
                ))
            }
        }
    }
    Ok(())
}

fn short(a: &Array) -> String {
    let v = a.to_f64_vec();
    format!("{} {:?}", a.ty(), &v[..v.len().min(12)])
}

fn same(prim: Prim, ins: &[Array]) {
    if let Err(e) = compare(&prim, ins, Array::bit_eq) {
        panic!("{e}");
    }
}

/// [`same`], but any NaN equals any NaN: a compensated sum's NaN payload depends on
/// the order of its operands, which the optimiser may commute.
fn same_up_to_nan(prim: Prim, ins: &[Array]) {
    if let Err(e) = compare(&prim, ins, Array::bit_eq_any_nan) {
        panic!("{e}");
    }
}

fn shapes() -> Vec<Vec<usize>> {
    vec![
        vec![0],
        vec![1],
        vec![7],
        vec![3, 4],
        vec![2, 0, 3],
        vec![2, 3, 4],
        vec![1, 5, 1, 2],
    ]
}

#[test]
fn take_matches_the_interpreter() {
    let mut rng = Rng(1);
    for dtype in DTYPES {
        for shape in shapes() {
            for axis in 0..shape.len() {
                for (k, ishape) in [vec![], vec![0], vec![5], vec![2, 3]].iter().enumerate() {
                    let idt = INDEX_DTYPES[k % 3];
                    let n = shape[axis] as i64;
                    let x = array(dtype, &shape, &mut rng, true);
                    let idx = indices(idt, ishape, -3, n + 3, &mut rng);
                    same(Prim::Take { axis }, &[x, idx]);
                }
            }
        }
    }
}

#[test]
fn large_takes_match_the_interpreter() {
    let mut rng = Rng(2);
    for dtype in [DType::F64, DType::I32, DType::Bool] {
        let x = array(dtype, &[100_000], &mut rng, true);
        let idx = indices(DType::I64, &[70_000], -10, 100_010, &mut rng);
        same(Prim::Take { axis: 0 }, &[x, idx]);
        let x = array(dtype, &[40, 300, 7], &mut rng, true);
        for axis in 0..3 {
            let n = x.shape()[axis] as i64;
            let idx = indices(DType::U32, &[513], 0, n + 2, &mut rng);
            same(Prim::Take { axis }, &[x.clone(), idx]);
        }
    }
}

fn pad_value(dtype: DType, rng: &mut Rng) -> Array {
    let v = array(dtype, &[1], rng, true);
    v.reshaped(Vec::new()).unwrap()
}

#[test]
fn pad_matches_the_interpreter() {
    let mut rng = Rng(3);
    for dtype in DTYPES {
        // A scalar has no widths.
        let x = array(dtype, &[], &mut rng, true);
        same(
            Prim::Pad {
                lo: vec![],
                hi: vec![],
            },
            &[x, pad_value(dtype, &mut rng)],
        );
        for shape in shapes() {
            for _ in 0..8 {
                let (lo, hi): (Vec<i64>, Vec<i64>) = shape
                    .iter()
                    .map(|&n| {
                        let lo = rng.range(-(n as i64) - 1, 3);
                        let hi = rng.range(-(n as i64) - 1, 3);
                        (lo, hi)
                    })
                    .unzip();
                let x = array(dtype, &shape, &mut rng, true);
                // Widths that would make a negative size are refused by both.
                same(Prim::Pad { lo, hi }, &[x, pad_value(dtype, &mut rng)]);
            }
        }
    }
}

#[test]
fn large_pads_match_the_interpreter() {
    let mut rng = Rng(4);
    for dtype in [DType::F32, DType::I64, DType::Bool] {
        let x = array(dtype, &[300, 200], &mut rng, true);
        for (lo, hi) in [
            (vec![2, 3], vec![1, 4]),
            (vec![-5, 0], vec![7, 0]),
            (vec![0, -3], vec![0, -150]),
            (vec![-290, -190], vec![-5, -5]),
            (vec![0, 0], vec![0, 0]),
            (vec![100, 0], vec![-300, 0]),
        ] {
            same(
                Prim::Pad { lo, hi },
                &[x.clone(), pad_value(dtype, &mut rng)],
            );
        }
        let x = array(dtype, &[50_000], &mut rng, true);
        same(
            Prim::Pad {
                lo: vec![-7],
                hi: vec![9],
            },
            &[x, pad_value(dtype, &mut rng)],
        );
    }
}

#[test]
fn dynamic_slices_match_the_interpreter() {
    let mut rng = Rng(5);
    for dtype in DTYPES {
        let x = array(dtype, &[], &mut rng, true);
        same(Prim::DynamicSlice { sizes: vec![] }, &[x]);
        let mut shapes = shapes();
        shapes.push(vec![300, 250]);
        for shape in shapes {
            for _ in 0..6 {
                let sizes: Vec<usize> = shape.iter().map(|&n| rng.below(n + 1)).collect();
                let mut ins = vec![array(dtype, &shape, &mut rng, true)];
                for &n in &shape {
                    let idt = INDEX_DTYPES[rng.below(3)];
                    ins.push(index_scalar(idt, rng.range(-3, n as i64 + 3)));
                }
                same(Prim::DynamicSlice { sizes }, &ins);
            }
        }
    }
}

#[test]
fn dynamic_update_slices_match_the_interpreter() {
    let mut rng = Rng(6);
    for dtype in DTYPES {
        let x = array(dtype, &[], &mut rng, true);
        let u = array(dtype, &[], &mut rng, true);
        same(Prim::DynamicUpdateSlice, &[x, u]);
        let mut shapes = shapes();
        shapes.push(vec![300, 250]);
        for shape in shapes {
            for _ in 0..6 {
                let ushape: Vec<usize> = shape.iter().map(|&n| rng.below(n + 1)).collect();
                let mut ins = vec![
                    array(dtype, &shape, &mut rng, true),
                    array(dtype, &ushape, &mut rng, true),
                ];
                for &n in &shape {
                    let idt = INDEX_DTYPES[rng.below(3)];
                    ins.push(index_scalar(idt, rng.range(-3, n as i64 + 3)));
                }
                same(Prim::DynamicUpdateSlice, &ins);
            }
        }
    }
}

#[test]
fn scatters_match_the_interpreter() {
    let mut rng = Rng(7);
    for dtype in DTYPES {
        for shape in shapes() {
            for axis in 0..shape.len() {
                for mode in [ScatterMode::Set, ScatterMode::Add] {
                    for ishape in [vec![], vec![0], vec![9], vec![3, 4]] {
                        let idt = INDEX_DTYPES[rng.below(3)];
                        let n = shape[axis] as i64;
                        let x = array(dtype, &shape, &mut rng, false);
                        // Few distinct indices: duplicates, negatives, past the end.
                        let idx = indices(idt, &ishape, -2, n + 1, &mut rng);
                        let mut ushape = shape[..axis].to_vec();
                        ushape.extend(&ishape);
                        ushape.extend(&shape[axis + 1..]);
                        let u = array(dtype, &ushape, &mut rng, false);
                        same(Prim::Scatter { axis, mode }, &[x, idx, u]);
                    }
                }
            }
        }
    }
}

#[test]
fn large_scatters_keep_the_index_order() {
    let mut rng = Rng(8);
    for dtype in [DType::F32, DType::F64, DType::I32, DType::Bool] {
        for (shape, axis, m) in [
            (vec![1000], 0, 200_000),
            (vec![100_000], 0, 50_000),
            (vec![500, 130], 0, 2000),
            (vec![64, 700], 1, 900),
            (vec![40, 50, 30], 1, 60),
        ] {
            for mode in [ScatterMode::Set, ScatterMode::Add] {
                let n = shape[axis] as i64;
                let x = finite_array(DType::F64, &shape, &mut rng).cast(dtype);
                let idx = indices(DType::I64, &[m], -1, n, &mut rng);
                let mut ushape = shape[..axis].to_vec();
                ushape.push(m);
                ushape.extend(&shape[axis + 1..]);
                let u = finite_array(DType::F64, &ushape, &mut rng).cast(dtype);
                same(Prim::Scatter { axis, mode }, &[x, idx, u]);
            }
        }
    }
}

#[test]
fn arg_reductions_match_the_interpreter() {
    let mut rng = Rng(9);
    for dtype in DTYPES {
        for shape in [
            vec![1],
            vec![7],
            vec![3, 4],
            vec![2, 3, 4],
            vec![4, 1, 5],
            vec![0, 3],
        ] {
            for axis in 0..shape.len() {
                for op in [ArgOp::ArgMax, ArgOp::ArgMin] {
                    for index_dtype in INDEX_DTYPES {
                        for nans in [false, true] {
                            let x = array(dtype, &shape, &mut rng, nans);
                            let prim = Prim::ArgReduce {
                                op,
                                axis,
                                index_dtype,
                            };
                            same(prim, &[x]);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn arg_reductions_of_ties_zeros_and_nans() {
    let cases: Vec<Vec<f64>> = vec![
        vec![0.0, -0.0, 0.0],
        vec![-0.0, 0.0, -0.0],
        vec![1.0, 3.0, 3.0, 1.0],
        vec![f64::NAN, 1.0, f64::NAN],
        vec![1.0, f64::NAN, 5.0, f64::NAN],
        vec![f64::NEG_INFINITY, f64::NEG_INFINITY],
        vec![f64::INFINITY, f64::NAN, f64::INFINITY],
    ];
    for v in cases {
        for dtype in [DType::F32, DType::F64] {
            let x = Array::from_vec(vec![v.len()], v.clone())
                .unwrap()
                .cast(dtype);
            for op in [ArgOp::ArgMax, ArgOp::ArgMin] {
                let prim = Prim::ArgReduce {
                    op,
                    axis: 0,
                    index_dtype: DType::I64,
                };
                same(prim, std::slice::from_ref(&x));
            }
        }
    }
}

#[test]
fn large_arg_reductions_match_the_interpreter() {
    let mut rng = Rng(10);
    for dtype in [DType::F32, DType::F64, DType::I64, DType::Bool] {
        for shape in [
            vec![200_000],
            vec![2, 70_000],
            vec![900, 100],
            vec![70_000, 3],
        ] {
            for nans in [false, true] {
                // Few NaNs, placed late, so that the piece holding the first one matters.
                let mut x = array(dtype, &shape, &mut rng, false);
                if nans && dtype.is_float() {
                    let n = x.len();
                    let mut v = x.cast(DType::F64).to_vec::<f64>().unwrap();
                    for _ in 0..3 {
                        let at = n - 1 - rng.below(n / 2);
                        v[at] = f64::NAN;
                    }
                    x = Array::from_vec(shape.clone(), v).unwrap().cast(dtype);
                }
                for axis in 0..shape.len() {
                    for op in [ArgOp::ArgMax, ArgOp::ArgMin] {
                        let prim = Prim::ArgReduce {
                            op,
                            axis,
                            index_dtype: DType::I32,
                        };
                        same(prim, &[x.clone()]);
                    }
                }
            }
        }
    }
    // Ties everywhere: the first extreme must win in every piece split.
    let x = Array::from_vec(vec![300_000], vec![1.0f32; 300_000]).unwrap();
    let prim = Prim::ArgReduce {
        op: ArgOp::ArgMax,
        axis: 0,
        index_dtype: DType::I64,
    };
    same(prim, &[x]);
}

/// Every subset of `0..rank`.
fn subsets(rank: usize) -> Vec<Vec<usize>> {
    (0..1usize << rank)
        .map(|m| (0..rank).filter(|a| m >> a & 1 == 1).collect())
        .collect()
}

fn compensated(axes: Vec<usize>) -> Prim {
    Prim::Reduce {
        op: ReduceOp::Sum,
        axes,
        compensated: true,
    }
}

#[test]
fn compensated_sums_match_the_interpreter() {
    let mut rng = Rng(11);
    for dtype in [DType::F32, DType::F64] {
        for shape in [
            vec![],
            vec![0],
            vec![9],
            vec![3, 0],
            vec![3, 5],
            vec![2, 3, 4],
            vec![3, 5000],
            vec![4100, 3],
            vec![2, 4097, 2],
            vec![50_000],
            vec![9, 13_000],
            vec![9000, 300],
            vec![3, 5000, 7],
        ] {
            for axes in subsets(shape.len()) {
                let x = finite_array(dtype, &shape, &mut rng);
                same_up_to_nan(compensated(axes.clone()), &[x]);
                let x = array(dtype, &shape, &mut rng, true);
                same_up_to_nan(compensated(axes), &[x]);
            }
        }
    }
    // Non-float operands are refused by both.
    let x = array(DType::I32, &[4], &mut rng, false);
    same_up_to_nan(compensated(vec![0]), &[x]);
}

fn dot(lc: &[usize], rc: &[usize], lb: &[usize], rb: &[usize]) -> Prim {
    Prim::DotGeneral {
        lhs_contract: lc.to_vec(),
        rhs_contract: rc.to_vec(),
        lhs_batch: lb.to_vec(),
        rhs_batch: rb.to_vec(),
        compensated: true,
    }
}

#[test]
fn compensated_products_match_the_interpreter() {
    let mut rng = Rng(12);
    type Case = (Vec<usize>, Vec<usize>, Prim);
    let cases: Vec<Case> = vec![
        (vec![5], vec![5], dot(&[0], &[0], &[], &[])),
        (vec![0], vec![0], dot(&[0], &[0], &[], &[])),
        (vec![3, 4], vec![4, 5], dot(&[1], &[0], &[], &[])),
        (vec![3, 0], vec![0, 5], dot(&[1], &[0], &[], &[])),
        (vec![4, 3], vec![4, 5], dot(&[0], &[0], &[], &[])),
        (vec![2, 3, 4], vec![2, 4, 5], dot(&[2], &[1], &[0], &[0])),
        (vec![3, 2, 4], vec![4, 5, 2], dot(&[2], &[0], &[1], &[2])),
        (
            vec![2, 3, 4],
            vec![4, 2, 6],
            dot(&[0, 2], &[1, 0], &[], &[]),
        ),
        (
            vec![2, 3, 4],
            vec![3, 4, 2],
            dot(&[2, 0], &[1, 2], &[], &[]),
        ),
        (vec![3], vec![2], dot(&[], &[], &[], &[])),
        (vec![20_000], vec![20_000], dot(&[0], &[0], &[], &[])),
        (vec![64, 600], vec![600, 64], dot(&[1], &[0], &[], &[])),
        (vec![2, 9000], vec![9000], dot(&[1], &[0], &[], &[])),
    ];
    for dtype in [DType::F32, DType::F64] {
        for (ls, rs, prim) in &cases {
            let l = finite_array(dtype, ls, &mut rng);
            let r = finite_array(dtype, rs, &mut rng);
            same_up_to_nan(prim.clone(), &[l, r]);
            let l = array(dtype, ls, &mut rng, true);
            let r = array(dtype, rs, &mut rng, true);
            same_up_to_nan(prim.clone(), &[l, r]);
        }
    }
}

#[test]
fn scalar_reductions_match_the_interpreter() {
    let specials = [0.0, -0.0, 1.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let ops = [
        ReduceOp::Sum,
        ReduceOp::Prod,
        ReduceOp::Max,
        ReduceOp::Min,
        ReduceOp::And,
        ReduceOp::Or,
    ];
    let mut rng = Rng(13);
    for op in ops {
        let prim = Prim::Reduce {
            op,
            axes: vec![],
            compensated: false,
        };
        for dtype in DTYPES {
            for _ in 0..4 {
                let x = array(dtype, &[], &mut rng, true);
                same(prim.clone(), &[x]);
            }
        }
        for s in specials {
            same(prim.clone(), &[Array::scalar(Scalar::F64(s))]);
            same(prim.clone(), &[Array::scalar(Scalar::F32(s as f32))]);
        }
    }
}

#[test]
fn malformed_operands_are_errors_not_panics() {
    let x = Array::from_vec(vec![4], vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
    let fidx = Array::from_vec(vec![2], vec![0.0f64, 1.0]).unwrap();
    let idx = Array::from_vec(vec![2], vec![0i32, 1]).unwrap();
    let cases: Vec<(Prim, Vec<Array>)> = vec![
        (Prim::Take { axis: 0 }, vec![x.clone(), fidx.clone()]),
        (Prim::Take { axis: 1 }, vec![x.clone(), idx.clone()]),
        (
            Prim::Scatter {
                axis: 0,
                mode: ScatterMode::Add,
            },
            vec![x.clone(), idx.clone(), x.clone()],
        ),
        (
            Prim::Pad {
                lo: vec![1],
                hi: vec![1],
            },
            vec![x.clone(), Array::scalar(Scalar::I32(0))],
        ),
        (
            Prim::Pad {
                lo: vec![-3],
                hi: vec![-3],
            },
            vec![x.clone(), Array::scalar(Scalar::F64(0.0))],
        ),
        (
            Prim::DynamicSlice { sizes: vec![5] },
            vec![x.clone(), idx.clone()],
        ),
        (
            Prim::DynamicUpdateSlice,
            vec![x.clone(), x.clone(), fidx.clone()],
        ),
        (
            Prim::ArgReduce {
                op: ArgOp::ArgMax,
                axis: 0,
                index_dtype: DType::F32,
            },
            vec![x.clone()],
        ),
        (compensated(vec![3]), vec![x.clone()]),
        (dot(&[0], &[0], &[], &[]), vec![x.clone(), idx.clone()]),
    ];
    for (prim, ins) in cases {
        for threads in [1, 2] {
            let got = eqn::run(&prim, &ins, threads, &NoFallback, Span::DUMMY);
            let err = got.expect_err("malformed operands were accepted");
            assert!(
                !err.message.contains("reached the fallback"),
                "{}: {}",
                prim.name(),
                err.message
            );
        }
        assert!(nabla_interp::apply(&prim, &ins).is_err());
    }
    // A result too large to allocate is the interpreter's error, not an abort.
    let big = Prim::Pad {
        lo: vec![1 << 50],
        hi: vec![0],
    };
    let err = eqn::run(
        &big,
        &[x, Array::scalar(Scalar::F64(0.0))],
        1,
        &NoFallback,
        Span::DUMMY,
    )
    .expect_err("an absurd pad was accepted");
    assert_eq!(err.code, Code::ALLOCATION_TOO_LARGE);
}

#[test]
fn programs_run_the_primitives_natively() {
    let mut b = Builder::new();
    let x = b.param(Type::new(DType::F64, vec![6, 5]));
    let idx = b.param(Type::new(DType::I32, vec![4]));
    let upd = b.param(Type::new(DType::F64, vec![6, 4]));
    let sp = Span::DUMMY;
    let mut emit = |prim: Prim, args: Vec<Atom>| b.emit1(prim, args, sp).unwrap();
    let t = emit(
        Prim::Take { axis: 1 },
        vec![x.clone().into(), idx.clone().into()],
    );
    let sc = emit(
        Prim::Scatter {
            axis: 1,
            mode: ScatterMode::Add,
        },
        vec![x.into(), idx.into(), upd.into()],
    );
    let p = emit(
        Prim::Pad {
            lo: vec![1, -1],
            hi: vec![2, 3],
        },
        vec![t.into(), Atom::Lit(Scalar::F64(-1.5))],
    );
    let a = emit(
        Prim::ArgReduce {
            op: ArgOp::ArgMax,
            axis: 0,
            index_dtype: DType::I32,
        },
        vec![p.clone().into()],
    );
    let s = emit(compensated(vec![0, 1]), vec![p.into()]);
    let ds = emit(
        Prim::DynamicSlice { sizes: vec![3, 2] },
        vec![
            sc.clone().into(),
            Atom::Lit(Scalar::I32(2)),
            Atom::Lit(Scalar::I64(-1)),
        ],
    );
    let dus = emit(
        Prim::DynamicUpdateSlice,
        vec![
            sc.into(),
            ds.clone().into(),
            Atom::Lit(Scalar::U32(1)),
            Atom::Lit(Scalar::I32(9)),
        ],
    );
    let f = b.finish("native", vec![a.into(), s.into(), ds.into(), dus.into()]);
    let mut rng = Rng(14);
    let args = vec![
        array(DType::F64, &[6, 5], &mut rng, true),
        indices(DType::I32, &[4], -2, 7, &mut rng),
        array(DType::F64, &[6, 4], &mut rng, false),
    ];
    let want = nabla_interp::eval_func(&f, &args).unwrap();
    let compiled = Compiled::new(&f).unwrap();
    for threads in [1, 3] {
        let got = compiled.run(&args, threads, &NoFallback).unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(g.bit_eq(w), "{} vs {}", short(g), short(w));
        }
    }
}

/// One random primitive application: a dtype, a shape and raw numbers for the
/// parameters, interpreted by [`case`] into well-typed operands (mostly; some are
/// deliberately malformed, which both sides must refuse).
#[derive(Clone, Debug)]
struct Spec {
    kind: u8,
    dtype: usize,
    shape: Vec<usize>,
    seed: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..8,
        0..DTYPES.len(),
        prop::collection::vec(0..7usize, 0..4),
        any::<u64>(),
    )
        .prop_map(|(kind, dtype, shape, seed)| Spec {
            kind,
            dtype,
            shape,
            seed,
        })
}

fn case(s: &Spec) -> Option<(Prim, Vec<Array>)> {
    let mut rng = Rng(s.seed);
    let dtype = DTYPES[s.dtype];
    let shape = &s.shape;
    let rank = shape.len();
    let nans = rng.below(2) == 0;
    let x = array(dtype, shape, &mut rng, nans);
    let idt = INDEX_DTYPES[rng.below(3)];
    let axis = rng.below(rank);
    Some(match s.kind {
        0 if rank > 0 => {
            let ishape: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(5)).collect();
            let n = shape[axis] as i64;
            let idx = indices(idt, &ishape, -2, n + 2, &mut rng);
            (Prim::Take { axis }, vec![x, idx])
        }
        1 => {
            let (lo, hi) = shape
                .iter()
                .map(|&n| (rng.range(-(n as i64), 3), rng.range(-(n as i64), 3)))
                .unzip();
            (Prim::Pad { lo, hi }, vec![x, pad_value(dtype, &mut rng)])
        }
        2 => {
            let sizes: Vec<usize> = shape.iter().map(|&n| rng.below(n + 1)).collect();
            let mut ins = vec![x];
            for &n in shape {
                ins.push(index_scalar(idt, rng.range(-2, n as i64 + 2)));
            }
            (Prim::DynamicSlice { sizes }, ins)
        }
        3 => {
            let ushape: Vec<usize> = shape.iter().map(|&n| rng.below(n + 1)).collect();
            let mut ins = vec![x, array(dtype, &ushape, &mut rng, true)];
            for &n in shape {
                ins.push(index_scalar(idt, rng.range(-2, n as i64 + 2)));
            }
            (Prim::DynamicUpdateSlice, ins)
        }
        4 if rank > 0 => {
            let ishape: Vec<usize> = (0..rng.below(3)).map(|_| rng.below(5)).collect();
            let n = shape[axis] as i64;
            let idx = indices(idt, &ishape, -2, n + 1, &mut rng);
            let mut ushape = shape[..axis].to_vec();
            ushape.extend(&ishape);
            ushape.extend(&shape[axis + 1..]);
            let u = array(dtype, &ushape, &mut rng, false);
            let mode = if rng.below(2) == 0 {
                ScatterMode::Set
            } else {
                ScatterMode::Add
            };
            (Prim::Scatter { axis, mode }, vec![x, idx, u])
        }
        5 if rank > 0 => {
            let op = if rng.below(2) == 0 {
                ArgOp::ArgMax
            } else {
                ArgOp::ArgMin
            };
            let prim = Prim::ArgReduce {
                op,
                axis,
                index_dtype: idt,
            };
            (prim, vec![x])
        }
        6 => {
            let axes: Vec<usize> = (0..rank).filter(|_| rng.below(2) == 0).collect();
            let fdt = [DType::F32, DType::F64][rng.below(2)];
            (compensated(axes), vec![finite_array(fdt, shape, &mut rng)])
        }
        7 => {
            // A product contracting a random subset of axes against a permuted copy.
            let fdt = [DType::F32, DType::F64][rng.below(2)];
            let l = array(fdt, shape, &mut rng, true);
            let mut perm: Vec<usize> = (0..rank).collect();
            for i in (1..rank).rev() {
                perm.swap(i, rng.below(i + 1));
            }
            let rshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            let r = array(fdt, &rshape, &mut rng, true);
            // Axis `perm[i]` of `l` lines up with axis `i` of `r`.
            let (mut lc, mut rc, mut lb, mut rb) = (vec![], vec![], vec![], vec![]);
            for (i, &p) in perm.iter().enumerate() {
                match rng.below(3) {
                    0 => (lc.push(p), rc.push(i)),
                    1 => (lb.push(p), rb.push(i)),
                    _ => ((), ()),
                };
            }
            // Free axes of both sides: only those not paired.
            let prim = Prim::DotGeneral {
                lhs_contract: lc,
                rhs_contract: rc,
                lhs_batch: lb,
                rhs_batch: rb,
                compensated: true,
            };
            (prim, vec![l, r])
        }
        _ => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn native_primitives_match_the_interpreter(s in spec()) {
        if let Some((prim, ins)) = case(&s) {
            // Compensated sums and products: the NaN's payload depends on operand
            // order, which the optimiser may commute.
            let eq = match prim {
                Prim::Reduce { compensated: true, .. }
                | Prim::DotGeneral { compensated: true, .. } => Array::bit_eq_any_nan,
                _ => Array::bit_eq,
            };
            compare(&prim, &ins, eq).map_err(TestCaseError::fail)?;
        }
    }
}
