//! Forward and reverse mode of every differentiable primitive against central finite
//! differences in f64: one row per primitive (and shape), each checked with all float
//! inputs active, with each float input alone active (the symbolic-zero paths), and
//! with none.
//!
//! - jvp: the tangents against finite differences, and one order higher (the jvp of
//!   the jvp against finite differences of the jvp).
//! - vjp: both halves pass the self-check, the primal half reproduces `f` bit for bit,
//!   and for random cotangents `ct` and directions `t`, `⟨pullback(ct), t⟩` equals
//!   `⟨ct, df(t)⟩` by finite differences (the row's step and tolerance) and
//!   `⟨ct, jvp(t)⟩` up to rounding.
//! - grad: of the row's function when it has one scalar float result, else of the sum
//!   of its float results, against finite differences.
//!
//! Rows with a `while` loop have no reverse mode: vjp and grad must refuse them with
//! E0701 and a hint towards `scan`.

mod jvp_support;

use jvp_support::{
    direction, f64s, fd_check, float_params, grad_check, inputs, parse, scalar_objective,
    vjp_check, Dom, Policy, Rng,
};
use nabla_diag::Code;
use nabla_ir::{Array, BinaryOp, UnaryOp};
use nabla_transform::{grad, jvp, vjp, TransformError};

struct Row {
    name: String,
    ir: String,
    doms: Vec<Dom>,
    h: f64,
    tol: f64,
    /// Tolerance of the pullback against the jvp (rounding only).
    tight: f64,
    reverse: Reverse,
}

/// What reverse mode must do with a row.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reverse {
    /// Every reverse-mode check passes.
    Checked,
    /// vjp and grad refuse the function: it has a `while` loop.
    Refused,
    /// A known bug: the reverse-mode checks must fail (and the mark must go when they
    /// pass). The string says what is wrong.
    #[allow(dead_code)]
    KnownBug(&'static str),
}

fn row(name: impl Into<String>, ir: impl Into<String>) -> Row {
    let ir = ir.into();
    // A while loop's trip count is data-dependent: JAX-style reverse mode refuses it.
    let reverse = if ir.contains("while[") {
        Reverse::Refused
    } else {
        Reverse::Checked
    };
    Row {
        name: name.into(),
        ir,
        doms: Vec::new(),
        h: 1e-6,
        tol: 1e-6,
        tight: 1e-10,
        reverse,
    }
}

impl Row {
    fn doms(mut self, doms: Vec<Dom>) -> Row {
        self.doms = doms;
        self
    }

    /// For f32 arithmetic: a larger step and a looser tolerance.
    fn coarse(mut self) -> Row {
        self.h = 1e-2;
        self.tol = 2e-3;
        self.tight = 1e-5;
        self
    }

    fn policy(&self) -> Policy {
        Policy {
            h: self.h,
            tol: self.tol,
            tight: self.tight,
        }
    }
}

fn i32s(shape: &[usize], v: &[i32]) -> Dom {
    Dom::Fixed(Array::from_vec(shape.to_vec(), v.to_vec()).expect("shape matches"))
}

fn i64s(shape: &[usize], v: &[i64]) -> Dom {
    Dom::Fixed(Array::from_vec(shape.to_vec(), v.to_vec()).expect("shape matches"))
}

fn fixed(shape: &[usize], v: &[f64]) -> Dom {
    Dom::Fixed(f64s(shape, v))
}

fn pred(v: bool) -> Dom {
    Dom::Fixed(Array::from_vec(Vec::<usize>::new(), vec![v]).expect("scalar"))
}

const SHAPES: [(&str, &str); 3] = [
    ("f64[]", "scalar"),
    ("f64[4]", "vector"),
    ("f64[2, 3]", "matrix"),
];

fn unary_dom(op: UnaryOp) -> Option<Dom> {
    use Dom::{Sym, U};
    Some(match op {
        UnaryOp::Neg => U(-2.0, 2.0),
        UnaryOp::Abs | UnaryOp::Sign => Sym(0.3, 2.0),
        UnaryOp::Exp | UnaryOp::Expm1 => U(-1.0, 1.0),
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::Rsqrt => U(0.5, 2.0),
        UnaryOp::Log1p => U(-0.5, 1.0),
        UnaryOp::Sin | UnaryOp::Cos | UnaryOp::Tan => U(-1.0, 1.0),
        UnaryOp::Tanh | UnaryOp::Erf => U(-1.5, 1.5),
        UnaryOp::Asin | UnaryOp::Acos | UnaryOp::Erfinv => U(-0.8, 0.8),
        UnaryOp::Atan => U(-2.0, 2.0),
        UnaryOp::Sinh | UnaryOp::Cosh => U(-1.0, 1.0),
        // Piecewise constant: away from the jumps the derivative is 0.
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => Sym(0.1, 0.4),
        UnaryOp::IsNan | UnaryOp::IsFinite => U(-1.0, 1.0),
        UnaryOp::Not => return None,
    })
}

