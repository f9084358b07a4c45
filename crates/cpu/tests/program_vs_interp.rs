//! Random small IR functions run as CPU programs (fused kernels, views, the GEMM path
//! and interpreter fallback for the unfused primitives) against the reference
//! interpreter.
//!
//! A [`Spec`] is plain data (a dtype, a first parameter shape, steps of a kind and raw
//! numbers, an input seed); [`build`] interprets it deterministically, picking operands
//! from the values built so far by index modulo the pool size, so every spec builds a
//! well-typed function and proptest can shrink freely. Steps may add parameters of the
//! shapes they need (the right operand of a product, a long vector to reduce fully).
//!
//! Every value carries an `inexact` flag: set by transcendental functions and by float
//! matrix products (which `gemm` rounds in its own order), and inherited. Inexact values
//! never feed discontinuous operations (comparisons, rounding, conversion to integers,
//! remainders, divisors) or functions that amplify error (`exp`, `log`, and `sin` and
//! `cos`, whose operands may be large), so a result differs from the interpreter's only
//! by a small multiple of the documented rounding; exact results must match bit for bit.
//! Threads 1 and 3 must agree bit for bit always.

mod fallbacks;
use fallbacks::Interp as InterpFallback;

use nabla_cpu::program::Compiled;
use nabla_diag::Span;
use nabla_ir::{
    print_func, Array, Atom, BinaryOp, Builder, CmpOp, CumOp, DType, Data, Func, Prim, ReduceOp,
    Scalar, Type, UnaryOp, Var,
};
use proptest::prelude::*;

const DTYPES: [DType; 4] = [DType::F64, DType::F32, DType::I32, DType::I64];

#[derive(Clone, Debug)]
struct Spec {
    dtype: usize,
    shape: Vec<usize>,
    steps: Vec<(u8, u32, u32)>,
    seed: u64,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..DTYPES.len(),
        prop::collection::vec(1..6usize, 0..4),
        prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>()), 1..14),
        any::<u64>(),
    )
        .prop_map(|(dtype, shape, steps, seed)| Spec {
            dtype,
            shape,
            steps,
            seed,
        })
}

#[derive(Clone)]
struct Val {
    var: Var,
    inexact: bool,
}

/// A tiny deterministic generator for static parameters and input data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
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
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sp() -> Span {
    Span::default()
}

fn lit(d: DType, x: f64) -> Atom {
    Atom::Lit(Scalar::F64(x).cast(d))
}

struct Gen {
    b: Builder,
    pool: Vec<Val>,
    rng: Rng,
    /// Transcendental or matrix-product values were produced.
    inexact_any: bool,
    /// Some inexact value was f32 (its error carries into f64 conversions).
    inexact_f32: bool,
}

impl Gen {
    fn push(&mut self, var: Var, inexact: bool) -> Val {
        let v = Val { var, inexact };
        self.inexact_any |= inexact;
        self.inexact_f32 |= inexact && v.var.ty.dtype == DType::F32;
        self.pool.push(v.clone());
        v
    }

    fn emit(&mut self, prim: Prim, args: Vec<Atom>, inexact: bool) -> Option<Val> {
        match self.b.emit1(prim, args, sp()) {
            Ok(v) => Some(self.push(v, inexact)),
            Err(_) => None,
        }
    }

    fn pick(&self, r: u32) -> Val {
        self.pool[r as usize % self.pool.len()].clone()
    }

    /// A pool value of `ty` other than the one at `r` if there is one, else `None`.
    fn partner(&self, ty: &Type, r: u32) -> Option<Val> {
        let n = self.pool.len();
        (1..n)
            .map(|k| &self.pool[(r as usize + k) % n])
            .find(|v| &v.var.ty == ty)
            .cloned()
    }

    /// A numeric (non-bool) pool value, preferring the one at `r`.
    fn numeric(&self, r: u32, exact: bool) -> Option<Val> {
        let n = self.pool.len();
        (0..n)
            .map(|k| &self.pool[(r as usize + k) % n])
            .find(|v| v.var.ty.dtype != DType::Bool && (!exact || !v.inexact))
            .cloned()
    }

