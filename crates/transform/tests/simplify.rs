//! `simplify` as a whole: the fixed point of fold, cse and dce with dense renumbering,
//! on hand-written programs and on random ones checked against the interpreter.

mod simplify_support;

use nabla_interp::eval_func;
use nabla_ir::{
    print_func, self_check, Array, Atom, BinaryOp, Body, CmpOp, DType, Func, Prim, Scalar, Type,
    UnaryOp,
};
use nabla_transform::emit::Emitter;
use nabla_transform::simplify::{cse, dce, fold, renumber, simplify};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use simplify_support::{assert_pass, assert_pass_with, assert_same_on, run, Zeros};

/// The kind of IR the transforms leave behind: symbolic zeros instantiated as
/// broadcasts, unit scalings, repeated and dead computations.
#[test]
fn transform_leftovers_are_cleaned_and_renumbered() {
    assert_pass_with(
        simplify,
        "fn \"jvp(f)\"(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3]) {
           %2: f64[3] = sin(%0)
           %3: f64[3] = cos(%0)
           %4: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           %5: f64[3] = mul(%1, %3)
           %6: f64[3] = add(%4, %5)
           %7: f64[3] = cos(%0)
           %8: f64[3] = broadcast_in_dim[shape=[3], dims=[]](1.0:f64)
           %9: f64[3] = mul(%8, %6)
           %10: f64[3] = neg(%7)
           %11: f64[3] = transpose[perm=[0]](%9)
           return (%2, %11)
         }",
        "fn \"jvp(f)\"(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3]) {
           %2: f64[3] = sin(%0)
           %3: f64[3] = cos(%0)
           %4: f64[3] = mul(%1, %3)
           return (%2, %4)
         }",
        Zeros::Signless,
    );
}

/// A `cond` on a computed literal is inlined, and what the inlined branch repeats of
/// the outer body is then shared.
#[test]
fn folding_exposes_sharing_and_dead_code() {
    assert_pass(
        simplify,
        "fn f(%0: f64[], %1: f64[]) -> (f64[]) {
           %2: f64[] = exp(%0)
           %3: bool[] = gt(2:i32, 1:i32)
           %10: f64[] = cond(%3, %0, %2)
             then_body = |%4: f64[], %5: f64[]| {
               %6: f64[] = exp(%4)
               %7: f64[] = add(%5, %6)
               return (%7)
             }
             else_body = |%8: f64[], %9: f64[]| {
               return (%8)
             }
           return (%10)
         }",
        "fn f(%0: f64[], %1: f64[]) -> (f64[]) {
           %2: f64[] = exp(%0)
           %3: f64[] = add(%2, %2)
           return (%3)
         }",
    );
}

/// Dead code inside a scan body and repeats inside cond branches, with the renumbering
/// following the builder's order (a body's variables before its equation's results).
#[test]
fn nested_bodies_are_simplified() {
    assert_pass(
        simplify,
        "fn f(%0: bool[], %1: f64[3], %2: f64[4, 3]) -> (f64[3]) {
           %20: f64[3], %21: f64[4, 3] = scan[nconsts=1, ncarry=1, length=4, reverse=false](%0, %1, %2)
             body = |%3: bool[], %4: f64[3], %5: f64[3]| {
               %6: f64[3] = sin(%5)
               %7: f64[3] = tanh(%6)
               %14: f64[3] = cond(%3, %4, %5)
                 then_body = |%8: f64[3], %9: f64[3]| {
                   %10: f64[3] = mul(%8, %9)
                   %11: f64[3] = mul(%8, %9)
                   %12: f64[3] = add(%10, %11)
                   return (%12)
                 }
                 else_body = |%13: f64[3], %15: f64[3]| {
                   return (%13)
                 }
               return (%14, %7)
             }
           return (%20)
         }",
        "fn f(%0: bool[], %1: f64[3], %2: f64[4, 3]) -> (f64[3]) {
           %13: f64[3] = scan[nconsts=1, ncarry=1, length=4, reverse=false](%0, %1, %2)
             body = |%3: bool[], %4: f64[3], %5: f64[3]| {
               %12: f64[3] = cond(%3, %4, %5)
                 then_body = |%6: f64[3], %7: f64[3]| {
                   %8: f64[3] = mul(%6, %7)
                   %9: f64[3] = add(%8, %8)
                   return (%9)
                 }
                 else_body = |%10: f64[3], %11: f64[3]| {
                   return (%10)
                 }
               return (%12)
             }
           return (%13)
         }",
    );
}