fn binary_doms(op: BinaryOp) -> Option<Vec<Dom>> {
    use Dom::{Sym, U};
    Some(match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min => {
            vec![U(-2.0, 2.0), U(-2.0, 2.0)]
        }
        BinaryOp::Div => vec![U(-2.0, 2.0), Sym(0.5, 2.0)],
        // x / y stays in (2.09, 2.8) in magnitude: no jump of trunc(x / y).
        BinaryOp::Rem => vec![Sym(2.2, 2.8), U(1.0, 1.05)],
        BinaryOp::Pow => vec![U(0.5, 2.0), U(-1.5, 1.5)],
        BinaryOp::Atan2 => vec![Sym(0.3, 2.0), Sym(0.3, 2.0)],
        BinaryOp::And
        | BinaryOp::Or
        | BinaryOp::Xor
        | BinaryOp::ShiftLeft
        | BinaryOp::ShiftRightLogical => return None,
    })
}

fn elementwise_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for (ty, shape_name) in SHAPES {
        for op in UnaryOp::ALL {
            let Some(dom) = unary_dom(op) else { continue };
            let out = match op {
                UnaryOp::IsNan | UnaryOp::IsFinite => ty.replace("f64", "bool"),
                _ => ty.to_string(),
            };
            let name = op.name();
            rows.push(
                row(
                    format!("{name} {shape_name}"),
                    format!("fn f(%0: {ty}) -> ({out}) {{ %1: {out} = {name}(%0) return (%1) }}"),
                )
                .doms(vec![dom]),
            );
        }
        for op in BinaryOp::ALL {
            let Some(doms) = binary_doms(op) else {
                continue;
            };
            let name = op.name();
            rows.push(
                row(
                    format!("{name} {shape_name}"),
                    format!(
                        "fn f(%0: {ty}, %1: {ty}) -> ({ty}) {{ %2: {ty} = {name}(%0, %1) \
                         return (%2) }}"
                    ),
                )
                .doms(doms),
            );
        }
        for n in [-3, -2, -1, 0, 1, 2, 3, 5] {
            rows.push(
                row(
                    format!("integer_pow {n} {shape_name}"),
                    format!(
                        "fn f(%0: {ty}) -> ({ty}) {{ %1: {ty} = integer_pow[exponent={n}](%0) \
                         return (%1) }}"
                    ),
                )
                .doms(vec![Dom::Sym(0.5, 2.0)]),
            );
        }
    }
    rows.push(
        row(
            "pow with literal operands",
            "fn f(%0: f64[]) -> (f64[]) {
               %1: f64[] = pow(%0, 2.5:f64)
               %2: f64[] = pow(1.7:f64, %0)
               %3: f64[] = add(%1, %2)
               return (%3)
             }",
        )
        .doms(vec![Dom::U(0.5, 2.0)]),
    );
    rows.push(
        row(
            "relu by max with a literal",
            "fn f(%0: f64[]) -> (f64[]) { %1: f64[] = max(%0, 0.0:f64) return (%1) }",
        )
        .doms(vec![Dom::Sym(0.3, 2.0)]),
    );
    rows.push(
        row(
            "integer and bool results next to floats",
            "fn f(%0: f64[3], %1: u32[3]) -> (f64[3], u32[3], bool[3], i32[]) {
           %2: f64[3] = mul(%0, %0)
           %3: u32[3] = shift_left(%1, %1)
           %4: bool[3] = lt(%0, %2)
           %5: i32[] = argmax[axis=0, index_dtype=i32](%0)
           return (%2, %3, %4, %5)
         }",
        )
        .doms(vec![
            Dom::U(-1.0, 1.0),
            Dom::Fixed(Array::from_slice(&[1u32, 2, 3])),
        ]),
    );
    rows.push(row(
        "compare feeding select",
        "fn f(%0: f64[5], %1: f64[5]) -> (f64[5]) {
               %2: bool[5] = lt(%0, %1)
               %3: f64[5] = exp(%0)
               %4: f64[5] = select(%2, %3, %1)
               return (%4)
             }",
    ));
    rows.push(
        row(
            "select on a bool parameter",
            "fn f(%0: bool[4], %1: f64[4], %2: f64[4]) -> (f64[4]) {
               %3: f64[4] = sin(%1)
               %4: f64[4] = select(%0, %3, %2)
               return (%4)
             }",
        )
        .doms(vec![Dom::Fixed(Array::from_slice(&[
            true, false, true, false,
        ]))]),
    );
    rows.push(
        row(
            "select of scalars",
            "fn f(%0: bool[], %1: f64[]) -> (f64[]) {
               %2: f64[] = select(%0, %1, 3.0:f64)
               %3: f64[] = mul(%2, %1)
               return (%3)
             }",
        )
        .doms(vec![pred(true)]),
    );
    rows.push(
        row(
            "convert f64 -> f32 -> f64",
            "fn f(%0: f64[3]) -> (f64[3]) {
               %1: f32[3] = convert[dtype=f32](%0)
               %2: f32[3] = sin(%1)
               %3: f64[3] = convert[dtype=f64](%2)
               return (%3)
             }",
        )
        .coarse(),
    );
    rows.push(
        row(
            "f32 arithmetic",
            "fn f(%0: f32[3], %1: f32[3]) -> (f32[3]) {
               %2: f32[3] = exp(%0)
               %3: f32[3] = mul(%2, %1)
               %4: f32[3] = tanh(%3)
               return (%4)
             }",
        )
        .coarse(),
    );
    rows.push(
        row(
            "convert int -> float",
            "fn f(%0: f64[3], %1: i32[3]) -> (f64[3]) {
               %2: f64[3] = convert[dtype=f64](%1)
               %3: f64[3] = mul(%0, %2)
               return (%3)
             }",
        )
        .doms(vec![Dom::U(-1.0, 1.0), i32s(&[3], &[2, -1, 7])]),
    );
    rows.push(
        row(
            "convert float -> int -> float",
            "fn f(%0: f64[3]) -> (f64[3], i32[3]) {
               %1: i32[3] = convert[dtype=i32](%0)
               %2: f64[3] = convert[dtype=f64](%1)
               %3: f64[3] = mul(%0, %2)
               return (%3, %1)
             }",
        )
        .doms(vec![Dom::U(1.2, 1.8)]),
    );
    rows
}

