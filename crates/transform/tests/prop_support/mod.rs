//! The generator of the property tests: random well-typed f64 functions built from a
//! [`Spec`] of raw numbers, plus deterministic inputs, array slicing and comparisons.
//!
//! A [`Spec`] is plain data (parameter shapes, then steps of a kind and four raw
//! numbers), and [`build`] interprets it deterministically: operands are picked from
//! the values built so far by index modulo the pool size, static parameters by raw
//! number modulo the valid choices, and a step whose kind does not fit its operand
//! (a transpose of a vector, a concat that would be too large) falls back to `sin`.
//! So every spec builds a well-typed function and proptest can shrink specs freely.
//!
//! Values stay in safe domains so that finite differences are meaningful: each value
//! carries a static bound on its magnitude, operands are squashed with `tanh` before
//! anything that could overflow, and `log`, `sqrt`, `rsqrt`, division and `pow` only
//! ever see operands that are positive by construction (`1 + x*x`, `1.5 + tanh(x)`,
//! `exp(x)` of a tame `x`); `atan2` keeps away from the origin.
//!
//! Besides the f64 parameters a spec may add integer index parameters (read by `take`,
//! `scatter` and dynamic slices, values in -1..=5 so some are out of range), empty
//! slices now and then (zero-size values), and, for forward mode and batching only,
//! `while` loops with data-dependent trip counts. A second result is often a weighted
//! sum of every value no equation reads, so that little of a program is dead code.

#![allow(dead_code)]

use std::collections::BTreeSet;

use nabla_interp::apply;
use nabla_ir::{
    Array, Atom, BinaryOp, Body, CmpOp, CumOp, DType, Func, Prim, ReduceOp, Scalar, ScatterMode,
    Type, UnaryOp,
};
use nabla_transform::emit::Emitter;
use proptest::prelude::*;

/// No intermediate value has more elements than this.
pub const MAX_NUMEL: usize = 64;
/// Nor a higher rank (so a batch axis makes at most rank 4).
pub const MAX_RANK: usize = 3;
/// Magnitude of the random inputs.
pub const INPUT_BOUND: f64 = 1.5;

/// One generated step: what to emit, and raw numbers for its operands and parameters.
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: u8,
    pub r: [u16; 4],
}

/// A random program before it is built.
#[derive(Clone, Debug)]
pub struct Spec {
    pub params: Vec<Vec<usize>>,
    pub steps: Vec<Step>,
    /// Integer parameters (after the f64 ones) that some indices are read from: bit 0
    /// makes a vector of 1 + (bits 1–2 mod 3) elements, bit 3 an i64 rather than i32.
    pub ints: Vec<u16>,
    /// One raw number per result (one or two results).
    pub outs: Vec<u16>,
    /// Seed of the inputs the properties evaluate on.
    pub seed: u64,
}

/// What the generator may emit.
#[derive(Clone, Copy, Debug)]
pub struct Menu {
    /// `stop_gradient` changes derivatives on purpose, so finite differences exclude it.
    pub stop_gradient: bool,
    /// Sum every chosen result into one f64 scalar (for `grad`).
    pub scalar_out: bool,
    /// `while` loops with data-dependent trip counts: forward mode and batching only,
    /// as reverse mode through `while` is an error by design.
    pub while_loops: bool,
}

impl Menu {
    /// Everything reverse mode supports.
    pub const ALL: Menu = Menu {
        stop_gradient: true,
        scalar_out: false,
        while_loops: false,
    };
    /// Everything forward mode and batching support.
    pub const FORWARD: Menu = Menu {
        stop_gradient: true,
        scalar_out: false,
        while_loops: true,
    };
    /// For finite differences: no `stop_gradient`.
    pub const TRUE_DERIVATIVES: Menu = Menu {
        stop_gradient: false,
        scalar_out: false,
        while_loops: true,
    };
    pub const SCALAR: Menu = Menu {
        stop_gradient: true,
        scalar_out: true,
        while_loops: false,
    };
}

/// The step kinds, in the order of [`Step::kind`] (shrinking goes towards kind 0).
pub const KINDS: &[&str] = &[
    "smooth_unary",
    "domain_unary",
    "piecewise_constant",
    "binary",
    "div",
    "pow",
    "rem",
    "integer_pow",
    "select",
    "broadcast_in_dim",
    "reshape",
    "transpose",
    "slice",
    "pad",
    "concat",
    "rev",
    "reduce",
    "cumulative",
    "dot_general",
    "take",
    "dynamic_slice",
    "dynamic_update_slice",
    "scatter",
    "cond",
    "scan_xs",
    "scan_fori",
    "constants_and_stop_gradient",
    "while_loop",
];

pub fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, 0..=MAX_RANK)
}

pub fn steps_strategy() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0..KINDS.len() as u8, prop::array::uniform4(any::<u16>()))
            .prop_map(|(kind, r)| Step { kind, r }),
        2..=10,
    )
}

/// Random specs: 1–3 f64 parameters of rank 0–3 (dims 1–4), 0–2 integer index
/// parameters, 2–10 steps, 1–2 results.
pub fn spec_strategy() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(shape_strategy(), 1..=3),
        steps_strategy(),
        prop::collection::vec(any::<u16>(), 0..=2),
        prop::collection::vec(any::<u16>(), 1..=2),
        any::<u64>(),
    )
        .prop_map(|(params, steps, ints, outs, seed)| Spec {
            params,
            steps,
            ints,
            outs,
            seed,
        })
}

/// A built function and a bound on the magnitude of each of its results.
#[derive(Clone, Debug)]
pub struct Built {
    pub func: Func,
    pub out_bounds: Vec<f64>,
}

pub fn f64_type(shape: &[usize]) -> Type {
    Type::new(DType::F64, shape.to_vec())
}

/// Builds the function a spec describes, on parameters of its own shapes.
pub fn build(spec: &Spec, menu: Menu) -> Built {
    let mut params: Vec<(Type, f64)> = spec
        .params
        .iter()
        .map(|s| (f64_type(s), INPUT_BOUND))
        .collect();
    for &r in &spec.ints {
        let dtype = if bit(r, 3) { DType::I64 } else { DType::I32 };
        let shape = if bit(r, 0) {
            vec![1 + ((r >> 1) % 3) as usize]
        } else {
            vec![]
        };
        params.push((Type::new(dtype, shape), 0.0));
    }
    build_on(&params, &spec.steps, &spec.outs, menu)
}

/// Builds a function of parameters of the given types and magnitude bounds.
pub fn build_on(params: &[(Type, f64)], steps: &[Step], outs: &[u16], menu: Menu) -> Built {
    let mut g = Gen::new(menu);
    for (ty, bound) in params {
        let v = Atom::Var(g.em.param(ty.clone()));
        if ty.dtype.is_float() {
            g.pool.push(Val::new(v, *bound));
        } else {
            g.ints.push(v);
        }
    }
    for s in steps {
        g.step(s);
    }
    let mut chosen: Vec<Val> = Vec::new();
    for (k, &r) in outs.iter().enumerate() {
        if k > 0 && r % 3 != 0 {
            if let Some(v) = g.sink(&chosen, r) {
                chosen.push(v);
                continue;
            }
        }
        let i = if k == 0 && r % 4 != 0 {
            g.pool.len() - 1
        } else {
            g.pick(r >> 2)
        };
        chosen.push(g.pool[i].clone());
    }
    if menu.scalar_out {
        let mut total: Option<Val> = None;
        for v in chosen {
            let axes: Vec<usize> = (0..v.rank()).collect();
            let n = v.numel() as f64;
            let s = g.e1(reduce(ReduceOp::Sum, axes, false), vec![v.atom.clone()]);
            let s = Val::new(s, v.bound * n);
            total = Some(match total {
                None => s,
                Some(t) => {
                    let a = g.bin(BinaryOp::Add, &t.atom, &s.atom);
                    Val::new(a, t.bound + s.bound)
                }
            });
        }
        chosen = total.into_iter().collect();
    }
    let out_bounds = chosen.iter().map(|v| v.bound).collect();
    let results = chosen.into_iter().map(|v| v.atom).collect();
    Built {
        func: g.em.finish("f", results),
        out_bounds,
    }
}