#[test]
fn renumbering_is_dense_in_builder_order() {
    let out = run(
        renumber,
        "fn f(%7: f64[]) -> (f64[]) {
           %9: bool[] = lt(%7, 0.0:f64)
           %20: f64[] = cond(%9, %7)
             then_body = |%12: f64[]| {
               %15: f64[] = neg(%12)
               return (%15)
             }
             else_body = |%13: f64[]| {
               return (%13)
             }
           return (%20)
         }",
    );
    assert_eq!(
        simplify_support::normalize(&out),
        simplify_support::normalize(
            "fn f(%0: f64[]) -> (f64[]) {
               %1: bool[] = lt(%0, 0.0:f64)
               %5: f64[] = cond(%1, %0)
                 then_body = |%2: f64[]| {
                   %3: f64[] = neg(%2)
                   return (%3)
                 }
                 else_body = |%4: f64[]| {
                   return (%4)
                 }
               return (%5)
             }"
        )
    );
}

// ---- random programs ---------------------------------------------------------------

/// Literals the programs use; every one is folded somewhere (zeros and ones by the
/// identities, the rest by splat arithmetic).
const LITS: [f64; 8] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    2.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];
const BIN_OPS: [BinaryOp; 5] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Max,
    BinaryOp::Min,
];
/// Operations with a literal operand. Division is only ever by a literal: folding
/// `x + 0` may flip the sign of a zero, and only a zero divisor would turn that into a
/// different infinity, so the programs compare equal up to the sign of zero.
const LIT_OPS: [BinaryOp; 4] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];
const CMP_OPS: [CmpOp; 4] = [CmpOp::Lt, CmpOp::Le, CmpOp::Eq, CmpOp::Ne];

/// One step of a random program over a pool of `f64[2, 3]` values; indices are taken
/// modulo the pool's (or the table's) length.
#[derive(Clone, Debug)]
enum Op {
    Bin(usize, usize, usize),
    BinLit(usize, usize, usize, bool),
    Neg(usize),
    NegNeg(usize),
    Exp(usize),
    Reshapes(usize),
    Transposes(usize),
    BroadcastChain,
    Select(usize, usize, usize, usize, usize),
    SelectLit(bool, usize, usize),
    SelectSame(usize, usize, usize),
    Twice(usize, usize, usize),
    LitArith(usize, usize, usize, usize),
    Converts(usize),
    CondLit(bool, usize, usize),
    CondVar(usize, usize),
    Scan(usize, usize, bool),
    While(usize),
    Splat(usize, bool),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let i = || 0usize..64;
    prop_oneof![
        3 => (i(), i(), i()).prop_map(|(o, a, b)| Op::Bin(o, a, b)),
        3 => (i(), i(), i(), any::<bool>()).prop_map(|(o, a, l, left)| Op::BinLit(o, a, l, left)),
        1 => i().prop_map(Op::Neg),
        1 => i().prop_map(Op::NegNeg),
        1 => i().prop_map(Op::Exp),
        1 => i().prop_map(Op::Reshapes),
        1 => i().prop_map(Op::Transposes),
        1 => Just(Op::BroadcastChain),
        1 => (i(), i(), i(), i(), i()).prop_map(|(c, a, b, t, f)| Op::Select(c, a, b, t, f)),
        1 => (any::<bool>(), i(), i()).prop_map(|(p, a, b)| Op::SelectLit(p, a, b)),
        1 => (i(), i(), i()).prop_map(|(a, b, c)| Op::SelectSame(a, b, c)),
        2 => (i(), i(), i()).prop_map(|(o, a, b)| Op::Twice(o, a, b)),
        2 => (i(), i(), i(), i()).prop_map(|(o, a, b, x)| Op::LitArith(o, a, b, x)),
        1 => i().prop_map(Op::Converts),
        1 => (any::<bool>(), i(), i()).prop_map(|(p, a, b)| Op::CondLit(p, a, b)),
        1 => (i(), i()).prop_map(|(a, b)| Op::CondVar(a, b)),
        1 => (i(), i(), any::<bool>()).prop_map(|(a, b, y)| Op::Scan(a, b, y)),
        1 => i().prop_map(Op::While),
        1 => (i(), any::<bool>()).prop_map(|(l, c)| Op::Splat(l, c)),
    ]
}