fn shape_rows() -> Vec<Row> {
    let mut rows = vec![
        row(
            "broadcast_in_dim vector",
            "fn f(%0: f64[3]) -> (f64[2, 3]) {
               %1: f64[3] = sin(%0)
               %2: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[1]](%1)
               return (%2)
             }",
        ),
        row(
            "broadcast_in_dim scalar",
            "fn f(%0: f64[]) -> (f64[2, 2]) {
               %1: f64[2, 2] = broadcast_in_dim[shape=[2, 2], dims=[]](%0)
               %2: f64[2, 2] = mul(%1, %1)
               return (%2)
             }",
        ),
        row(
            "broadcast_in_dim unit axis",
            "fn f(%0: f64[3, 1]) -> (f64[3, 4]) {
               %1: f64[3, 4] = broadcast_in_dim[shape=[3, 4], dims=[0, 1]](%0)
               %2: f64[3, 4] = exp(%1)
               return (%2)
             }",
        ),
        row(
            "reshape matrix",
            "fn f(%0: f64[2, 3]) -> (f64[3, 2]) {
               %1: f64[2, 3] = sin(%0)
               %2: f64[3, 2] = reshape[shape=[3, 2]](%1)
               return (%2)
             }",
        ),
        row(
            "reshape scalar",
            "fn f(%0: f64[]) -> (f64[1, 1]) {
               %1: f64[1, 1] = reshape[shape=[1, 1]](%0)
               %2: f64[1, 1] = exp(%1)
               return (%2)
             }",
        ),
        row(
            "transpose",
            "fn f(%0: f64[2, 3, 4]) -> (f64[4, 2, 3]) {
               %1: f64[2, 3, 4] = sin(%0)
               %2: f64[4, 2, 3] = transpose[perm=[2, 0, 1]](%1)
               return (%2)
             }",
        ),
        row(
            "slice",
            "fn f(%0: f64[4, 5]) -> (f64[2, 3]) {
               %1: f64[4, 5] = sin(%0)
               %2: f64[2, 3] = slice[start=[1, 0], limit=[4, 5], stride=[2, 2]](%1)
               return (%2)
             }",
        ),
        row(
            "pad with a parameter value",
            "fn f(%0: f64[2, 3], %1: f64[]) -> (f64[3, 4]) {
               %2: f64[3, 4] = pad[lo=[1, -1], hi=[0, 2]](%0, %1)
               %3: f64[3, 4] = mul(%2, %2)
               return (%3)
             }",
        ),
        row(
            "pad with a literal value",
            "fn f(%0: f64[3]) -> (f64[6]) {
               %1: f64[3] = sin(%0)
               %2: f64[6] = pad[lo=[2], hi=[1]](%1, 0.5:f64)
               return (%2)
             }",
        ),
        row(
            "concat",
            "fn f(%0: f64[2, 3], %1: f64[2, 2]) -> (f64[2, 8]) {
               %2: f64[2, 8] = concat[axis=1](%0, %1, %0)
               %3: f64[2, 8] = sin(%2)
               return (%3)
             }",
        ),
        row(
            "rev",
            "fn f(%0: f64[2, 3]) -> (f64[2, 3]) {
               %1: f64[2, 3] = rev[axes=[0, 1]](%0)
               %2: f64[2, 3] = mul(%1, %0)
               return (%2)
             }",
        ),
        row(
            "reduce_sum one axis",
            "fn f(%0: f64[2, 3]) -> (f64[2]) {
               %1: f64[2, 3] = sin(%0)
               %2: f64[2] = reduce_sum[axes=[1], compensated=false](%1)
               return (%2)
             }",
        ),
        row(
            "reduce_sum all axes compensated",
            "fn f(%0: f64[2, 3]) -> (f64[]) {
               %1: f64[2, 3] = sin(%0)
               %2: f64[] = reduce_sum[axes=[1, 0], compensated=true](%1)
               return (%2)
             }",
        ),
        row(
            "reduce_sum no axes",
            "fn f(%0: f64[2, 3]) -> (f64[2, 3]) {
               %1: f64[2, 3] = reduce_sum[axes=[], compensated=false](%0)
               %2: f64[2, 3] = exp(%1)
               return (%2)
             }",
        ),
        row(
            "cumsum",
            "fn f(%0: f64[2, 5]) -> (f64[2, 5]) {
               %1: f64[2, 5] = sin(%0)
               %2: f64[2, 5] = cumsum[axis=1, reverse=false](%1)
               return (%2)
             }",
        ),
        row(
            "cumsum reverse",
            "fn f(%0: f64[5, 2]) -> (f64[5, 2]) {
               %1: f64[5, 2] = sin(%0)
               %2: f64[5, 2] = cumsum[axis=0, reverse=true](%1)
               return (%2)
             }",
        ),
    ];
    for op in ["reduce_prod", "reduce_max", "reduce_min"] {
        for (ty, axes, out) in [
            ("f64[3, 4]", "[1]", "f64[3]"),
            ("f64[3, 4]", "[0, 1]", "f64[]"),
            ("f64[2, 3, 2]", "[2, 0]", "f64[3]"),
            ("f64[5]", "[0]", "f64[]"),
            ("f64[2, 3]", "[]", "f64[2, 3]"),
        ] {
            rows.push(
                row(
                    format!("{op} {ty} axes {axes}"),
                    format!(
                        "fn f(%0: {ty}) -> ({out}) {{
                           %1: {out} = {op}[axes={axes}, compensated=false](%0)
                           return (%1)
                         }}"
                    ),
                )
                .doms(vec![Dom::U(-2.0, 2.0)]),
            );
        }
    }
    let prod4 = "fn f(%0: f64[4]) -> (f64[]) {
                   %1: f64[] = reduce_prod[axes=[0], compensated=false](%0)
                   return (%1)
                 }";
    rows.push(
        row("reduce_prod with a zero", prod4).doms(vec![fixed(&[4], &[0.0, 1.5, -2.0, 0.7])]),
    );
    rows.push(
        row("reduce_prod with two zeros", prod4).doms(vec![fixed(&[4], &[0.0, 1.5, 0.0, 0.7])]),
    );
    rows.push(
        row(
            "reduce_prod of a matrix with zeros",
            "fn f(%0: f64[2, 3]) -> (f64[2]) {
               %1: f64[2] = reduce_prod[axes=[1], compensated=false](%0)
               return (%1)
             }",
        )
        .doms(vec![fixed(&[2, 3], &[0.0, 2.0, 3.0, 1.5, -1.0, 0.0])]),
    );
    for n in [1, 2, 3, 4, 5, 7, 8] {
        for reverse in [false, true] {
            rows.push(
                row(
                    format!("cumprod length {n} reverse={reverse}"),
                    format!(
                        "fn f(%0: f64[{n}]) -> (f64[{n}]) {{
                           %1: f64[{n}] = cumprod[axis=0, reverse={reverse}](%0)
                           return (%1)
                         }}"
                    ),
                )
                .doms(vec![Dom::U(-1.5, 1.5)]),
            );
        }
    }
    rows.push(
        row(
            "cumprod of a matrix along axis 1",
            "fn f(%0: f64[3, 5]) -> (f64[3, 5]) {
               %1: f64[3, 5] = cumprod[axis=1, reverse=false](%0)
               return (%1)
             }",
        )
        .doms(vec![Dom::U(-1.5, 1.5)]),
    );
    rows.push(
        row(
            "cumprod of a matrix along axis 0, reversed",
            "fn f(%0: f64[6, 2]) -> (f64[6, 2]) {
               %1: f64[6, 2] = cumprod[axis=0, reverse=true](%0)
               return (%1)
             }",
        )
        .doms(vec![Dom::U(-1.5, 1.5)]),
    );
    for reverse in [false, true] {
        rows.push(
            row(
                format!("cumprod with zeros reverse={reverse}"),
                format!(
                    "fn f(%0: f64[6]) -> (f64[6]) {{
                       %1: f64[6] = cumprod[axis=0, reverse={reverse}](%0)
                       return (%1)
                     }}"
                ),
            )
            .doms(vec![fixed(&[6], &[1.5, 0.0, -0.7, 2.0, 0.0, 1.1])]),
        );
    }
    rows
}