fn reduce(op: ReduceOp, axes: Vec<usize>, compensated: bool) -> Prim {
    Prim::Reduce {
        op,
        axes,
        compensated,
    }
}

/// A value of the program and a bound on its magnitude.
#[derive(Clone, Debug)]
struct Val {
    atom: Atom,
    bound: f64,
}

impl Val {
    fn new(atom: Atom, bound: f64) -> Val {
        Val { atom, bound }
    }
    fn ty(&self) -> Type {
        self.atom.ty()
    }
    fn shape(&self) -> Vec<usize> {
        self.atom.ty().shape
    }
    fn rank(&self) -> usize {
        self.atom.ty().rank()
    }
    fn numel(&self) -> usize {
        self.atom.ty().numel()
    }
}

fn lit(v: f64) -> Atom {
    Atom::Lit(Scalar::F64(v))
}

fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Bit `i` of a raw number, and small fields of it.
fn bit(r: u16, i: u32) -> bool {
    (r >> (i % 16)) & 1 == 1
}

fn field(r: u16, i: usize, n: usize) -> usize {
    ((r >> (4 * (i as u32 % 4))) & 0xf) as usize % n.max(1)
}

/// Deterministic pseudo-random constants from raw numbers (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)` with a full mantissa.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * u
    }
}

/// Random arrays of the given types with elements in `[-bound, bound)`.
pub fn random_arrays(types: &[Type], seed: u64, bound: f64) -> Vec<Array> {
    let mut rng = Rng(seed);
    types
        .iter()
        .map(|t| random_array(&mut rng, t, bound))
        .collect()
}

/// Floats in `[-bound, bound)`; integers (indices) in `-1..=5`, so that some are out
/// of range for every dimension the generator makes.
pub fn random_array(rng: &mut Rng, t: &Type, bound: f64) -> Array {
    let n = t.numel();
    let shape = t.shape.clone();
    let int = |rng: &mut Rng| (rng.next_u64() % 7) as i64 - 1;
    match t.dtype {
        DType::I32 => Array::from_vec(shape, (0..n).map(|_| int(rng) as i32).collect()),
        DType::I64 => Array::from_vec(shape, (0..n).map(|_| int(rng)).collect()),
        _ => {
            let v: Vec<f64> = (0..n).map(|_| rng.uniform(-bound, bound)).collect();
            Array::from_vec(shape, v)
        }
    }
    .expect("the data has the type's length")
}

/// Every permutation of `0..n`, in lexicographic order.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out.sort();
    out
}

/// The shapes of rank 0–3 with `n` elements.
fn reshapes(n: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    if n == 1 {
        out.push(vec![]);
    }
    out.push(vec![n]);
    for a in 1..=n {
        if n.is_multiple_of(a) {
            out.push(vec![a, n / a]);
            for b in 1..=n / a {
                if (n / a).is_multiple_of(b) {
                    out.push(vec![a, b, n / a / b]);
                }
            }
        }
    }
    out
}

struct Gen {
    em: Emitter,
    pool: Vec<Val>,
    menu: Menu,
    /// The variables some equation reads.
    read: BTreeSet<u32>,
    /// The integer parameters (indices), which are not in the pool of f64 values.
    ints: Vec<Atom>,
}

impl Gen {
    fn new(menu: Menu) -> Gen {
        Gen {
            em: Emitter::new(),
            pool: Vec::new(),
            menu,
            read: BTreeSet::new(),
            ints: Vec::new(),
        }
    }

    fn note(&mut self, args: &[Atom]) {
        self.read
            .extend(args.iter().filter_map(Atom::as_var).map(|v| v.id));
    }

    fn e1(&mut self, prim: Prim, args: Vec<Atom>) -> Atom {
        self.note(&args);
        let name = prim.name();
        let tys: Vec<String> = args.iter().map(|a| a.ty().to_string()).collect();
        self.em
            .emit1(prim, args)
            .unwrap_or_else(|e| panic!("the generator built an ill-typed {name} on {tys:?}: {e}"))
    }

    fn un(&mut self, op: UnaryOp, x: &Atom) -> Atom {
        self.e1(Prim::Unary(op), vec![x.clone()])
    }

    /// Elementwise binary op, broadcasting a scalar operand.
    fn bin(&mut self, op: BinaryOp, a: &Atom, b: &Atom) -> Atom {
        self.note(&[a.clone(), b.clone()]);
        self.em
            .binary(op, a.clone(), b.clone())
            .unwrap_or_else(|e| panic!("the generator built an ill-typed {}: {e}", op.name()))
    }

    /// An index into the pool: one of the last three values for even `r` (so programs
    /// grow deep), any value for odd `r`.
    fn pick(&self, r: u16) -> usize {
        let n = self.pool.len();
        let k = (r >> 1) as usize;
        if r & 1 == 0 {
            n - 1 - k % n.min(3)
        } else {
            k % n
        }
    }

    /// A pool value of `a`'s shape or a scalar (broadcast by the elementwise helpers);
    /// `a` itself is always a candidate.
    fn partner(&self, a: &Val, r: u16) -> Val {
        let shape = a.shape();
        let cands: Vec<&Val> = self
            .pool
            .iter()
            .filter(|v| v.shape() == shape || v.rank() == 0)
            .collect();
        if cands.is_empty() {
            return a.clone();
        }
        cands[r as usize % cands.len()].clone()
    }

    /// A pool value of exactly `shape`, if there is one.
    fn exact(&self, shape: &[usize], r: u16) -> Option<Val> {
        let cands: Vec<&Val> = self.pool.iter().filter(|v| v.shape() == shape).collect();
        if cands.is_empty() {
            None
        } else {
            Some(cands[r as usize % cands.len()].clone())
        }
    }

    /// One of the integer parameters as an index (`r`'s bit 0 says whether to use one;
    /// bit 1 adds one to it), if there is a suitable one: a scalar when `scalar`.
    fn runtime_index(&mut self, r: u16, scalar: bool) -> Option<Atom> {
        if !bit(r, 0) {
            return None;
        }
        let cands: Vec<Atom> = self
            .ints
            .iter()
            .filter(|a| !scalar || a.ty().rank() == 0)
            .cloned()
            .collect();
        if cands.is_empty() {
            return None;
        }
        let idx = cands[(r >> 2) as usize % cands.len()].clone();
        if !bit(r, 1) {
            return Some(idx);
        }
        let one = Atom::Lit(Scalar::one(idx.dtype()));
        Some(self.bin(BinaryOp::Add, &idx, &one))
    }

    /// A scalar of the pool, or the sum of a pool value when there is none.
    fn scalar(&mut self, r: u16) -> Val {
        let scalars: Vec<Val> = self
            .pool
            .iter()
            .filter(|v| v.rank() == 0)
            .cloned()
            .collect();
        if !scalars.is_empty() && bit(r, 0) {
            return scalars[(r >> 1) as usize % scalars.len()].clone();
        }
        let v = self.pool[self.pick(r >> 1)].clone();
        let axes: Vec<usize> = (0..v.rank()).collect();
        let n = v.numel() as f64;
        let s = self.e1(reduce(ReduceOp::Sum, axes, false), vec![v.atom]);
        Val::new(s, v.bound * n)
    }