/// Builds a random program: parameters `a, b: f64[2, 3]`, `p: bool[]`, `s: f64[]`;
/// results the first and the last three values of the pool.
struct Gen {
    em: Emitter,
    pool: Vec<Atom>,
    p: Atom,
    s: Atom,
}

fn t23() -> Type {
    Type::new(DType::F64, [2, 3])
}

fn t3() -> Type {
    Type::new(DType::F64, [3])
}

fn f64_lit(v: f64) -> Atom {
    Atom::Lit(Scalar::F64(v))
}

impl Gen {
    fn new() -> Gen {
        let mut em = Emitter::new();
        let a = em.param(t23());
        let b = em.param(t23());
        let p = em.param(Type::scalar(DType::Bool));
        let s = em.param(Type::scalar(DType::F64));
        Gen {
            em,
            pool: vec![a.into(), b.into()],
            p: p.into(),
            s: s.into(),
        }
    }

    fn at(&self, i: usize) -> Atom {
        self.pool[i % self.pool.len()].clone()
    }

    fn e1(&mut self, prim: Prim, args: Vec<Atom>) -> Atom {
        self.em
            .emit1(prim, args)
            .expect("the generator builds well-typed IR")
    }

    fn bin(&mut self, op: BinaryOp, a: Atom, b: Atom) -> Atom {
        self.e1(Prim::Binary(op), vec![a, b])
    }

    fn un(&mut self, op: UnaryOp, a: Atom) -> Atom {
        self.e1(Prim::Unary(op), vec![a])
    }

    fn splat(&mut self, v: f64, shape: &[usize]) -> Atom {
        self.e1(
            Prim::BroadcastInDim {
                shape: shape.to_vec(),
                dims: vec![],
            },
            vec![f64_lit(v)],
        )
    }