fn linalg_and_indexing_rows() -> Vec<Row> {
    let dot = |name: &str, l: &str, r: &str, out: &str, params: &str| {
        row(
            format!("dot_general {name}"),
            format!(
                "fn f(%0: {l}, %1: {r}) -> ({out}) {{
                   %2: {out} = dot_general[{params}](%0, %1)
                   %3: {out} = sin(%2)
                   return (%3)
                 }}"
            ),
        )
    };
    let mut rows = vec![
        dot(
            "matmul",
            "f64[2, 3]",
            "f64[3, 4]",
            "f64[2, 4]",
            "lhs_contract=[1], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=false",
        ),
        dot(
            "batched",
            "f64[2, 3, 4]",
            "f64[2, 4, 5]",
            "f64[2, 3, 5]",
            "lhs_contract=[2], rhs_contract=[1], lhs_batch=[0], rhs_batch=[0], compensated=false",
        ),
        dot(
            "batch axes inside",
            "f64[3, 2, 4]",
            "f64[4, 5, 2]",
            "f64[2, 3, 5]",
            "lhs_contract=[2], rhs_contract=[0], lhs_batch=[1], rhs_batch=[2], compensated=false",
        ),
        dot(
            "vector dot compensated",
            "f64[5]",
            "f64[5]",
            "f64[]",
            "lhs_contract=[0], rhs_contract=[0], lhs_batch=[], rhs_batch=[], compensated=true",
        ),
        dot(
            "outer product",
            "f64[3]",
            "f64[4]",
            "f64[3, 4]",
            "lhs_contract=[], rhs_contract=[], lhs_batch=[], rhs_batch=[], compensated=false",
        ),
    ];
    let take = "fn f(%0: f64[5, 3], %1: i32[4]) -> (f64[4, 3]) {
                  %2: f64[5, 3] = sin(%0)
                  %3: f64[4, 3] = take[axis=0](%2, %1)
                  return (%3)
                }";
    rows.push(row("take", take).doms(vec![Dom::U(-1.0, 1.0), i32s(&[4], &[1, 1, 3, 0])]));
    rows.push(row("take clamped", take).doms(vec![Dom::U(-1.0, 1.0), i32s(&[4], &[7, -1, 2, 4])]));
    rows.push(
        row(
            "take along axis 1 with matrix indices",
            "fn f(%0: f64[5, 3], %1: i64[2, 2]) -> (f64[5, 2, 2]) {
               %2: f64[5, 2, 2] = take[axis=1](%0, %1)
               %3: f64[5, 2, 2] = mul(%2, %2)
               return (%3)
             }",
        )
        .doms(vec![Dom::U(-1.0, 1.0), i64s(&[2, 2], &[2, 0, 1, 2])]),
    );
    for op in ["scatter", "scatter_add"] {
        let ir = format!(
            "fn f(%0: f64[5, 3], %1: i32[4], %2: f64[4, 3]) -> (f64[5, 3]) {{
               %3: f64[4, 3] = exp(%2)
               %4: f64[5, 3] = {op}[axis=0](%0, %1, %3)
               %5: f64[5, 3] = sin(%4)
               return (%5)
             }}"
        );
        rows.push(
            row(format!("{op} with duplicates"), ir.clone())
                .doms(vec![Dom::U(-1.0, 1.0), i32s(&[4], &[1, 1, 3, 0])]),
        );
        rows.push(
            row(format!("{op} out of range"), ir)
                .doms(vec![Dom::U(-1.0, 1.0), i32s(&[4], &[1, 9, 3, -1])]),
        );
    }
    let ds = "fn f(%0: f64[4, 5], %1: i32[], %2: i32[]) -> (f64[2, 3]) {
                %3: f64[4, 5] = sin(%0)
                %4: f64[2, 3] = dynamic_slice[sizes=[2, 3]](%3, %1, %2)
                return (%4)
              }";
    let i32_scalar =
        |v: i32| Dom::Fixed(Array::from_vec(Vec::<usize>::new(), vec![v]).expect("scalar"));
    rows.push(row("dynamic_slice", ds).doms(vec![Dom::U(-1.0, 1.0), i32_scalar(1), i32_scalar(2)]));
    rows.push(row("dynamic_slice clamped", ds).doms(vec![
        Dom::U(-1.0, 1.0),
        i32_scalar(3),
        i32_scalar(4),
    ]));
    rows.push(row(
        "dynamic_slice with literal starts",
        "fn f(%0: f64[4, 5]) -> (f64[2, 3]) {
           %1: f64[2, 3] = dynamic_slice[sizes=[2, 3]](%0, 1:i32, 2:i64)
           %2: f64[2, 3] = exp(%1)
           return (%2)
         }",
    ));
    let dus = "fn f(%0: f64[4, 5], %1: f64[2, 3], %2: i32[], %3: i64[]) -> (f64[4, 5]) {
                 %4: f64[2, 3] = exp(%1)
                 %5: f64[4, 5] = dynamic_update_slice(%0, %4, %2, %3)
                 %6: f64[4, 5] = sin(%5)
                 return (%6)
               }";
    let i64_scalar =
        |v: i64| Dom::Fixed(Array::from_vec(Vec::<usize>::new(), vec![v]).expect("scalar"));
    rows.push(row("dynamic_update_slice", dus).doms(vec![
        Dom::U(-1.0, 1.0),
        Dom::U(-1.0, 1.0),
        i32_scalar(1),
        i64_scalar(2),
    ]));
    rows.push(row("dynamic_update_slice clamped", dus).doms(vec![
        Dom::U(-1.0, 1.0),
        Dom::U(-1.0, 1.0),
        i32_scalar(5),
        i64_scalar(-3),
    ]));
    rows
}