    /// `x` itself when its bound is at most `limit`, else `tanh(x)`.
    fn tame(&mut self, x: &Val, limit: f64) -> Val {
        if x.bound <= limit {
            x.clone()
        } else {
            let t = self.un(UnaryOp::Tanh, &x.atom);
            Val::new(t, 1.0)
        }
    }

    /// A positive function of `x`: returns it with lower and upper bounds.
    fn positive(&mut self, x: &Val, variant: u16) -> (Atom, f64, f64) {
        match variant % 3 {
            0 => {
                let x = self.tame(x, 3.0);
                let sq = self.bin(BinaryOp::Mul, &x.atom, &x.atom);
                let p = self.bin(BinaryOp::Add, &sq, &lit(1.0));
                (p, 1.0, 1.0 + x.bound * x.bound)
            }
            1 => {
                let t = self.un(UnaryOp::Tanh, &x.atom);
                let p = self.bin(BinaryOp::Add, &lit(1.5), &t);
                (p, 0.5, 2.5)
            }
            _ => {
                let x = self.tame(x, 2.0);
                let p = self.un(UnaryOp::Exp, &x.atom);
                (p, (-x.bound).exp(), x.bound.exp())
            }
        }
    }

    /// A weighted sum of every value no equation reads (other than `taken`), so that
    /// few equations are dead; `None` when there is no such value.
    fn sink(&mut self, taken: &[Val], r: u16) -> Option<Val> {
        let mut read = self.read.clone();
        for v in taken {
            if let Atom::Var(x) = &v.atom {
                read.insert(x.id);
            }
        }
        let ends: Vec<Val> = self
            .pool
            .iter()
            .filter(|v| matches!(&v.atom, Atom::Var(x) if !read.contains(&x.id)))
            .cloned()
            .collect();
        let mut total: Option<Val> = None;
        for (k, v) in ends.into_iter().enumerate() {
            let v = self.tame(&v, 1e3);
            let mut rng = Rng(u64::from(r) << 8 | k as u64);
            let w = random_array(&mut rng, &v.ty(), 1.0);
            let all: Vec<usize> = (0..v.rank()).collect();
            let s = if v.rank() == 0 {
                let c = w.to_vec::<f64>().expect("f64")[0];
                self.bin(BinaryOp::Mul, &v.atom, &lit(c))
            } else {
                let c = self.e1(Prim::Constant { value: w }, vec![]);
                self.e1(
                    Prim::DotGeneral {
                        lhs_contract: all.clone(),
                        rhs_contract: all,
                        lhs_batch: vec![],
                        rhs_batch: vec![],
                        compensated: false,
                    },
                    vec![v.atom.clone(), c],
                )
            };
            let s = Val::new(s, v.bound * v.numel() as f64);
            total = Some(match total {
                None => s,
                Some(t) => {
                    let a = self.bin(BinaryOp::Add, &t.atom, &s.atom);
                    Val::new(a, t.bound + s.bound)
                }
            });
        }
        total
    }

    fn push(&mut self, v: Val) {
        assert!(
            v.rank() <= MAX_RANK && v.numel() <= MAX_NUMEL,
            "the generator made a value of type {} (too large)",
            v.ty()
        );
        self.pool.push(v);
    }

    fn step(&mut self, s: &Step) {
        let before = self.pool.len();
        let ok = self.try_step(s);
        if !ok || self.pool.len() == before {
            // The kind does not fit its operand: a plain smooth op instead.
            let a = self.pool[self.pick(s.r[0])].clone();
            let y = self.un(UnaryOp::Sin, &a.atom);
            self.push(Val::new(y, 1.0));
        }
    }