    fn op(&mut self, op: &Op) {
        match *op {
            Op::Bin(o, a, b) => {
                let (x, y) = (self.at(a), self.at(b));
                let r = self.bin(BIN_OPS[o % BIN_OPS.len()], x, y);
                self.pool.push(r);
            }
            Op::BinLit(o, a, l, left) => {
                let op = LIT_OPS[o % LIT_OPS.len()];
                let k = self.splat(LITS[l % LITS.len()], &[2, 3]);
                let x = self.at(a);
                let r = if left && op != BinaryOp::Div {
                    self.bin(op, k, x)
                } else {
                    self.bin(op, x, k)
                };
                self.pool.push(r);
            }
            Op::Neg(a) => {
                let r = self.un(UnaryOp::Neg, self.at(a));
                self.pool.push(r);
            }
            Op::NegNeg(a) => {
                let r = self.un(UnaryOp::Neg, self.at(a));
                let r = self.un(UnaryOp::Neg, r);
                self.pool.push(r);
            }
            Op::Exp(a) => {
                let r = self.un(UnaryOp::Exp, self.at(a));
                self.pool.push(r);
            }
            Op::Reshapes(a) => {
                let mut r = self.at(a);
                for shape in [vec![3, 2], vec![6], vec![2, 3]] {
                    r = self.e1(Prim::Reshape { shape }, vec![r]);
                }
                self.pool.push(r);
            }
            Op::Transposes(a) => {
                let mut r = self.at(a);
                for _ in 0..2 {
                    r = self.e1(Prim::Transpose { perm: vec![1, 0] }, vec![r]);
                }
                self.pool.push(r);
            }
            Op::BroadcastChain => {
                let s = self.s.clone();
                let r = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![3],
                        dims: vec![],
                    },
                    vec![s],
                );
                let r = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![2, 3],
                        dims: vec![1],
                    },
                    vec![r],
                );
                self.pool.push(r);
            }
            Op::Select(c, a, b, t, f) => {
                let p = self.e1(
                    Prim::Compare(CMP_OPS[c % CMP_OPS.len()]),
                    vec![self.at(a), self.at(b)],
                );
                let r = self.e1(Prim::Select, vec![p, self.at(t), self.at(f)]);
                self.pool.push(r);
            }
            Op::SelectLit(p, a, b) => {
                let p = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![2, 3],
                        dims: vec![],
                    },
                    vec![Atom::Lit(Scalar::Bool(p))],
                );
                let r = self.e1(Prim::Select, vec![p, self.at(a), self.at(b)]);
                self.pool.push(r);
            }
            Op::SelectSame(a, b, c) => {
                let p = self.e1(Prim::Compare(CmpOp::Lt), vec![self.at(a), self.at(b)]);
                let r = self.e1(Prim::Select, vec![p, self.at(c), self.at(c)]);
                self.pool.push(r);
            }
            Op::Twice(o, a, b) => {
                let op = BIN_OPS[o % BIN_OPS.len()];
                for _ in 0..2 {
                    let r = self.bin(op, self.at(a), self.at(b));
                    self.pool.push(r);
                }
            }
            Op::LitArith(o, a, b, x) => {
                let op = LIT_OPS[o % LIT_OPS.len()];
                let r = self.bin(
                    op,
                    f64_lit(LITS[a % LITS.len()]),
                    f64_lit(LITS[b % LITS.len()]),
                );
                let r = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![2, 3],
                        dims: vec![],
                    },
                    vec![r],
                );
                let r = self.bin(BinaryOp::Mul, self.at(x), r);
                self.pool.push(r);
            }
            Op::Converts(a) => {
                let mut r = self.at(a);
                for dtype in [DType::F64, DType::F32, DType::F64] {
                    r = self.e1(Prim::Convert { dtype }, vec![r]);
                }
                self.pool.push(r);
            }
            Op::CondLit(p, a, b) => {
                let ts = [t23(), t23()];
                let ps = self.em.begin_body(&ts);
                let (x, y): (Atom, Atom) = (ps[0].clone().into(), ps[1].clone().into());
                let t = self.bin(BinaryOp::Add, x.clone(), y.clone());
                let u = self.bin(BinaryOp::Add, x.clone(), y.clone());
                let v = self.bin(BinaryOp::Mul, t, u);
                let then_body = self.em.end_body(vec![v, x]);
                let ps = self.em.begin_body(&ts);
                let (x, y): (Atom, Atom) = (ps[0].clone().into(), ps[1].clone().into());
                let w = self.bin(BinaryOp::Sub, x, y.clone());
                let else_body = self.em.end_body(vec![w, y]);
                let outs = self.cond(Atom::Lit(Scalar::Bool(p)), then_body, else_body, a, b);
                self.pool.extend(outs);
            }
            Op::CondVar(a, b) => {
                let ts = [t23(), t23()];
                let ps = self.em.begin_body(&ts);
                let (x, y): (Atom, Atom) = (ps[0].clone().into(), ps[1].clone().into());
                let m1 = self.bin(BinaryOp::Mul, x.clone(), y.clone());
                let m2 = self.bin(BinaryOp::Mul, x, y.clone());
                let c = self.bin(BinaryOp::Add, m1.clone(), m2);
                let then_body = self.em.end_body(vec![c, m1, y]);
                let ps = self.em.begin_body(&ts);
                let (x, y): (Atom, Atom) = (ps[0].clone().into(), ps[1].clone().into());
                let d = self.un(UnaryOp::Neg, x.clone());
                let d = self.un(UnaryOp::Neg, d);
                let else_body = self.em.end_body(vec![d, y, x]);
                let p = self.p.clone();
                let outs = self.cond(p, then_body, else_body, a, b);
                self.pool.push(outs[0].clone());
                self.pool.push(outs[2].clone());
            }
            Op::Scan(a, b, both_ys) => {
                let f = Type::scalar(DType::F64);
                let ps = self.em.begin_body(&[f.clone(), f, t3(), t3(), t3(), t3()]);
                let ps: Vec<Atom> = ps.into_iter().map(Atom::from).collect();
                let two = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![3],
                        dims: vec![],
                    },
                    vec![ps[1].clone()],
                );
                let cs = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![3],
                        dims: vec![],
                    },
                    vec![ps[0].clone()],
                );
                let t = self.bin(BinaryOp::Mul, ps[4].clone(), two);
                let acc = self.bin(BinaryOp::Add, ps[2].clone(), t.clone());
                let dead = self.bin(BinaryOp::Mul, ps[3].clone(), ps[4].clone());
                let y1 = self.bin(BinaryOp::Add, t, cs);
                let y2 = self.un(UnaryOp::Neg, ps[4].clone());
                let y2 = self.un(UnaryOp::Neg, y2);
                let body = self.em.end_body(vec![acc, dead, y1, y2]);
                let zero = self.splat(0.0, &[3]);
                let one = self.splat(1.0, &[3]);
                let args = vec![
                    self.s.clone(),
                    f64_lit(2.0),
                    zero,
                    one,
                    self.at(a),
                    self.at(b),
                ];
                let outs = self
                    .em
                    .emit(
                        Prim::Scan {
                            body,
                            nconsts: 2,
                            ncarry: 2,
                            length: 2,
                            reverse: a.is_multiple_of(2),
                        },
                        args,
                    )
                    .expect("a well-typed scan");
                self.pool.push(outs[2].clone().into());
                if both_ys {
                    self.pool.push(outs[3].clone().into());
                }
                let acc = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![2, 3],
                        dims: vec![1],
                    },
                    vec![outs[0].clone().into()],
                );
                self.pool.push(acc);
            }
            Op::While(a) => {
                let i32s = Type::scalar(DType::I32);
                let f = Type::scalar(DType::F64);
                let ps = self
                    .em
                    .begin_body(&[i32s.clone(), f.clone(), i32s.clone(), t23(), t23()]);
                let go = self.e1(
                    Prim::Compare(CmpOp::Lt),
                    vec![ps[2].clone().into(), ps[0].clone().into()],
                );
                let cond_body = self.em.end_body(vec![go]);
                let ps = self.em.begin_body(&[f.clone(), i32s, t23(), t23()]);
                let k = self.bin(
                    BinaryOp::Add,
                    ps[1].clone().into(),
                    Atom::Lit(Scalar::I32(1)),
                );
                let c = self.e1(
                    Prim::BroadcastInDim {
                        shape: vec![2, 3],
                        dims: vec![],
                    },
                    vec![ps[0].clone().into()],
                );
                let x = self.bin(BinaryOp::Mul, ps[2].clone().into(), c);
                let d = self.bin(BinaryOp::Add, ps[3].clone().into(), x.clone());
                let body = self.em.end_body(vec![k, x, d]);
                let outs = self
                    .em
                    .emit(
                        Prim::While {
                            cond_body,
                            body,
                            cond_nconsts: 2,
                            body_nconsts: 1,
                        },
                        vec![
                            Atom::Lit(Scalar::I32(2)),
                            self.s.clone(),
                            f64_lit(1.5),
                            Atom::Lit(Scalar::I32(0)),
                            self.at(a),
                            self.at(a),
                        ],
                    )
                    .expect("a well-typed while");
                self.pool.push(outs[1].clone().into());
            }
            Op::Splat(l, as_constant) => {
                let v = LITS[l % LITS.len()];
                let r = if as_constant {
                    let value = Array::full(vec![2, 3], Scalar::F64(v)).expect("a small array");
                    self.e1(Prim::Constant { value }, vec![])
                } else {
                    self.splat(v, &[2, 3])
                };
                self.pool.push(r);
            }
        }
    }

    fn cond(&mut self, p: Atom, then_body: Body, else_body: Body, a: usize, b: usize) -> Vec<Atom> {
        let args = vec![p, self.at(a), self.at(b)];
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
        outs.into_iter().map(Atom::from).collect()
    }

    fn finish(self) -> Func {
        let n = self.pool.len();
        let mut results = vec![self.pool[0].clone()];
        results.extend(self.pool[n.saturating_sub(3)..].iter().cloned());
        self.em.finish("random", results)
    }
}