fn control_flow_rows() -> Vec<Row> {
    let cond = "fn f(%0: bool[], %1: f64[3], %2: f64[]) -> (f64[3], f64[]) {
                  %3: f64[3], %4: f64[] = cond(%0, %1, %2)
                    then_body = |%5: f64[3], %6: f64[]| {
                      %7: f64[3] = sin(%5)
                      %8: f64[] = mul(%6, %6)
                      return (%7, %8)
                    }
                    else_body = |%9: f64[3], %10: f64[]| {
                      %11: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%10)
                      %12: f64[3] = mul(%9, %11)
                      return (%12, 2.0:f64)
                    }
                  return (%3, %4)
                }";
    let mut rows = vec![
        row("cond then", cond).doms(vec![pred(true)]),
        row("cond else", cond).doms(vec![pred(false)]),
    ];
    let cond_int = "fn f(%0: f64[], %1: i32[]) -> (f64[], i32[]) {
                      %2: bool[] = gt(%0, 0.0:f64)
                      %3: f64[], %4: i32[] = cond(%2, %0, %1)
                        then_body = |%5: f64[], %6: i32[]| {
                          %7: f64[] = exp(%5)
                          %8: i32[] = add(%6, 1:i32)
                          return (%7, %8)
                        }
                        else_body = |%9: f64[], %10: i32[]| {
                          return (1.0:f64, %10)
                        }
                      return (%3, %4)
                    }";
    rows.push(
        row("cond on a computed predicate, then", cond_int).doms(vec![
            Dom::U(0.2, 1.0),
            Dom::Fixed(Array::from_vec(Vec::<usize>::new(), vec![3i32]).expect("scalar")),
        ]),
    );
    rows.push(
        row("cond on a computed predicate, else", cond_int).doms(vec![
            Dom::U(-1.0, -0.2),
            Dom::Fixed(Array::from_vec(Vec::<usize>::new(), vec![3i32]).expect("scalar")),
        ]),
    );
    rows.push(row(
        "while with a body constant",
        "fn f(%0: f64[3], %1: f64[]) -> (i32[], f64[3]) {
           %2: i32[], %3: f64[3] = while[cond_nconsts=1, body_nconsts=1](4:i32, %1, 0:i32, %0)
             cond_body = |%4: i32[], %5: i32[], %6: f64[3]| {
               %7: bool[] = lt(%5, %4)
               return (%7)
             }
             body = |%8: f64[], %9: i32[], %10: f64[3]| {
               %11: i32[] = add(%9, 1:i32)
               %12: f64[3] = sin(%10)
               %13: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%8)
               %14: f64[3] = mul(%12, %13)
               return (%11, %14)
             }
           return (%2, %3)
         }",
    ));
    rows.push(row(
        "while whose carry mask needs two rounds",
        "fn f(%0: f64[], %1: f64[], %2: f64[]) -> (f64[], f64[]) {
           %3: i32[], %4: f64[], %5: f64[] = while[cond_nconsts=0, body_nconsts=1](%2, 0:i32, %0, %1)
             cond_body = |%6: i32[], %7: f64[], %8: f64[]| {
               %9: bool[] = lt(%6, 5:i32)
               return (%9)
             }
             body = |%10: f64[], %11: i32[], %12: f64[], %13: f64[]| {
               %14: i32[] = add(%11, 1:i32)
               %15: f64[] = mul(%12, %10)
               %16: f64[] = sin(%15)
               return (%14, %13, %16)
             }
           return (%4, %5)
         }",
    ));
    for reverse in [false, true] {
        rows.push(row(
            format!("scan rnn reverse={reverse}"),
            format!(
                "fn f(%0: f64[], %1: f64[], %2: f64[6]) -> (f64[], f64[6]) {{
                   %3: f64[], %4: f64[6] = scan[nconsts=1, ncarry=1, length=6, reverse={reverse}](%0, %1, %2)
                     body = |%5: f64[], %6: f64[], %7: f64[]| {{
                       %8: f64[] = mul(%5, %6)
                       %9: f64[] = add(%8, %7)
                       %10: f64[] = tanh(%9)
                       %11: f64[] = mul(%10, %10)
                       return (%10, %11)
                     }}
                   return (%3, %4)
                 }}"
            ),
        ));
    }
    rows.push(
        row(
            "scan with an int carry, a nested cond and an inactive ys",
            "fn f(%0: f64[3], %1: f64[4, 3], %2: bool[4]) -> (f64[3], i32[], f64[4, 3], f64[4], f64[4]) {
               %3: f64[3], %4: i32[], %5: f64[4, 3], %6: f64[4], %7: f64[4] = scan[nconsts=1, ncarry=2, length=4, reverse=false](%0, %0, 0:i32, %1, %2)
                 body = |%8: f64[3], %9: f64[3], %10: i32[], %11: f64[3], %12: bool[]| {
                   %13: f64[3] = mul(%9, %8)
                   %14: f64[3] = add(%13, %11)
                   %15: f64[3] = cond(%12, %14)
                     then_body = |%16: f64[3]| {
                       %17: f64[3] = sin(%16)
                       return (%17)
                     }
                     else_body = |%18: f64[3]| {
                       %19: f64[3] = neg(%18)
                       return (%19)
                     }
                   %20: i32[] = add(%10, 1:i32)
                   %21: f64[] = reduce_sum[axes=[0], compensated=false](%15)
                   %22: f64[] = convert[dtype=f64](%20)
                   return (%15, %20, %15, %21, %22)
                 }
               return (%3, %4, %5, %6, %7)
             }",
        )
        .doms(vec![
            Dom::U(-1.0, 1.0),
            Dom::U(-1.0, 1.0),
            Dom::Fixed(Array::from_slice(&[true, false, false, true])),
        ]),
    );
    rows
}