    fn float(&self, r: u32, exact: bool) -> Option<Val> {
        self.numeric(r, exact)
            .filter(|v| v.var.ty.dtype.is_float())
            .or_else(|| {
                let n = self.pool.len();
                (0..n)
                    .map(|k| &self.pool[(r as usize + k) % n])
                    .find(|v| v.var.ty.dtype.is_float() && (!exact || !v.inexact))
                    .cloned()
            })
    }

    fn step(&mut self, kind: u8, r1: u32, r2: u32) -> Option<Val> {
        let x = self.pick(r1);
        let d = x.var.ty.dtype;
        let shape = x.var.ty.shape.clone();
        let rank = shape.len();
        let xa: Atom = (&x.var).into();
        match kind % 30 {
            // Exact unary ops.
            0 => {
                let x = self.numeric(r1, false)?;
                let d = x.var.ty.dtype;
                let ops: &[UnaryOp] = if d.is_float() && !x.inexact {
                    &[
                        UnaryOp::Neg,
                        UnaryOp::Abs,
                        UnaryOp::Sign,
                        UnaryOp::Floor,
                        UnaryOp::Ceil,
                        UnaryOp::Round,
                        UnaryOp::Sqrt,
                        UnaryOp::IsNan,
                        UnaryOp::IsFinite,
                    ]
                } else if d.is_float() {
                    &[UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sqrt]
                } else {
                    &[UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sign, UnaryOp::Not]
                };
                let op = ops[r2 as usize % ops.len()];
                let a = if op == UnaryOp::Sqrt {
                    self.emit(
                        Prim::Unary(UnaryOp::Abs),
                        vec![x.var.clone().into()],
                        x.inexact,
                    )?
                } else {
                    x.clone()
                };
                self.emit(Prim::Unary(op), vec![a.var.into()], x.inexact)
            }
            // Transcendental unary ops; exp and log only of exact operands, log of
            // positive values.
            1 => {
                let x = self.float(r1, false)?;
                let ops = [
                    UnaryOp::Exp,
                    UnaryOp::Log,
                    UnaryOp::Sin,
                    UnaryOp::Cos,
                    UnaryOp::Tanh,
                    UnaryOp::Atan,
                    UnaryOp::Log1p,
                    UnaryOp::Expm1,
                    UnaryOp::Erf,
                ];
                let mut op = ops[r2 as usize % ops.len()];
                // Exp magnifies an operand's rounding error by the operand; sin and cos
                // by the operand's magnitude, and an inexact operand may be as large as
                // `exp(20)`, where one f32 ulp is 32 radians.
                if x.inexact
                    && matches!(
                        op,
                        UnaryOp::Exp | UnaryOp::Log | UnaryOp::Expm1 | UnaryOp::Sin | UnaryOp::Cos
                    )
                {
                    op = UnaryOp::Tanh;
                }
                let a = match op {
                    UnaryOp::Log | UnaryOp::Log1p => {
                        let ab = self.emit(
                            Prim::Unary(UnaryOp::Abs),
                            vec![x.var.clone().into()],
                            x.inexact,
                        )?;
                        // `abs(x) + 0.5` keeps log away from zero.
                        let half = self.splat(x.var.ty.dtype, &ab.var.ty.shape, 0.5)?;
                        self.emit(
                            Prim::Binary(BinaryOp::Add),
                            vec![ab.var.into(), half.var.into()],
                            x.inexact,
                        )?
                    }
                    _ => x,
                };
                self.emit(Prim::Unary(op), vec![a.var.into()], true)
            }
            // Binary ops.
            2 => {
                if d == DType::Bool {
                    let ops = [BinaryOp::And, BinaryOp::Or, BinaryOp::Xor, BinaryOp::Max];
                    let y = self.partner(&x.var.ty, r2).unwrap_or(x.clone());
                    return self.emit(
                        Prim::Binary(ops[r2 as usize % ops.len()]),
                        vec![xa, y.var.into()],
                        false,
                    );
                }
                let y = self.partner(&x.var.ty, r2).unwrap_or(x.clone());
                let inexact = x.inexact || y.inexact;
                let ops: &[BinaryOp] = if d.is_float() {
                    if y.inexact {
                        &[
                            BinaryOp::Add,
                            BinaryOp::Sub,
                            BinaryOp::Mul,
                            BinaryOp::Max,
                            BinaryOp::Min,
                        ]
                    } else if x.inexact {
                        &[
                            BinaryOp::Add,
                            BinaryOp::Sub,
                            BinaryOp::Mul,
                            BinaryOp::Max,
                            BinaryOp::Min,
                            BinaryOp::Div,
                        ]
                    } else {
                        &[
                            BinaryOp::Add,
                            BinaryOp::Sub,
                            BinaryOp::Mul,
                            BinaryOp::Max,
                            BinaryOp::Min,
                            BinaryOp::Div,
                            BinaryOp::Rem,
                            BinaryOp::Atan2,
                        ]
                    }
                } else {
                    &[
                        BinaryOp::Add,
                        BinaryOp::Sub,
                        BinaryOp::Mul,
                        BinaryOp::Max,
                        BinaryOp::Min,
                        BinaryOp::And,
                        BinaryOp::Or,
                        BinaryOp::Xor,
                    ]
                };
                let op = ops[(r2 >> 8) as usize % ops.len()];
                self.emit(
                    Prim::Binary(op),
                    vec![xa, y.var.into()],
                    inexact || op == BinaryOp::Atan2,
                )
            }
            // Compare and select.
            3 => {
                let x = self.numeric(r1, true)?;
                let y = self
                    .partner(&x.var.ty, r2)
                    .filter(|y| !y.inexact)
                    .unwrap_or(x.clone());
                let op = CmpOp::ALL[r2 as usize % 6];
                let p = self.emit(
                    Prim::Compare(op),
                    vec![x.var.clone().into(), y.var.clone().into()],
                    false,
                )?;
                let (t, f) = if r2 & 64 == 0 { (x, y) } else { (y, x) };
                let inexact = t.inexact || f.inexact;
                self.emit(
                    Prim::Select,
                    vec![p.var.into(), t.var.into(), f.var.into()],
                    inexact,
                )
            }
            // Convert between f64/f32/i32/i64 (to integers only from exact values).
            4 => {
                let to = DTYPES[r2 as usize % 4];
                if x.inexact && !to.is_float() {
                    return None;
                }
                self.emit(Prim::Convert { dtype: to }, vec![xa], x.inexact)
            }
            // integer_pow.
            5 => {
                let x = self.numeric(r1, false)?;
                let e = if x.var.ty.dtype.is_float() && !x.inexact {
                    (r2 % 8) as i64 - 2
                } else {
                    (r2 % 5) as i64
                };
                self.emit(
                    Prim::IntPow { exponent: e },
                    vec![x.var.clone().into()],
                    x.inexact,
                )
            }
            // broadcast_in_dim: insert an axis, widen size-1 axes.
            6 => {
                if rank >= 4 {
                    return None;
                }
                let at = self.rng.below(rank + 1);
                let mut out = Vec::new();
                let mut dims = Vec::new();
                for (i, &s) in shape.iter().enumerate() {
                    if i == at {
                        out.push(1 + self.rng.below(4));
                    }
                    dims.push(out.len());
                    out.push(if s == 1 { 1 + self.rng.below(3) } else { s });
                }
                if at == rank {
                    out.push(1 + self.rng.below(4));
                }
                self.emit(
                    Prim::BroadcastInDim { shape: out, dims },
                    vec![xa],
                    x.inexact,
                )
            }
            7 => {
                let mut perm: Vec<usize> = (0..rank).collect();
                for i in (1..rank).rev() {
                    let j = self.rng.below(i + 1);
                    perm.swap(i, j);
                }
                self.emit(Prim::Transpose { perm }, vec![xa], x.inexact)
            }
            8 => {
                let (mut start, mut limit, mut stride) = (vec![], vec![], vec![]);
                for &s in &shape {
                    let a = self.rng.below(s.div_ceil(2));
                    let b = a + 1 + self.rng.below(s - a);
                    start.push(a);
                    limit.push(b.min(s));
                    stride.push(1 + self.rng.below(2));
                }
                self.emit(
                    Prim::Slice {
                        start,
                        limit,
                        stride,
                    },
                    vec![xa],
                    x.inexact,
                )
            }
            9 => {
                let axes: Vec<usize> = (0..rank).filter(|_| self.rng.below(2) == 0).collect();
                self.emit(Prim::Rev { axes }, vec![xa], x.inexact)
            }
            10 => {
                let n: usize = shape.iter().product();
                let mut divs: Vec<usize> = (1..=n).filter(|k| n.is_multiple_of(*k)).collect();
                if divs.is_empty() {
                    divs.push(0);
                }
                let a = divs[self.rng.below(divs.len())];
                let new = match r2 % 3 {
                    0 => vec![n],
                    1 => vec![a, n.checked_div(a).unwrap_or(3)],
                    _ => vec![n.checked_div(a).unwrap_or(2), 1, a],
                };
                self.emit(Prim::Reshape { shape: new }, vec![xa], x.inexact)
            }
            // Reductions over random axes.
            11 => self.reduce(x, r2),
            // A full reduction of a few thousand elements (several canonical blocks).
            12 => {
                let n = 1000 + r2 as usize % 9000;
                let dd = if d == DType::Bool { DType::F64 } else { d };
                let sh = if r2 & 1 == 0 {
                    vec![n]
                } else {
                    vec![n / 37 + 1, 37]
                };
                let p = self.b.param(Type::new(dd, sh));
                let p = self.push(p, false);
                let sq = self.emit(
                    Prim::Binary(BinaryOp::Mul),
                    vec![p.var.clone().into(), p.var.clone().into()],
                    false,
                )?;
                let ops = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum];
                let op = ops[(r2 >> 4) as usize % 4];
                let src = if r2 & 2 == 0 { p } else { sq };
                let axes = (0..src.var.ty.rank()).collect();
                self.emit(
                    Prim::Reduce {
                        op,
                        axes,
                        compensated: false,
                    },
                    vec![src.var.into()],
                    false,
                )
            }
            // dot_general: dot products, matrix-vector, matrix-matrix.
            13 => {
                let x = self.numeric(r1, false)?;
                let d = x.var.ty.dtype;
                let shape = x.var.ty.shape.clone();
                if shape.is_empty() {
                    return None;
                }
                let ax = r2 as usize % shape.len();
                let k = shape[ax];
                let n = match (r2 >> 4) % 3 {
                    0 => 1,
                    _ => 2 + (r2 >> 8) as usize % 9,
                };
                let (rhs, rc) = if n == 1 && (r2 >> 12).is_multiple_of(2) {
                    (self.b.param(Type::new(d, vec![k])), 0)
                } else if (r2 >> 12).is_multiple_of(2) {
                    (self.b.param(Type::new(d, vec![k, n])), 0)
                } else {
                    (self.b.param(Type::new(d, vec![n, k])), 1)
                };
                let m: usize = shape.iter().product::<usize>() / k.max(1);
                let nn: usize = rhs.ty.numel() / k.max(1);
                let rhs = self.push(rhs, false);
                let gemm = d.is_float() && m >= 2 && nn >= 2;
                self.emit(
                    Prim::DotGeneral {
                        lhs_contract: vec![ax],
                        rhs_contract: vec![rc],
                        lhs_batch: vec![],
                        rhs_batch: vec![],
                        compensated: false,
                    },
                    vec![x.var.clone().into(), rhs.var.into()],
                    x.inexact || gemm,
                )
            }
            // iota added to a value.
            14 => {
                if rank == 0 || d == DType::Bool {
                    return None;
                }
                let io = self.emit(
                    Prim::Iota {
                        dtype: d,
                        shape: shape.clone(),
                        axis: r2 as usize % rank,
                    },
                    vec![],
                    false,
                )?;
                self.emit(
                    Prim::Binary(BinaryOp::Add),
                    vec![xa, io.var.into()],
                    x.inexact,
                )
            }
            15 => {
                let lo: Vec<i64> = shape.iter().map(|_| self.rng.below(4) as i64 - 1).collect();
                let hi: Vec<i64> = shape.iter().map(|_| self.rng.below(4) as i64 - 1).collect();
                let pv = Atom::Lit(Scalar::F64(1.5).cast(d));
                self.emit(Prim::Pad { lo, hi }, vec![xa, pv], x.inexact)
            }
            16 => {
                if rank == 0 {
                    return None;
                }
                let axis = r2 as usize % rank;
                let y = self.partner(&x.var.ty, r2).unwrap_or(x.clone());
                self.emit(
                    Prim::Concat { axis },
                    vec![xa.clone(), y.var.clone().into(), xa],
                    x.inexact || y.inexact,
                )
            }
            17 => {
                if rank == 0 || d == DType::Bool {
                    return None;
                }
                let op = if r2.is_multiple_of(4) {
                    CumOp::Prod
                } else {
                    CumOp::Sum
                };
                self.emit(
                    Prim::Cumulative {
                        op,
                        axis: (r2 >> 2) as usize % rank,
                        reverse: r2 & 64 != 0,
                    },
                    vec![xa],
                    x.inexact,
                )
            }
            // take with constant (partly out-of-range) indices.
            18 => {
                if rank == 0 {
                    return None;
                }
                let axis = r2 as usize % rank;
                let len = shape[axis] as i64;
                let ishape = if r2 & 16 == 0 {
                    vec![1 + self.rng.below(5)]
                } else {
                    vec![2, 1 + self.rng.below(3)]
                };
                let n: usize = ishape.iter().product();
                let idx: Vec<i32> = (0..n)
                    .map(|_| (self.rng.below(len as usize + 2) as i64 - 1) as i32)
                    .collect();
                let value = Array::new(ishape, Data::I32(idx)).ok()?;
                let c = self.emit(Prim::Constant { value }, vec![], false)?;
                self.emit(Prim::Take { axis }, vec![xa, c.var.into()], x.inexact)
            }
            // cond on a reduced predicate.
            19 => {
                let pv = self.numeric(r2, true)?;
                let pd = pv.var.ty.dtype;
                let all = (0..pv.var.ty.rank()).collect();
                let red = self.emit(
                    Prim::Reduce {
                        op: ReduceOp::Max,
                        axes: all,
                        compensated: false,
                    },
                    vec![pv.var.into()],
                    false,
                )?;
                let pred = self.emit(
                    Prim::Compare(CmpOp::Gt),
                    vec![red.var.into(), lit(pd, 0.5)],
                    false,
                )?;
                let ty = x.var.ty.clone();
                let ps = self.b.begin_body(std::slice::from_ref(&ty));
                let t = if d == DType::Bool {
                    self.b
                        .emit1(Prim::Unary(UnaryOp::Not), vec![ps[0].clone().into()], sp())
                } else {
                    self.b
                        .emit1(Prim::Unary(UnaryOp::Neg), vec![ps[0].clone().into()], sp())
                }
                .ok();
                let then_body = self
                    .b
                    .end_body(vec![t.map_or(ps[0].clone().into(), Atom::from)]);
                let ps = self.b.begin_body(std::slice::from_ref(&ty));
                let op = if d == DType::Bool {
                    BinaryOp::Xor
                } else {
                    BinaryOp::Mul
                };
                let e = self
                    .b
                    .emit1(
                        Prim::Binary(op),
                        vec![ps[0].clone().into(), ps[0].clone().into()],
                        sp(),
                    )
                    .ok();
                let else_body = self
                    .b
                    .end_body(vec![e.map_or(ps[0].clone().into(), Atom::from)]);
                self.emit(
                    Prim::Cond {
                        then_body,
                        else_body,
                    },
                    vec![pred.var.into(), xa],
                    x.inexact,
                )
            }
            // scan: running sum along axis 0, carry starting from the first slice.
            20 => {
                if rank == 0 || d == DType::Bool {
                    return None;
                }
                let len = shape[0];
                let cty = Type::new(d, shape[1..].to_vec());
                let init = self.emit(
                    Prim::Reduce {
                        op: ReduceOp::Max,
                        axes: vec![0],
                        compensated: false,
                    },
                    vec![xa.clone()],
                    x.inexact,
                )?;
                let ps = self.b.begin_body(&[cty.clone(), cty.clone()]);
                let c = self
                    .b
                    .emit1(
                        Prim::Binary(BinaryOp::Add),
                        vec![ps[0].clone().into(), ps[1].clone().into()],
                        sp(),
                    )
                    .ok()?;
                let y = self
                    .b
                    .emit1(
                        Prim::Binary(BinaryOp::Sub),
                        vec![ps[1].clone().into(), ps[0].clone().into()],
                        sp(),
                    )
                    .ok()?;
                let body = self.b.end_body(vec![c.into(), y.into()]);
                let outs = self
                    .b
                    .emit(
                        Prim::Scan {
                            body,
                            nconsts: 0,
                            ncarry: 1,
                            length: len,
                            reverse: r2 & 1 != 0,
                        },
                        vec![init.var.into(), xa],
                        sp(),
                    )
                    .ok()?;
                let mut last = None;
                for o in outs {
                    last = Some(self.push(o, x.inexact));
                }
                last
            }
            // Extra weight on the elementwise steps.
            22..=29 => self.step(kind % 4 + 1 - (kind & 1), r1, r2),
            // A fresh parameter of the first value's shape (more operands to combine).
            _ => {
                let p = self.b.param(x.var.ty.with_dtype(if d == DType::Bool {
                    DType::F64
                } else {
                    d
                }));
                Some(self.push(p, false))
            }
        }
    }

    fn reduce(&mut self, x: Val, r2: u32) -> Option<Val> {
        let rank = x.var.ty.rank();
        let d = x.var.ty.dtype;
        let axes: Vec<usize> = (0..rank).filter(|i| (r2 >> (i + 4)) & 1 == 1).collect();
        let ops: &[ReduceOp] = if d == DType::Bool {
            &[ReduceOp::And, ReduceOp::Or, ReduceOp::Max, ReduceOp::Min]
        } else {
            &[ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod]
        };
        let op = ops[r2 as usize % ops.len()];
        self.emit(
            Prim::Reduce {
                op,
                axes,
                compensated: false,
            },
            vec![x.var.clone().into()],
            x.inexact,
        )
    }

    /// A constant `value` of `dtype` broadcast to `shape`.
    fn splat(&mut self, dtype: DType, shape: &[usize], value: f64) -> Option<Val> {
        self.emit(
            Prim::BroadcastInDim {
                shape: shape.to_vec(),
                dims: vec![],
            },
            vec![lit(dtype, value)],
            false,
        )
    }
}