    /// Emits one step; false when the kind does not fit (nothing emitted then).
    fn try_step(&mut self, s: &Step) -> bool {
        let [r0, r1, r2, r3] = s.r;
        let a = self.pool[self.pick(r0)].clone();
        let name = KINDS[s.kind as usize % KINDS.len()];
        match name {
            "smooth_unary" => {
                const OPS: [UnaryOp; 12] = [
                    UnaryOp::Neg,
                    UnaryOp::Sin,
                    UnaryOp::Cos,
                    UnaryOp::Tanh,
                    UnaryOp::Atan,
                    UnaryOp::Erf,
                    UnaryOp::Exp,
                    UnaryOp::Expm1,
                    UnaryOp::Sinh,
                    UnaryOp::Cosh,
                    UnaryOp::Tan,
                    UnaryOp::Abs,
                ];
                let op = OPS[r1 as usize % OPS.len()];
                let (x, bound) = match op {
                    UnaryOp::Exp | UnaryOp::Expm1 | UnaryOp::Sinh | UnaryOp::Cosh => {
                        let x = self.tame(&a, 3.0);
                        let b = x.bound.exp();
                        (x, b)
                    }
                    UnaryOp::Tan => {
                        let t = self.un(UnaryOp::Tanh, &a.atom);
                        (Val::new(t, 1.0), 1.0f64.tan())
                    }
                    UnaryOp::Neg | UnaryOp::Abs => (a.clone(), a.bound),
                    UnaryOp::Atan => (a.clone(), std::f64::consts::FRAC_PI_2),
                    _ => (a.clone(), 1.0),
                };
                let y = self.un(op, &x.atom);
                self.push(Val::new(y, bound));
            }
            "domain_unary" => {
                const OPS: [UnaryOp; 7] = [
                    UnaryOp::Log,
                    UnaryOp::Log1p,
                    UnaryOp::Sqrt,
                    UnaryOp::Rsqrt,
                    UnaryOp::Asin,
                    UnaryOp::Acos,
                    UnaryOp::Erfinv,
                ];
                let op = OPS[r1 as usize % OPS.len()];
                let (x, bound) = match op {
                    UnaryOp::Log => {
                        let (p, lo, hi) = self.positive(&a, r2);
                        (p, lo.ln().abs().max(hi.ln().abs()))
                    }
                    UnaryOp::Log1p => {
                        let x = self.tame(&a, 3.0);
                        let sq = self.bin(BinaryOp::Mul, &x.atom, &x.atom);
                        (sq, (1.0 + x.bound * x.bound).ln())
                    }
                    UnaryOp::Sqrt => {
                        let (p, _, hi) = self.positive(&a, r2);
                        (p, hi.sqrt())
                    }
                    UnaryOp::Rsqrt => {
                        let (p, lo, _) = self.positive(&a, r2);
                        (p, 1.0 / lo.sqrt())
                    }
                    _ => {
                        let t = self.un(UnaryOp::Tanh, &a.atom);
                        let s = self.bin(BinaryOp::Mul, &t, &lit(0.9));
                        (s, std::f64::consts::PI)
                    }
                };
                let y = self.un(op, &x);
                self.push(Val::new(y, bound));
            }
            "piecewise_constant" => {
                const OPS: [UnaryOp; 4] =
                    [UnaryOp::Floor, UnaryOp::Ceil, UnaryOp::Round, UnaryOp::Sign];
                let op = OPS[r1 as usize % OPS.len()];
                let y = self.un(op, &a.atom);
                let b = self.partner(&a, r2);
                // Keep a differentiable path through the step.
                let z = self.bin(BinaryOp::Add, &y, &b.atom);
                self.push(Val::new(z, a.bound + 1.0 + b.bound));
            }
            "binary" => {
                const OPS: [BinaryOp; 6] = [
                    BinaryOp::Add,
                    BinaryOp::Sub,
                    BinaryOp::Mul,
                    BinaryOp::Max,
                    BinaryOp::Min,
                    BinaryOp::Atan2,
                ];
                let op = OPS[r2 as usize % OPS.len()];
                let mut x = self.tame(&a, 1e3);
                let b = self.partner(&a, r1);
                let mut y = self.tame(&b, 1e3);
                if op == BinaryOp::Mul && x.bound * y.bound > 1e3 {
                    x = self.tame(&x, 3.0);
                    y = self.tame(&y, 3.0);
                }
                if op == BinaryOp::Atan2 {
                    // Away from the singular origin: `atan2(x, ±p)` with `p > 0`.
                    let (p, _, hi) = self.positive(&y, r3 >> 2);
                    let p = if bit(r3, 1) {
                        self.un(UnaryOp::Neg, &p)
                    } else {
                        p
                    };
                    y = Val::new(p, hi);
                } else if bit(r3, 0) {
                    std::mem::swap(&mut x, &mut y);
                }
                let bound = match op {
                    BinaryOp::Add | BinaryOp::Sub => x.bound + y.bound,
                    BinaryOp::Mul => x.bound * y.bound,
                    BinaryOp::Atan2 => std::f64::consts::PI,
                    _ => x.bound.max(y.bound),
                };
                let z = self.bin(op, &x.atom, &y.atom);
                self.push(Val::new(z, bound));
            }
            "div" => {
                let x = self.tame(&a, 1e3);
                let b = self.partner(&a, r1);
                let (p, lo, _) = self.positive(&b, r2);
                let z = self.bin(BinaryOp::Div, &x.atom, &p);
                self.push(Val::new(z, x.bound / lo));
            }
            "pow" => {
                let (base, _, hi) = self.positive(&a, 1 + r2 % 2);
                let (e, eb) = if r3 % 3 == 0 {
                    let v = [0.5, 2.0, -1.5][(r3 / 3) as usize % 3];
                    (lit(v), f64::abs(v))
                } else {
                    let b = self.partner(&a, r1);
                    let e = self.tame(&b, 2.0);
                    (e.atom, e.bound)
                };
                let lo = 0.13f64;
                let bound = hi.powf(eb).max((1.0 / lo).powf(eb));
                let z = self.bin(BinaryOp::Pow, &base, &e);
                self.push(Val::new(z, bound));
            }
            "rem" => {
                let x = self.tame(&a, 1e3);
                let b = self.partner(&a, r1);
                let (p, _, _) = self.positive(&b, r2);
                let z = self.bin(BinaryOp::Rem, &x.atom, &p);
                self.push(Val::new(z, x.bound));
            }
            "integer_pow" => {
                let exponent = [-2i64, -1, 0, 1, 2, 3][r1 as usize % 6];
                let (x, xb) = if exponent < 0 {
                    let (p, lo, _) = self.positive(&a, r2);
                    (p, 1.0 / lo)
                } else {
                    let x = self.tame(&a, 3.0);
                    (x.atom, x.bound)
                };
                let z = self.e1(Prim::IntPow { exponent }, vec![x]);
                self.push(Val::new(z, xb.powi(exponent.abs() as i32).max(1.0)));
            }
            "select" => {
                const CMPS: [CmpOp; 6] = [
                    CmpOp::Lt,
                    CmpOp::Gt,
                    CmpOp::Le,
                    CmpOp::Ge,
                    CmpOp::Eq,
                    CmpOp::Ne,
                ];
                let b = self.partner(&a, r1);
                let cmp = CMPS[field(r2, 0, 6)];
                self.note(&[a.atom.clone(), b.atom.clone()]);
                let pred = self
                    .em
                    .compare(cmp, a.atom.clone(), b.atom.clone())
                    .expect("compare of a value and its partner");
                let c = self.partner(&a, r3);
                let d = if bit(r2, 4) {
                    a.clone()
                } else {
                    let s = self.un(UnaryOp::Sin, &b.atom);
                    Val::new(s, 1.0)
                };
                let (c, d) = if bit(r2, 5) { (d, c) } else { (c, d) };
                self.note(&[c.atom.clone(), d.atom.clone()]);
                let z = self
                    .em
                    .select(pred, c.atom.clone(), d.atom.clone())
                    .expect("select of partners");
                self.push(Val::new(z, c.bound.max(d.bound)));
            }
            "broadcast_in_dim" => {
                let old = a.shape();
                let mut shape = old.clone();
                let mut dims: Vec<usize> = (0..old.len()).collect();
                if old.len() < MAX_RANK {
                    let pos = r1 as usize % (old.len() + 1);
                    let size = 1 + r2 as usize % 3;
                    shape.insert(pos, size);
                    for d in dims.iter_mut() {
                        if *d >= pos {
                            *d += 1;
                        }
                    }
                }
                for (i, &d) in dims.iter().enumerate() {
                    if old[i] == 1 {
                        shape[d] = 1 + field(r3, i, 3);
                    }
                }
                if shape == old || numel(&shape) > MAX_NUMEL {
                    return false;
                }
                let z = self.e1(Prim::BroadcastInDim { shape, dims }, vec![a.atom.clone()]);
                self.push(Val::new(z, a.bound));
            }
            "reshape" => {
                let old = a.shape();
                let cands: Vec<Vec<usize>> = reshapes(a.numel())
                    .into_iter()
                    .filter(|s| *s != old)
                    .collect();
                if cands.is_empty() {
                    return false;
                }
                let shape = cands[r1 as usize % cands.len()].clone();
                let z = self.e1(Prim::Reshape { shape }, vec![a.atom.clone()]);
                self.push(Val::new(z, a.bound));
            }
            "transpose" => {
                let perms = permutations(a.rank());
                if perms.len() < 2 {
                    return false;
                }
                // Index 0 is the identity.
                let perm = perms[1 + r1 as usize % (perms.len() - 1)].clone();
                let z = self.e1(Prim::Transpose { perm }, vec![a.atom.clone()]);
                self.push(Val::new(z, a.bound));
            }
            "slice" => {
                let shape = a.shape();
                // Now and then an empty slice along one axis: zero-size values then
                // flow through the rest of the program.
                let empty =
                    (bit(r3, 12) && bit(r3, 13)).then(|| (r3 >> 14) as usize % shape.len().max(1));
                let (mut start, mut limit, mut stride) = (vec![], vec![], vec![]);
                for (i, &d) in shape.iter().enumerate() {
                    let (s, l) = if d == 0 || empty == Some(i) {
                        let s = field(r1, i, d + 1);
                        (s, s)
                    } else {
                        let s = field(r1, i, d);
                        (s, s + 1 + field(r2, i, d - s))
                    };
                    start.push(s);
                    limit.push(l);
                    stride.push(1 + field(r3, i, 2));
                }
                let z = self.e1(
                    Prim::Slice {
                        start,
                        limit,
                        stride,
                    },
                    vec![a.atom.clone()],
                );
                self.push(Val::new(z, a.bound));
            }
            "pad" => {
                let shape = a.shape();
                let (mut lo, mut hi, mut out) = (vec![], vec![], vec![]);
                for (i, &d) in shape.iter().enumerate() {
                    let (mut l, mut h) = (field(r1, i, 4) as i64 - 1, field(r2, i, 4) as i64 - 1);
                    if d as i64 + l + h < 1 {
                        (l, h) = (0, 0);
                    }
                    lo.push(l);
                    hi.push(h);
                    out.push((d as i64 + l + h) as usize);
                }
                if numel(&out) > MAX_NUMEL {
                    return false;
                }
                let value = match r3 % 4 {
                    0 => Val::new(lit(0.0), 0.0),
                    1 => Val::new(lit(-0.75), 0.75),
                    _ => {
                        // A differentiable pad value.
                        let v = self.scalar(r3 >> 2);
                        self.tame(&v, 1e3)
                    }
                };
                let z = self.e1(
                    Prim::Pad { lo, hi },
                    vec![a.atom.clone(), value.atom.clone()],
                );
                self.push(Val::new(z, a.bound.max(value.bound)));
            }
            "concat" => {
                let r = a.rank();
                if r == 0 {
                    return false;
                }
                let axis = r1 as usize % r;
                let shape = a.shape();
                let fits = |v: &Val| {
                    let s = v.shape();
                    s.len() == r
                        && (0..r).all(|i| i == axis || s[i] == shape[i])
                        && a.numel() + v.numel() <= MAX_NUMEL
                };
                let cands: Vec<Val> = self.pool.iter().filter(|v| fits(v)).cloned().collect();
                let b = if bit(r3, 0) && a.numel() * 2 <= MAX_NUMEL {
                    let z = self.e1(Prim::Rev { axes: vec![axis] }, vec![a.atom.clone()]);
                    Val::new(z, a.bound)
                } else if cands.is_empty() {
                    return false;
                } else {
                    cands[r2 as usize % cands.len()].clone()
                };
                let mut args = vec![a.clone(), b.clone()];
                if bit(r3, 1) {
                    args.swap(0, 1);
                }
                if bit(r3, 2) && a.numel() * 2 + b.numel() <= MAX_NUMEL {
                    args.push(a.clone());
                }
                let bound = a.bound.max(b.bound);
                let z = self.e1(
                    Prim::Concat { axis },
                    args.into_iter().map(|v| v.atom).collect(),
                );
                self.push(Val::new(z, bound));
            }
            "rev" => {
                let r = a.rank();
                if r == 0 {
                    return false;
                }
                let mut axes: Vec<usize> = (0..r).filter(|&i| bit(r1, i as u32)).collect();
                if axes.is_empty() {
                    axes.push(r2 as usize % r);
                }
                let z = self.e1(Prim::Rev { axes }, vec![a.atom.clone()]);
                self.push(Val::new(z, a.bound));
            }
            "reduce" => {
                let r = a.rank();
                let axes: Vec<usize> = (0..r).filter(|&i| bit(r2, i as u32)).collect();
                let n = axes.iter().map(|&i| a.shape()[i]).product::<usize>() as f64;
                let (op, compensated) = [
                    (ReduceOp::Sum, false),
                    (ReduceOp::Sum, true),
                    (ReduceOp::Max, false),
                    (ReduceOp::Min, false),
                    (ReduceOp::Prod, false),
                ][r1 as usize % 5];
                // The max of nothing is -inf: sum empty extents instead.
                let (op, compensated) = if n == 0.0 && matches!(op, ReduceOp::Max | ReduceOp::Min) {
                    (ReduceOp::Sum, false)
                } else {
                    (op, compensated)
                };
                let (x, bound) = match op {
                    ReduceOp::Sum => (a.clone(), a.bound * n),
                    ReduceOp::Prod => {
                        let x = self.tame(&a, 1.5);
                        let b = x.bound.powf(n).max(1.0);
                        (x, b)
                    }
                    _ => (a.clone(), a.bound),
                };
                let z = self.e1(reduce(op, axes, compensated), vec![x.atom]);
                self.push(Val::new(z, bound));
            }
            "cumulative" => {
                let r = a.rank();
                if r == 0 {
                    return false;
                }
                let axis = r2 as usize % r;
                let n = a.shape()[axis] as f64;
                let reverse = bit(r3, 0);
                let (op, x, bound) = if r1 % 2 == 0 {
                    (CumOp::Sum, a.clone(), a.bound * n)
                } else {
                    let x = self.tame(&a, 1.5);
                    let b = x.bound.powf(n).max(1.0);
                    (CumOp::Prod, x, b)
                };
                let z = self.e1(Prim::Cumulative { op, axis, reverse }, vec![x.atom]);
                self.push(Val::new(z, bound));
            }
            "dot_general" => {
                let b = self.pool[r1 as usize % self.pool.len()].clone();
                let (sa, sb) = (a.shape(), b.shape());
                let mut pairs = vec![];
                for (i, &da) in sa.iter().enumerate() {
                    for (j, &db) in sb.iter().enumerate() {
                        if da == db {
                            pairs.push((i, j));
                        }
                    }
                }
                let mut lc = vec![];
                let mut rc = vec![];
                let mut lb = vec![];
                let mut rb = vec![];
                if !pairs.is_empty() && !bit(r3, 2) {
                    let (i, j) = pairs[r2 as usize % pairs.len()];
                    lc.push(i);
                    rc.push(j);
                    let rest: Vec<(usize, usize)> = pairs
                        .iter()
                        .copied()
                        .filter(|&(k, l)| k != i && l != j)
                        .collect();
                    if bit(r3, 0) && !rest.is_empty() {
                        let (k, l) = rest[(r2 >> 8) as usize % rest.len()];
                        if bit(r3, 1) {
                            lb.push(k);
                            rb.push(l);
                        } else {
                            lc.push(k);
                            rc.push(l);
                        }
                    }
                }
                let used = |c: &[usize], bt: &[usize], i: usize| c.contains(&i) || bt.contains(&i);
                let mut out: Vec<usize> = lb.iter().map(|&k| sa[k]).collect();
                out.extend((0..sa.len()).filter(|&i| !used(&lc, &lb, i)).map(|i| sa[i]));
                out.extend((0..sb.len()).filter(|&i| !used(&rc, &rb, i)).map(|i| sb[i]));
                let (x, y, lhs_contract, rhs_contract, lhs_batch, rhs_batch) =
                    if out.len() <= MAX_RANK && numel(&out) <= MAX_NUMEL {
                        (a.clone(), b.clone(), lc, rc, lb, rb)
                    } else {
                        // Too big: the full contraction of `a` with itself.
                        let all: Vec<usize> = (0..sa.len()).collect();
                        (a.clone(), a.clone(), all.clone(), all, vec![], vec![])
                    };
                let k: usize = lhs_contract.iter().map(|&i| x.shape()[i]).product();
                let (x, y) = if x.bound * y.bound * k as f64 > 1e4 {
                    (self.tame(&x, 1.0), self.tame(&y, 1.0))
                } else {
                    (x, y)
                };
                let bound = x.bound * y.bound * k as f64;
                let z = self.e1(
                    Prim::DotGeneral {
                        lhs_contract,
                        rhs_contract,
                        lhs_batch,
                        rhs_batch,
                        compensated: bit(r3, 3),
                    },
                    vec![x.atom, y.atom],
                );
                self.push(Val::new(z, bound));
            }
            "take" => {
                let r = a.rank();
                if r == 0 {
                    return false;
                }
                let axis = r1 as usize % r;
                let d = a.shape()[axis];
                if d == 0 {
                    return false;
                }
                // Indices in -1..=d: out-of-range ones are clamped by `take`.
                let idx = if let Some(idx) = self.runtime_index(r2, false) {
                    let mut out = a.shape();
                    out.splice(axis..=axis, idx.ty().shape);
                    if out.len() > MAX_RANK || numel(&out) > MAX_NUMEL {
                        return false;
                    }
                    idx
                } else if r2 % 3 == 0 {
                    Atom::Lit(Scalar::I32(field(r3, 0, d + 2) as i32 - 1))
                } else {
                    let len = 1 + (r2 as usize / 3) % 4;
                    let mut out = a.shape();
                    out[axis] = len;
                    if numel(&out) > MAX_NUMEL {
                        return false;
                    }
                    let vals: Vec<i64> = (0..len).map(|i| field(r3, i, d + 2) as i64 - 1).collect();
                    let value = if bit(r2, 15) {
                        Array::from_vec(vec![len], vals).expect("length matches")
                    } else {
                        let v: Vec<i32> = vals.iter().map(|&x| x as i32).collect();
                        Array::from_vec(vec![len], v).expect("length matches")
                    };
                    self.e1(Prim::Constant { value }, vec![])
                };
                let z = self.e1(Prim::Take { axis }, vec![a.atom.clone(), idx]);
                self.push(Val::new(z, a.bound));
            }
            "dynamic_slice" => {
                let shape = a.shape();
                if shape.is_empty() || a.numel() == 0 {
                    return false;
                }
                let sizes: Vec<usize> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| 1 + field(r1, i, d))
                    .collect();
                let mut args = vec![a.atom.clone()];
                for (i, &d) in shape.iter().enumerate() {
                    if let Some(start) = self.runtime_index(r3 >> (4 + i), true) {
                        args.push(start);
                        continue;
                    }
                    let s = field(r2, i, d + 2) as i64 - 1;
                    args.push(if bit(r3, i as u32) {
                        Atom::Lit(Scalar::I64(s))
                    } else {
                        Atom::Lit(Scalar::I32(s as i32))
                    });
                }
                let z = self.e1(Prim::DynamicSlice { sizes }, args);
                self.push(Val::new(z, a.bound));
            }
            "dynamic_update_slice" => {
                let shape = a.shape();
                if shape.is_empty() || a.numel() == 0 {
                    return false;
                }
                let b = match self.exact(&shape, r1) {
                    Some(b) => b,
                    None => a.clone(),
                };
                let sizes: Vec<usize> = shape
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| 1 + field(r2, i, d))
                    .collect();
                let zeros: Vec<Atom> = shape.iter().map(|_| Atom::Lit(Scalar::I32(0))).collect();
                let mut args = vec![b.atom.clone()];
                args.extend(zeros);
                let upd = self.e1(Prim::DynamicSlice { sizes }, args);
                let upd = self.un(UnaryOp::Sin, &upd);
                let mut args = vec![a.atom.clone(), upd];
                for (i, &d) in shape.iter().enumerate() {
                    args.push(match self.runtime_index(r1 >> (4 + i), true) {
                        Some(start) => start,
                        None => Atom::Lit(Scalar::I32(field(r3, i, d + 2) as i32 - 1)),
                    });
                }
                let z = self.e1(Prim::DynamicUpdateSlice, args);
                self.push(Val::new(z, a.bound.max(1.0)));
            }
            "scatter" => {
                let r = a.rank();
                if r == 0 {
                    return false;
                }
                let axis = r1 as usize % r;
                let d = a.shape()[axis];
                if d == 0 {
                    return false;
                }
                let len = 1 + r2 as usize % 3;
                let b = match self.exact(&a.shape(), r1 >> 4) {
                    Some(b) => b,
                    None => a.clone(),
                };
                // Scatter indices in 0..=d (d is dropped) or a runtime index, and
                // gather indices of the same shape in range.
                let (si, gi) = match self.runtime_index(r2 >> 2, false) {
                    Some(si) => {
                        let st = si.ty();
                        let mut upd = a.shape();
                        upd.splice(axis..=axis, st.shape.clone());
                        if upd.len() > MAX_RANK || numel(&upd) > MAX_NUMEL {
                            return false;
                        }
                        let gi = if st.rank() == 0 {
                            Atom::Lit(Scalar::I32(field(r2, 1, d) as i32))
                        } else {
                            let n = st.numel();
                            let v: Vec<i32> = (0..n).map(|i| field(r2 >> 4, i, d) as i32).collect();
                            let value = Array::from_vec(st.shape, v).expect("length matches");
                            self.e1(Prim::Constant { value }, vec![])
                        };
                        (si, gi)
                    }
                    None => {
                        let si: Vec<i32> = (0..len).map(|i| field(r3, i, d + 1) as i32).collect();
                        let gi: Vec<i32> = (0..len).map(|i| field(r2 >> 4, i, d) as i32).collect();
                        let si = Array::from_vec(vec![len], si).expect("length matches");
                        let gi = Array::from_vec(vec![len], gi).expect("length matches");
                        let si = self.e1(Prim::Constant { value: si }, vec![]);
                        let gi = self.e1(Prim::Constant { value: gi }, vec![]);
                        (si, gi)
                    }
                };
                let upd = self.e1(Prim::Take { axis }, vec![b.atom.clone(), gi]);
                let mode = if bit(r3, 15) {
                    ScatterMode::Set
                } else {
                    ScatterMode::Add
                };
                let z = self.e1(Prim::Scatter { axis, mode }, vec![a.atom.clone(), si, upd]);
                self.push(Val::new(z, a.bound + b.bound * len as f64));
            }
            "cond" => self.cond(&a, s),
            "scan_xs" => return self.scan_xs(&a, s),
            "scan_fori" => self.scan_fori(&a, s),
            "while_loop" => return self.while_loop(&a, s),
            "constants_and_stop_gradient" => {
                let x = self.tame(&a, 1e3);
                match r1 % 3 {
                    0 if self.menu.stop_gradient => {
                        let sg = self.e1(Prim::StopGradient, vec![x.atom.clone()]);
                        let b = self.partner(&a, r2);
                        let b = self.tame(&b, 3.0);
                        let z = self.bin(BinaryOp::Mul, &sg, &b.atom);
                        self.push(Val::new(z, x.bound * b.bound));
                    }
                    1 if x.rank() > 0 => {
                        let t = x.ty();
                        let axis = r2 as usize % t.rank();
                        let io = self.e1(
                            Prim::Iota {
                                dtype: DType::F64,
                                shape: t.shape.clone(),
                                axis,
                            },
                            vec![],
                        );
                        let z = self.bin(BinaryOp::Mul, &x.atom, &io);
                        let n = t.shape[axis] as f64;
                        self.push(Val::new(z, x.bound * n));
                    }
                    _ => {
                        let t = x.ty();
                        let mut rng = Rng(u64::from(r2) << 16 | u64::from(r3));
                        let value = random_array(&mut rng, &t, 1.0);
                        let c = self.e1(Prim::Constant { value }, vec![]);
                        let z = self.bin(BinaryOp::Add, &x.atom, &c);
                        self.push(Val::new(z, x.bound + 1.0));
                    }
                }
            }
            other => unreachable!("unknown kind {other}"),
        }
        true
    }

    /// A small body computing from `x` (and `y` of the same shape, when given) a value
    /// of `x`'s type; the variant picks the formula. Returns the result and its bound.
    fn branch(&mut self, variant: u16, x: &Val, y: Option<&Val>) -> (Atom, f64) {
        match variant % 5 {
            0 => {
                let s = self.un(UnaryOp::Sin, &x.atom);
                match y {
                    Some(y) => {
                        let y = self.tame(y, 1e3);
                        (self.bin(BinaryOp::Mul, &s, &y.atom), y.bound)
                    }
                    None => (self.bin(BinaryOp::Mul, &s, &x.atom), x.bound),
                }
            }
            1 => (x.atom.clone(), x.bound),
            2 => {
                let t = self.tame(x, 2.0);
                (self.un(UnaryOp::Exp, &t.atom), t.bound.exp())
            }
            3 => {
                let d = self.bin(BinaryOp::Mul, &x.atom, &lit(2.0));
                match y {
                    Some(y) => (
                        self.bin(BinaryOp::Add, &d, &y.atom),
                        2.0 * x.bound + y.bound,
                    ),
                    None => (self.un(UnaryOp::Cos, &d), 1.0),
                }
            }
            _ if x.rank() == 0 => (lit(0.5), 0.5),
            _ => {
                let c = self.un(UnaryOp::Cos, &x.atom);
                (self.bin(BinaryOp::Sub, &x.atom, &c), x.bound + 1.0)
            }
        }
    }

    /// `cond(sum(a) > c, x[, y])` with two small branches.
    fn cond(&mut self, a: &Val, s: &Step) {
        let [_, r1, r2, r3] = s.r;
        let axes: Vec<usize> = (0..a.rank()).collect();
        let sum = self.e1(reduce(ReduceOp::Sum, axes, false), vec![a.atom.clone()]);
        let thresh = [0.0, 0.3, -0.3][r3 as usize % 3];
        let pred = self.e1(Prim::Compare(CmpOp::Gt), vec![sum, lit(thresh)]);
        let x = self.pool[self.pick(r1)].clone();
        let y = if bit(r3, 4) {
            self.exact(&x.shape(), r3 >> 5)
        } else {
            None
        };
        let mut tys = vec![x.ty()];
        if let Some(y) = &y {
            tys.push(y.ty());
        }
        let mut bounds = vec![];
        let mut bodies = vec![];
        for variant in [r2, r2 >> 8] {
            let ps = self.em.begin_body(&tys);
            let bx = Val::new(Atom::Var(ps[0].clone()), x.bound);
            let by = y
                .as_ref()
                .map(|y| Val::new(Atom::Var(ps[1].clone()), y.bound));
            let (rx, bx_bound) = self.branch(variant, &bx, by.as_ref());
            let mut results = vec![rx];
            let mut bs = vec![bx_bound];
            if let Some(by) = &by {
                // A second result: the other operand, through a different formula.
                let (ry, b) = self.branch(variant / 5 + 1, by, Some(&bx));
                results.push(ry);
                bs.push(b);
            }
            bodies.push(self.em.end_body(results));
            bounds.push(bs);
        }
        let else_body = bodies.pop().expect("two bodies");
        let then_body = bodies.pop().expect("two bodies");
        let mut args = vec![pred, x.atom.clone()];
        if let Some(y) = &y {
            args.push(y.atom.clone());
        }
        self.note(&args);
        let outs = self
            .em
            .emit(
                Prim::Cond {
                    then_body,
                    else_body,
                },
                args,
            )
            .expect("a well-typed cond");
        for (k, o) in outs.into_iter().enumerate() {
            let b = bounds[0][k].max(bounds[1][k]);
            self.push(Val::new(Atom::Var(o), b));
        }
    }

    /// A scan over axis 0 of `a`, with a carry of one slice's shape and an optional
    /// scalar constant.
    fn scan_xs(&mut self, a: &Val, s: &Step) -> bool {
        let [_, r1, r2, r3] = s.r;
        let shape = a.shape();
        if shape.is_empty() {
            return false;
        }
        let n = shape[0];
        let slice = shape[1..].to_vec();
        let xs = self.tame(a, 3.0);
        let init = match self.exact(&slice, r1) {
            Some(v) => self.tame(&v, 3.0),
            None => {
                let s = self.e1(reduce(ReduceOp::Sum, vec![0], false), vec![xs.atom.clone()]);
                let q = self.bin(BinaryOp::Mul, &s, &lit(0.25));
                Val::new(q, xs.bound * n as f64 * 0.25)
            }
        };
        let konst = if r2 % 3 == 0 {
            None
        } else {
            let src = self.pool[self.pick(r2 >> 2)].clone();
            let axes: Vec<usize> = (0..src.rank()).collect();
            let sum = self.e1(reduce(ReduceOp::Sum, axes, false), vec![src.atom]);
            Some(self.un(UnaryOp::Tanh, &sum))
        };
        let slice_ty = f64_type(&slice);
        let mut tys = vec![];
        if konst.is_some() {
            tys.push(Type::scalar(DType::F64));
        }
        tys.push(slice_ty.clone());
        tys.push(slice_ty);
        let ps = self.em.begin_body(&tys);
        let k = konst.is_some() as usize;
        let w = if k == 1 {
            Atom::Var(ps[0].clone())
        } else {
            lit(0.5)
        };
        let c = Atom::Var(ps[k].clone());
        let x = Atom::Var(ps[k + 1].clone());
        let variant = r3 % 3;
        let (c2, y, cb, yb) = match variant {
            0 => {
                let cw = self.bin(BinaryOp::Mul, &c, &w);
                let s = self.bin(BinaryOp::Add, &cw, &x);
                let c2 = self.un(UnaryOp::Tanh, &s);
                let y = self.bin(BinaryOp::Mul, &c2, &x);
                (c2, y, init.bound.max(1.0), xs.bound)
            }
            1 => {
                let half = self.bin(BinaryOp::Mul, &c, &lit(0.5));
                let sx = self.un(UnaryOp::Sin, &x);
                let sw = self.bin(BinaryOp::Mul, &sx, &w);
                let c2 = self.bin(BinaryOp::Add, &half, &sw);
                let b = init.bound + 2.0;
                (c2.clone(), c2, b, b)
            }
            _ => {
                let xw = self.bin(BinaryOp::Mul, &x, &w);
                let c2 = self.bin(BinaryOp::Add, &c, &xw);
                let sc = self.un(UnaryOp::Sin, &c2);
                let y = self.bin(BinaryOp::Mul, &sc, &x);
                (c2, y, init.bound + n as f64 * xs.bound, xs.bound)
            }
        };
        let body = self.em.end_body(vec![c2, y]);
        let mut args = vec![];
        if let Some(kv) = konst {
            args.push(kv);
        }
        args.push(init.atom.clone());
        args.push(xs.atom.clone());
        self.note(&args);
        let outs = self
            .em
            .emit(
                Prim::Scan {
                    body,
                    nconsts: k,
                    ncarry: 1,
                    length: n,
                    reverse: bit(r3, 4),
                },
                args,
            )
            .expect("a well-typed scan");
        self.push(Val::new(Atom::Var(outs[0].clone()), cb));
        self.push(Val::new(Atom::Var(outs[1].clone()), yb));
        true
    }

    /// `while i < n && sum(x) < t: i, x = i + 1, 0.9 sin(x) + …` from `i = 0` (a
    /// literal operand), `x = a`: the trip count depends on the data, so batching it
    /// runs a batched predicate. The final counter becomes an index for later steps.
    fn while_loop(&mut self, a: &Val, s: &Step) -> bool {
        if !self.menu.while_loops {
            return false;
        }
        let [_, r1, r2, r3] = s.r;
        let x = self.tame(a, 2.0);
        let ty = x.ty();
        let n = 1 + (r1 % 4) as i32;
        let thr = if bit(r2, 0) {
            let v = self.scalar(r2 >> 1);
            Some(self.un(UnaryOp::Tanh, &v.atom))
        } else {
            None
        };
        let w = if bit(r3, 0) {
            self.exact(&ty.shape, r3 >> 1).map(|v| self.tame(&v, 1.0))
        } else {
            None
        };
        let index_ty = Type::scalar(DType::I32);

        let mut tys = vec![];
        if thr.is_some() {
            tys.push(Type::scalar(DType::F64));
        }
        tys.push(index_ty.clone());
        tys.push(ty.clone());
        let ps = self.em.begin_body(&tys);
        let k = thr.is_some() as usize;
        let t = if k == 1 {
            Atom::Var(ps[0].clone())
        } else {
            lit(0.25)
        };
        let i = Atom::Var(ps[k].clone());
        let xc = Atom::Var(ps[k + 1].clone());
        let in_range = self.e1(Prim::Compare(CmpOp::Lt), vec![i, Atom::Lit(Scalar::I32(n))]);
        let axes: Vec<usize> = (0..ty.rank()).collect();
        let sum = self.e1(reduce(ReduceOp::Sum, axes, false), vec![xc]);
        let small = self.e1(Prim::Compare(CmpOp::Lt), vec![sum, t]);
        let go = self.bin(BinaryOp::And, &in_range, &small);
        let cond_body = self.em.end_body(vec![go]);

        let mut tys = vec![];
        if w.is_some() {
            tys.push(ty.clone());
        }
        tys.push(index_ty);
        tys.push(ty.clone());
        let ps = self.em.begin_body(&tys);
        let kb = w.is_some() as usize;
        let i = Atom::Var(ps[kb].clone());
        let xb = Atom::Var(ps[kb + 1].clone());
        let i2 = self.bin(BinaryOp::Add, &i, &Atom::Lit(Scalar::I32(1)));
        let sx = self.un(UnaryOp::Sin, &xb);
        let s9 = self.bin(BinaryOp::Mul, &sx, &lit(0.9));
        let x2 = if kb == 1 {
            let wx = self.bin(BinaryOp::Mul, &Atom::Var(ps[0].clone()), &xb);
            self.bin(BinaryOp::Add, &s9, &wx)
        } else {
            self.bin(BinaryOp::Add, &s9, &lit(0.1))
        };
        let body = self.em.end_body(vec![i2, x2]);

        let mut args = vec![];
        args.extend(thr);
        if let Some(w) = &w {
            args.push(w.atom.clone());
        }
        args.push(Atom::Lit(Scalar::I32(0)));
        args.push(x.atom.clone());
        self.note(&args);
        let outs = self
            .em
            .emit(
                Prim::While {
                    cond_body,
                    body,
                    cond_nconsts: k,
                    body_nconsts: kb,
                },
                args,
            )
            .expect("a well-typed while");
        self.ints.push(Atom::Var(outs[0].clone()));
        let bound = x.bound.max(1.0) * (1.0 + w.map_or(0.0, |w| w.bound));
        self.push(Val::new(Atom::Var(outs[1].clone()), bound));
        true
    }

    /// A fori-like scan: a static number of steps, no `xs`, one carry, an optional
    /// constant of the carry's shape and optional stacked `ys`.
    fn scan_fori(&mut self, a: &Val, s: &Step) {
        let [_, r1, r2, r3] = s.r;
        let length = 1 + r1 as usize % 3;
        let carry = self.tame(a, 2.0);
        let ty = carry.ty();
        let konst = if bit(r2, 0) {
            self.exact(&ty.shape, r2 >> 1).map(|v| self.tame(&v, 1.0))
        } else {
            None
        };
        let with_ys = bit(r3, 0) && carry.rank() < MAX_RANK && carry.numel() * length <= MAX_NUMEL;
        let mut tys = vec![];
        if konst.is_some() {
            tys.push(ty.clone());
        }
        tys.push(ty.clone());
        let ps = self.em.begin_body(&tys);
        let k = konst.is_some() as usize;
        let c = Atom::Var(ps[k].clone());
        let sc = self.un(UnaryOp::Sin, &c);
        let scaled = self.bin(BinaryOp::Mul, &sc, &lit(0.9));
        let c2 = match k {
            1 => {
                let w = Atom::Var(ps[0].clone());
                let cw = self.bin(BinaryOp::Mul, &c, &w);
                self.bin(BinaryOp::Add, &scaled, &cw)
            }
            _ => self.bin(BinaryOp::Add, &scaled, &lit(0.1)),
        };
        let mut results = vec![c2.clone()];
        if with_ys {
            results.push(self.bin(BinaryOp::Mul, &c, &c2));
        }
        let body = self.em.end_body(results);
        let mut args = vec![];
        if let Some(kv) = &konst {
            args.push(kv.atom.clone());
        }
        args.push(carry.atom.clone());
        self.note(&args);
        let outs = self
            .em
            .emit(
                Prim::Scan {
                    body,
                    nconsts: k,
                    ncarry: 1,
                    length,
                    reverse: bit(r3, 1),
                },
                args,
            )
            .expect("a well-typed scan");
        let cb = carry.bound + 1.0 * length as f64 + 2.0;
        for o in outs {
            self.push(Val::new(Atom::Var(o), cb * cb));
        }
    }
}