fn all_rows() -> Vec<Row> {
    let mut rows = elementwise_rows();
    rows.extend(shape_rows());
    rows.extend(linalg_and_indexing_rows());
    rows.extend(control_flow_rows());
    rows
}

/// All float inputs active, each alone (when there are several), and none.
fn actives(floats: &[bool]) -> Vec<Vec<bool>> {
    let mut actives = vec![floats.to_vec()];
    if floats.iter().filter(|&&b| b).count() > 1 {
        for i in (0..floats.len()).filter(|&i| floats[i]) {
            let mut a = vec![false; floats.len()];
            a[i] = true;
            actives.push(a);
        }
    }
    actives.push(vec![false; floats.len()]);
    actives
}

/// Every check of one row; failures are collected rather than panicking so one run
/// reports all broken rows.
fn check_row(r: &Row, rng: &mut Rng) -> Vec<String> {
    let mut failures = Vec::new();
    let f = parse(&r.ir);
    let x = inputs(&f, &r.doms, rng);
    let floats = float_params(&f);
    let dirs_for = |active: &[bool], rng: &mut Rng| -> Vec<Array> {
        x.iter()
            .zip(active)
            .filter(|(_, &a)| a)
            .map(|(xi, _)| direction(xi, rng))
            .collect()
    };
    for active in &actives(&floats) {
        let dirs = dirs_for(active, rng);
        if let Err(e) = fd_check(&f, &x, active, &dirs, r.h, r.tol) {
            failures.push(format!("{} (active {active:?}): {e}", r.name));
        }
    }
    // One order higher: the jvp is an ordinary function whose jvp is checked the same
    // way, all its float inputs (primals and tangents) active.
    let g = match jvp(&f, &floats) {
        Ok(g) => g,
        Err(e) => {
            failures.push(format!("{}: jvp failed: {e}", r.name));
            return failures;
        }
    };
    let mut gx = x.clone();
    gx.extend(dirs_for(&floats, rng));
    let gfloats = float_params(&g);
    let gdirs: Vec<Array> = gx
        .iter()
        .zip(&gfloats)
        .filter(|(_, &a)| a)
        .map(|(xi, _)| direction(xi, rng))
        .collect();
    if let Err(e) = fd_check(&g, &gx, &gfloats, &gdirs, r.h, r.tol * 10.0) {
        failures.push(format!("{} (second order): {e}", r.name));
    }
    failures
}