struct Case {
    f: Func,
    args: Vec<Array>,
    inexact: bool,
    inexact_f32: bool,
}

fn build(s: &Spec) -> Case {
    let mut g = Gen {
        b: Builder::new(),
        pool: Vec::new(),
        rng: Rng(s.seed),
        inexact_any: false,
        inexact_f32: false,
    };
    let p = g.b.param(Type::new(DTYPES[s.dtype], s.shape.clone()));
    g.push(p, false);
    for &(kind, r1, r2) in &s.steps {
        // Keep values small: skip steps whose operand would be large.
        let _ = g.step(kind, r1, r2);
        if g.pool.last().is_some_and(|v| v.var.ty.numel() > 20_000) {
            // A big value stays only as the input of a full reduction.
            let v = g.pool.pop().unwrap_or_else(|| unreachable!());
            let _ = g.reduce(v, 0xFFF0 | (r2 & 3));
        }
    }
    let results: Vec<Atom> = g
        .pool
        .iter()
        .rev()
        .take(3)
        .map(|v| v.var.clone().into())
        .collect();
    let params = g.b.depth();
    debug_assert_eq!(params, 1);
    let f = g.b.finish("prop", results);
    let mut rng = Rng(s.seed ^ 0x5555);
    let args = f
        .body
        .params
        .iter()
        .map(|p| input(&p.ty, &mut rng))
        .collect();
    Case {
        f,
        args,
        inexact: g.inexact_any,
        inexact_f32: g.inexact_f32,
    }
}