fn program(ops: &[Op]) -> Func {
    let mut g = Gen::new();
    for op in ops {
        g.op(op);
    }
    g.finish()
}

fn element() -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => proptest::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]),
        3 => -4.0f64..4.0,
    ]
}

fn inputs() -> impl Strategy<Value = Vec<Array>> {
    (
        proptest::collection::vec(element(), 6),
        proptest::collection::vec(element(), 6),
        any::<bool>(),
        element(),
    )
        .prop_map(|(a, b, p, s)| {
            vec![
                Array::from_vec(vec![2, 3], a).expect("6 elements"),
                Array::from_vec(vec![2, 3], b).expect("6 elements"),
                Array::scalar(Scalar::Bool(p)),
                Array::scalar(Scalar::F64(s)),
            ]
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every pass keeps the results (dce and cse bit for bit; fold and simplify up to
    /// the sign of zero, see `fold`), produces verified IR, and simplify reaches a fixed
    /// point that never has more equations than its input.
    #[test]
    fn passes_preserve_semantics(
        ops in proptest::collection::vec(op_strategy(), 1..14),
        args in inputs(),
    ) {
        let f = program(&ops);
        self_check(&f).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (pass, zeros) in [
            (dce as fn(&Func) -> nabla_transform::Result<Func>, Zeros::Exact),
            (cse, Zeros::Exact),
            (renumber, Zeros::Exact),
            (fold, Zeros::Signless),
            (simplify, Zeros::Signless),
        ] {
            let g = pass(&f).map_err(|e| TestCaseError::fail(e.to_string()))?;
            self_check(&g).map_err(|e| TestCaseError::fail(format!("{e}\n{g}")))?;
            assert_same_on(&f, &g, &args, zeros);
        }
        let once = simplify(&f).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let twice = simplify(&once).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(print_func(&twice), print_func(&once));
        prop_assert!(once.body.eqn_count() <= f.body.eqn_count());
    }
}

/// The random programs do exercise the rules: over a fixed sample, simplify removes
/// most of what they build.
#[test]
fn random_programs_shrink() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(op_strategy(), 8..14);
    let (mut before, mut after) = (0, 0);
    for _ in 0..50 {
        let ops = strategy.new_tree(&mut runner).expect("a value").current();
        let f = program(&ops);
        before += f.body.eqn_count();
        after += simplify(&f).expect("simplifies").body.eqn_count();
    }
    assert!(after * 2 < before, "{after} of {before} equations left");
}

/// Evaluating a simplified random program on all-special inputs (a sanity check that
/// the comparison itself sees NaN and infinities).
#[test]
fn specials_flow_through_random_programs() {
    let ops = vec![
        Op::BinLit(0, 0, 0, false),
        Op::BinLit(2, 1, 2, true),
        Op::Bin(2, 2, 3),
        Op::CondVar(0, 4),
    ];
    let f = program(&ops);
    let g = simplify(&f).expect("simplifies");
    let nan = Array::from_vec(
        vec![2, 3],
        vec![f64::NAN, f64::INFINITY, -0.0, 0.0, 1.0, -1.0],
    )
    .expect("6 elements");
    let args = vec![
        nan.clone(),
        nan,
        Array::scalar(Scalar::Bool(true)),
        Array::scalar(Scalar::F64(f64::NAN)),
    ];
    let out = eval_func(&g, &args).expect("runs");
    assert!(out[0].to_f64_vec()[0].is_nan());
    assert_same_on(&f, &g, &args, Zeros::Signless);
}