/// Random directions and cotangents drawn per row and active set.
const DRAWS: usize = 2;

/// Every reverse-mode check of one row, the first pullback result scaled by `perturb`
/// (1.0 but in the test of the test); failures are collected as in [`check_row`].
/// Counts the rows whose grad was checked in `grads`.
fn check_row_reverse(r: &Row, rng: &mut Rng, perturb: f64, grads: &mut usize) -> Vec<String> {
    let mut failures = Vec::new();
    let f = parse(&r.ir);
    let x = inputs(&f, &r.doms, rng);
    let floats = float_params(&f);
    for active in &actives(&floats) {
        if let Err(e) = vjp_check(&f, &x, active, r.policy(), DRAWS, rng, perturb) {
            failures.push(format!("{} (vjp, active {active:?}): {e}", r.name));
        }
    }
    match grad_check(&f, &x, r.policy(), rng) {
        Ok(checked) => *grads += usize::from(checked),
        Err(e) => failures.push(format!("{} (grad): {e}", r.name)),
    }
    failures
}

/// `Err` unless `result` is E0701 with a hint towards `scan`.
fn refused<T>(result: Result<T, TransformError>) -> Result<(), String> {
    match result {
        Ok(_) => Err("succeeded".into()),
        Err(e) if e.code != Code::NOT_DIFFERENTIABLE => Err(format!("wrong error: {e}")),
        Err(e) if !e.hint.as_deref().is_some_and(|h| h.contains("scan")) => {
            Err(format!("no hint towards scan: {e} (hint {:?})", e.hint))
        }
        Err(_) => Ok(()),
    }
}

/// A `while` row: vjp refuses every active set with a float input (the loop carries
/// its tangent), and grad refuses the row's scalar objective. With no input active
/// nothing is transposed through the loop, and vjp works.
fn check_row_refused(r: &Row, rng: &mut Rng) -> Vec<String> {
    let mut failures = Vec::new();
    let f = parse(&r.ir);
    let floats = float_params(&f);
    for active in &actives(&floats) {
        let result = if active.contains(&true) {
            refused(vjp(&f, active))
        } else {
            let x = inputs(&f, &r.doms, rng);
            vjp_check(&f, &x, active, r.policy(), DRAWS, rng, 1.0)
        };
        if let Err(e) = result {
            failures.push(format!("{} (vjp, active {active:?}): {e}", r.name));
        }
    }
    if let Some(s) = scalar_objective(&f) {
        let argnums: Vec<usize> = (0..floats.len()).filter(|&i| floats[i]).collect();
        if let Err(e) = refused(grad(&s, &argnums, false)) {
            failures.push(format!("{} (grad): {e}", r.name));
        }
    }
    failures
}