fn input(ty: &Type, rng: &mut Rng) -> Array {
    let n = ty.numel();
    let mut fl = || -> f64 {
        match rng.below(40) {
            0 => f64::NAN,
            1 => 0.0,
            2 => -0.0,
            3 => f64::INFINITY,
            4..=14 => rng.below(9) as f64 - 4.0,
            _ => (rng.unit() - 0.5) * 6.0,
        }
    };
    let data = match ty.dtype {
        DType::F64 => Data::F64((0..n).map(|_| fl()).collect()),
        DType::F32 => Data::F32((0..n).map(|_| fl() as f32).collect()),
        DType::I32 => Data::I32((0..n).map(|_| rng.below(41) as i32 - 20).collect()),
        DType::I64 => Data::I64((0..n).map(|_| rng.below(41) as i64 - 20).collect()),
        DType::U32 => Data::U32((0..n).map(|_| rng.below(40) as u32).collect()),
        DType::Bool => Data::Bool((0..n).map(|_| rng.below(2) == 0).collect()),
    };
    Array::new(ty.shape.clone(), data).unwrap_or_else(|e| panic!("input: {e}"))
}

/// Equal bit for bit, any NaN matching any NaN.
fn same(a: &Array, b: &Array) -> bool {
    a.dtype() == b.dtype() && a.bit_eq_any_nan(b)
}

