//! Shared helpers of the vmap tests: a small function builder, deterministic random
//! arrays, stacking and slicing of arrays, and the checker of the vmap law
//! `vmap(f)(xs)[i] == f(xs[i])`.

#![allow(dead_code)]

use nabla_diag::Span;
use nabla_interp::{apply, eval_func};
use nabla_ir::{self_check, Array, Atom, Body, Builder, DType, Data, Func, Prim, Scalar, Type};
use nabla_transform::vmap::vmap;

/// Builds test functions with inferred result types.
pub struct Fb {
    b: Builder,
}

impl Default for Fb {
    fn default() -> Self {
        Fb::new()
    }
}

impl Fb {
    pub fn new() -> Fb {
        Fb { b: Builder::new() }
    }

    pub fn param(&mut self, dtype: DType, shape: &[usize]) -> Atom {
        Atom::Var(self.b.param(Type::new(dtype, shape.to_vec())))
    }

    pub fn ops(&mut self, prim: Prim, args: Vec<Atom>) -> Vec<Atom> {
        let name = prim.name();
        self.b
            .emit(prim, args, Span::DUMMY)
            .unwrap_or_else(|e| panic!("test function {name} is ill-typed: {e}"))
            .into_iter()
            .map(Atom::Var)
            .collect()
    }

    pub fn op(&mut self, prim: Prim, args: Vec<Atom>) -> Atom {
        let mut outs = self.ops(prim, args);
        assert_eq!(outs.len(), 1);
        outs.remove(0)
    }

    /// A nested body with parameters of `types`, built by `f`.
    pub fn body(
        &mut self,
        types: &[Type],
        f: impl FnOnce(&mut Fb, Vec<Atom>) -> Vec<Atom>,
    ) -> Body {
        let params = self.b.begin_body(types);
        let results = f(self, params.into_iter().map(Atom::Var).collect());
        self.b.end_body(results)
    }

    pub fn finish(self, results: Vec<Atom>) -> Func {
        let f = self.b.finish("f", results);
        self_check(&f).unwrap_or_else(|e| panic!("test function fails the self-check: {e}"));
        f
    }
}

/// Builds a one-shot function from parameter types.
pub fn func(params: &[(DType, &[usize])], f: impl FnOnce(&mut Fb, Vec<Atom>) -> Vec<Atom>) -> Func {
    let mut fb = Fb::new();
    let ps: Vec<Atom> = params.iter().map(|(d, s)| fb.param(*d, s)).collect();
    let results = f(&mut fb, ps);
    fb.finish(results)
}

pub fn t(dtype: DType, shape: &[usize]) -> Type {
    Type::new(dtype, shape.to_vec())
}

pub fn f64l(v: f64) -> Atom {
    Atom::Lit(Scalar::F64(v))
}

pub fn i32l(v: i32) -> Atom {
    Atom::Lit(Scalar::I32(v))
}

/// SplitMix64: deterministic, dependency-free test randomness.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

/// Default test values: floats in [-3, 3] (some with long mantissas), small integers
/// including out-of-range indices for the shapes the tests use, random bools.
pub fn random_array(rng: &mut Rng, ty: &Type) -> Array {
    let n = ty.numel();
    let data = match ty.dtype {
        DType::Bool => Data::Bool((0..n).map(|_| rng.next().is_multiple_of(2)).collect()),
        DType::I32 => Data::I32((0..n).map(|_| rng.int(-2, 6) as i32).collect()),
        DType::I64 => Data::I64((0..n).map(|_| rng.int(-2, 6)).collect()),
        DType::U32 => Data::U32((0..n).map(|_| rng.int(0, 8) as u32).collect()),
        DType::F32 => Data::F32((0..n).map(|_| float(rng) as f32).collect()),
        DType::F64 => Data::F64((0..n).map(|_| float(rng)).collect()),
    };
    Array::new(ty.shape.clone(), data).expect("the data has the type's length")
}

fn float(rng: &mut Rng) -> f64 {
    let v = (rng.int(-2400, 2400) as f64) / 800.0;
    if rng.next().is_multiple_of(3) {
        v * std::f64::consts::PI / 3.0
    } else {
        v
    }
}

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

/// How the elements of each argument are drawn.
pub type Gen<'a> = &'a dyn Fn(&mut Rng, usize, &Type) -> Array;

/// Checks the vmap law on random arguments: returns the batched function.
pub fn check(f: &Func, in_axes: &[Option<usize>], out_axes: &[Option<usize>], size: usize) -> Func {
    check_with(f, in_axes, out_axes, size, 7, &|rng, _, ty| {
        random_array(rng, ty)
    })
}

/// [`check`] with a seed and a generator of per-element arguments.
pub fn check_with(
    f: &Func,
    in_axes: &[Option<usize>],
    out_axes: &[Option<usize>],
    size: usize,
    seed: u64,
    gen: Gen,
) -> Func {
    let g = vmap(f, in_axes, size, out_axes).unwrap_or_else(|e| {
        panic!("vmap failed for in_axes {in_axes:?}, out_axes {out_axes:?}: {e}\n{f}")
    });
    self_check(&g).unwrap_or_else(|e| panic!("vmap's output fails the self-check: {e}\n{f}"));
    let mut rng = Rng(seed);
    // elems[p][i]: argument p of batch element i.
    let elems: Vec<Vec<Array>> = f
        .body
        .params
        .iter()
        .zip(in_axes)
        .enumerate()
        .map(|(p, (v, ax))| {
            let n = if ax.is_some() { size } else { 1 };
            (0..n).map(|_| gen(&mut rng, p, &v.ty)).collect()
        })
        .collect();
    let batched: Vec<Array> = elems
        .iter()
        .zip(in_axes)
        .map(|(xs, ax)| match ax {
            Some(a) => stack(xs, *a),
            None => xs[0].clone(),
        })
        .collect();
    let got = eval_func(&g, &batched)
        .unwrap_or_else(|e| panic!("the batched function fails: {e:?}\n{g}"));
    for i in 0..size {
        let args: Vec<Array> = elems
            .iter()
            .zip(in_axes)
            .map(|(xs, ax)| {
                if ax.is_some() {
                    xs[i].clone()
                } else {
                    xs[0].clone()
                }
            })
            .collect();
        let want = eval_func(f, &args).unwrap_or_else(|e| panic!("f fails: {e:?}\n{f}"));
        for (j, (w, out)) in want.iter().zip(out_axes).enumerate() {
            let r = match out {
                Some(o) => index(&got[j], *o, i),
                None => got[j].clone(),
            };
            assert!(
                r.bit_eq(w),
                "vmap law broken: result {j}, element {i}, in_axes {in_axes:?}, out_axes \
                 {out_axes:?}\nwant {w:?}\ngot  {r:?}\nargs {args:?}\n{f}\n{g}"
            );
        }
    }
    g
}

/// `(in_axes, out_axes)`.
pub type AxesCase<'a> = (&'a [Option<usize>], &'a [Option<usize>]);

/// Runs [`check`] for each case with batch size 3.
pub fn check_cases(f: &Func, cases: &[AxesCase]) {
    for (ins, outs) in cases {
        check(f, ins, outs, 3);
    }
}