// ---- inspection -----------------------------------------------------------------------

/// The names of the primitives used in `b`, nested bodies included.
pub fn prims_used(b: &Body, out: &mut BTreeSet<&'static str>) {
    for e in &b.eqns {
        out.insert(e.prim.name());
        for body in e.prim.bodies() {
            prims_used(body, out);
        }
    }
}

// ---- arrays -------------------------------------------------------------------------

fn run(prim: Prim, args: &[Array]) -> Array {
    apply(&prim, args)
        .unwrap_or_else(|e| panic!("test plumbing failed: {e:?}"))
        .remove(0)
}

/// The arrays stacked along a new axis `axis`.
pub fn stack(xs: &[Array], axis: usize) -> Array {
    let parts: Vec<Array> = xs
        .iter()
        .map(|x| {
            let mut s = x.shape().to_vec();
            s.insert(axis, 1);
            x.reshaped(s).expect("inserting a unit axis keeps the size")
        })
        .collect();
    run(Prim::Concat { axis }, &parts)
}

/// Element `i` along `axis` (the axis removed).
pub fn index(x: &Array, axis: usize, i: usize) -> Array {
    run(
        Prim::Take { axis },
        &[x.clone(), Array::scalar(Scalar::I64(i as i64))],
    )
}

pub fn values(a: &Array) -> Vec<f64> {
    a.to_vec::<f64>().expect("an f64 array")
}

pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Equal values, reading `-0.0 == 0.0` and NaN as equal to NaN.
pub fn same_values(a: &Array, b: &Array) -> bool {
    a.shape() == b.shape()
        && a.dtype() == b.dtype()
        && a.to_f64_vec()
            .iter()
            .zip(b.to_f64_vec())
            .all(|(x, y)| *x == y || (x.is_nan() && y.is_nan()))
}

/// Elementwise `|x - y| <= rel * (max(|x|, |y|) + max|want|)`, shapes equal.
pub fn close(got: &Array, want: &Array, rel: f64) -> bool {
    if got.shape() != want.shape() {
        return false;
    }
    let (g, w) = (values(got), values(want));
    let scale = max_abs(&w);
    g.iter()
        .zip(&w)
        .all(|(x, y)| (x - y).abs() <= rel * (x.abs().max(y.abs()) + scale))
}

pub fn all_finite(xs: &[Array]) -> bool {
    xs.iter()
        .all(|a| a.to_f64_vec().iter().all(|x| x.is_finite()))
}

/// `sum_i <a_i, b_i>` and `sum_i sum |a_i||b_i|` (the scale of its rounding error).
pub fn inner(a: &[Array], b: &[Array]) -> (f64, f64) {
    let (mut s, mut m) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (p, q) in values(x).iter().zip(values(y)) {
            s += p * q;
            m += (p * q).abs();
        }
    }
    (s, m)
}