#[test]
fn jvp_matches_finite_differences() {
    let rows = all_rows();
    let mut rng = Rng::new(0x5EED);
    let mut failures = Vec::new();
    for r in &rows {
        failures.extend(check_row(r, &mut rng));
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
    assert!(rows.len() > 150, "only {} rows", rows.len());
}

#[test]
fn vjp_and_grad_match_finite_differences() {
    let rows = all_rows();
    let mut rng = Rng::new(0xBAC4_5EED);
    let mut failures = Vec::new();
    let (mut checked, mut refusals, mut grads) = (0, 0, 0);
    for r in &rows {
        match r.reverse {
            Reverse::Checked => {
                checked += 1;
                failures.extend(check_row_reverse(r, &mut rng, 1.0, &mut grads));
            }
            Reverse::Refused => {
                refusals += 1;
                failures.extend(check_row_refused(r, &mut rng));
            }
            Reverse::KnownBug(why) => {
                if check_row_reverse(r, &mut rng, 1.0, &mut 0).is_empty() {
                    failures.push(format!(
                        "{}: marked as a known reverse-mode bug ({why}) but passes: remove \
                         the mark",
                        r.name
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} reverse-mode checks failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(checked > 150, "only {checked} rows checked in reverse mode");
    // All but the rows with only bool results (is_nan, is_finite).
    assert!(grads > 150, "grad checked on only {grads} rows");
    assert_eq!(refusals, 2, "the while rows");
}

/// The reverse-mode checks can fail: scaling the first pullback result by 1.001 is
/// caught on rows whose pullback is not identically zero there (by finite differences
/// in f64, by the comparison with the jvp in f32), and by 1 + 1e-7 in f64 rows (by the
/// comparison with the jvp).
#[test]
fn reverse_checks_catch_a_slightly_wrong_pullback() {
    let rows = all_rows();
    for name in [
        "sin scalar",
        "div matrix",
        "dot_general batched",
        "reduce_prod with a zero",
        "scatter_add with duplicates",
        "cond else",
        "scan rnn reverse=true",
        "f32 arithmetic",
    ] {
        let r = rows
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}"));
        let f = parse(&r.ir);
        // All inputs active, and each alone: only the active set with no input passes.
        let expected = actives(&float_params(&f)).len() - 1;
        let scales: &[f64] = if r.tight < 1e-6 {
            &[1.001, 1.0 + 1e-7]
        } else {
            &[1.001]
        };
        for &perturb in scales {
            let failures = check_row_reverse(r, &mut Rng::new(7), perturb, &mut 0);
            assert_eq!(
                failures.len(),
                expected,
                "{name}: a pullback scaled by {perturb} slips through:\n{}",
                failures.join("\n")
            );
        }
    }
}

/// Every float-differentiable unary and binary operator has a row, so a new operator
/// must come with a finite-difference check.
#[test]
fn every_float_operator_has_a_row() {
    let rows = all_rows();
    for op in UnaryOp::ALL {
        if unary_dom(op).is_some() {
            let name = format!("{} scalar", op.name());
            assert!(rows.iter().any(|r| r.name == name), "no row for {name}");
        }
    }
    for op in BinaryOp::ALL {
        if binary_doms(op).is_some() {
            let name = format!("{} matrix", op.name());
            assert!(rows.iter().any(|r| r.name == name), "no row for {name}");
        }
    }
}

/// Equations none of whose results is used, in `body` and its nested bodies.
fn dead_equations(body: &nabla_ir::Body, out: &mut Vec<String>) {
    use std::collections::HashSet;
    let mut used: HashSet<u32> = HashSet::new();
    let mut mark = |a: &nabla_ir::Atom| {
        if let nabla_ir::Atom::Var(v) = a {
            used.insert(v.id);
        }
    };
    body.results.iter().for_each(&mut mark);
    body.eqns.iter().flat_map(|e| &e.args).for_each(&mut mark);
    for e in &body.eqns {
        if !e.outs.is_empty() && e.outs.iter().all(|o| !used.contains(&o.id)) {
            out.push(nabla_ir::print_eqn(e));
        }
        for b in e.prim.bodies() {
            dead_equations(b, out);
        }
    }
}

/// The rules emit only what the tangents need: the jvp of a function without dead
/// code has none either.
#[test]
fn jvp_emits_no_dead_equations() {
    let mut failures = Vec::new();
    for r in all_rows() {
        let f = parse(&r.ir);
        let mut dead = Vec::new();
        dead_equations(&f.body, &mut dead);
        assert!(
            dead.is_empty(),
            "{}: the test function has dead code",
            r.name
        );
        let g = jvp(&f, &float_params(&f)).expect("jvp succeeds");
        dead_equations(&g.body, &mut dead);
        if !dead.is_empty() {
            failures.push(format!("{}:\n  {}", r.name, dead.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