/// Within a relative tolerance (f32's when an f32 rounding error may have carried
/// into an f64) of the larger magnitude plus the output's largest finite magnitude
/// (absorbing cancellation in sums and differences of rounded values).
fn close(got: &Array, want: &Array, f32_error: bool) -> bool {
    if got.shape() != want.shape() || got.dtype() != want.dtype() {
        return false;
    }
    let rtol = match want.dtype() {
        DType::F64 if !f32_error => 1e-11,
        DType::F64 | DType::F32 => 2e-4,
        _ => return same(got, want),
    };
    let (g, w) = (got.to_f64_vec(), want.to_f64_vec());
    let scale = w
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f64, |m, x| m.max(x.abs()));
    g.iter().zip(&w).all(|(&p, &q)| {
        (p.is_nan() && q.is_nan())
            || p == q
            || (p - q).abs() <= rtol * (p.abs().max(q.abs()) + scale)
    })
}

fn check(s: &Spec) -> Result<(), TestCaseError> {
    let case = build(s);
    let text = print_func(&case.f);
    let want = match nabla_interp::eval_func(&case.f, &case.args) {
        Ok(w) => w,
        Err(e) => return Err(TestCaseError::fail(format!("interp: {e:?}\n{text}"))),
    };
    let c = Compiled::new(&case.f)
        .map_err(|e| TestCaseError::fail(format!("compile: {e:?}\n{text}")))?;
    let one = c
        .run(&case.args, 1, &InterpFallback)
        .map_err(|e| TestCaseError::fail(format!("run: {e:?}\n{text}")))?;
    let three = c
        .run(&case.args, 3, &InterpFallback)
        .map_err(|e| TestCaseError::fail(format!("run: {e:?}\n{text}")))?;
    for (i, ((g1, g3), w)) in one.iter().zip(&three).zip(&want).enumerate() {
        prop_assert!(
            g1.bit_eq(g3),
            "result {i}: threads 1 and 3 differ\n{text}\n1: {g1:?}\n3: {g3:?}"
        );
        let ok = if case.inexact {
            close(g1, w, case.inexact_f32)
        } else {
            same(g1, w)
        };
        prop_assert!(
            ok,
            "result {i} differs from the interpreter (inexact: {})\n{text}\ncpu: {g1:?}\ninterp: {w:?}",
            case.inexact
        );
    }
    prop_assert_eq!(one.len(), want.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn program_matches_interpreter(s in spec()) {
        check(&s)?;
    }
}
