//! `fold`: each identity and folding rule on IR text, the rewrites it must not make,
//! and bit-exactness on NaN, infinities and signed zeros.

mod simplify_support;

use nabla_transform::simplify::fold;
use simplify_support::{assert_pass, assert_pass_with, run, Zeros};

#[test]
fn layout_identities_forward_the_operand() {
    assert_pass(
        fold,
        "fn f(%0: f64[2, 3], %1: i32[3]) -> (f64[2, 3], f64[2, 3], f64[2, 3], f64[2, 3], f64[2, 3], f64[2, 3], i32[3]) {
           %2: f64[2, 3] = convert[dtype=f64](%0)
           %3: f64[2, 3] = reshape[shape=[2, 3]](%2)
           %4: f64[2, 3] = transpose[perm=[0, 1]](%3)
           %5: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[0, 1]](%4)
           %6: f64[2, 3] = slice[start=[0, 0], limit=[2, 3], stride=[1, 1]](%5)
           %7: f64[2, 3] = rev[axes=[]](%6)
           %8: f64[2, 3] = pad[lo=[0, 0], hi=[0, 0]](%7, 1.0:f64)
           %9: f64[2, 3] = concat[axis=0](%8)
           %10: f64[2, 3] = integer_pow[exponent=1](%9)
           %11: f64[2, 3] = dynamic_slice[sizes=[2, 3]](%10, 1:i32, 1:i32)
           %12: f64[2, 3] = reduce_max[axes=[], compensated=false](%11)
           %13: f64[2, 3] = cumsum[axis=0, reverse=false](%0)
           %14: i32[1, 3] = reshape[shape=[1, 3]](%1)
           %15: i32[1, 3] = rev[axes=[0]](%14)
           %16: i32[1, 3] = cumprod[axis=0, reverse=true](%15)
           %17: i32[3] = reshape[shape=[3]](%16)
           %18: f64[2, 3] = dynamic_update_slice(%0, %12, 0:i32, 0:i32)
           return (%12, %13, %18, %3, %5, %7, %17)
         }",
        // `cumsum` along an axis of length 2 stays; the rest forwards to the operand
        // (the reshape pair composes into the identity).
        "fn f(%0: f64[2, 3], %1: i32[3]) -> (f64[2, 3], f64[2, 3], f64[2, 3], f64[2, 3], f64[2, 3], f64[2, 3], i32[3]) {
           %13: f64[2, 3] = cumsum[axis=0, reverse=false](%0)
           %14: i32[1, 3] = reshape[shape=[1, 3]](%1)
           return (%0, %13, %0, %0, %0, %0, %1)
         }",
    );
}

#[test]
fn unit_operands_are_dropped() {
    assert_pass(
        fold,
        "fn f(%0: f64[3], %1: i32[]) -> (f64[3], f64[3], f64[3], f64[3], i32[], i32[]) {
           %2: f64[3] = broadcast_in_dim[shape=[3], dims=[]](1.0:f64)
           %3: f64[3] = mul(%0, %2)
           %4: f64[3] = mul(%2, %3)
           %5: f64[3] = div(%4, %2)
           %6: f64[3] = broadcast_in_dim[shape=[3], dims=[]](-0.0:f64)
           %7: f64[3] = add(%0, %6)
           %8: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           %9: f64[3] = sub(%0, %8)
           %10: i32[] = add(%1, 0:i32)
           %11: i32[] = mul(1:i32, %1)
           return (%5, %7, %9, %4, %10, %11)
         }",
        "fn f(%0: f64[3], %1: i32[]) -> (f64[3], f64[3], f64[3], f64[3], i32[], i32[]) {
           %2: f64[3] = broadcast_in_dim[shape=[3], dims=[]](1.0:f64)
           %6: f64[3] = broadcast_in_dim[shape=[3], dims=[]](-0.0:f64)
           %8: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           return (%0, %0, %0, %0, %1, %1)
         }",
    );
}

/// `x + 0` is folded although `-0.0 + 0.0` is `+0.0` (JAX's symbolic zeros do the
/// same), and so is `x - (-0.0)`, which is `x + 0.0`. (`x + (-0.0)` and `x - 0.0` are
/// exact: see `unit_operands_are_dropped`.)
#[test]
fn adding_zero_is_folded_up_to_the_sign_of_zero() {
    let input = "fn f(%0: f64[3]) -> (f64[3], f64[3], f64[3], f64[3]) {
           %1: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           %2: f64[3] = add(%0, %1)
           %3: f64[3] = add(%1, %0)
           %4: f64[] = reduce_sum[axes=[0], compensated=false](%0)
           %5: f64[3] = reduce_sum[axes=[], compensated=false](%0)
           %6: f64[3] = broadcast_in_dim[shape=[3], dims=[]](-0.0:f64)
           %7: f64[3] = sub(%0, %6)
           return (%2, %3, %5, %7)
         }";
    let expected = "fn f(%0: f64[3]) -> (f64[3], f64[3], f64[3], f64[3]) {
           %1: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           %4: f64[] = reduce_sum[axes=[0], compensated=false](%0)
           %6: f64[3] = broadcast_in_dim[shape=[3], dims=[]](-0.0:f64)
           return (%0, %0, %0, %0)
         }";
    assert_pass_with(fold, input, expected, Zeros::Signless);
    // The one input on which the results differ: -0.0.
    let f = simplify_support::parse(input);
    let g = simplify_support::parse(&run(fold, input));
    let neg_zero = nabla_ir::Array::from_slice(&[-0.0f64, 1.0, f64::NAN]);
    let before = nabla_interp::eval_func(&f, std::slice::from_ref(&neg_zero)).expect("runs");
    let after = nabla_interp::eval_func(&g, &[neg_zero]).expect("runs");
    assert_eq!(before[0].to_vec::<f64>().map(|v| v[0].to_bits()), Some(0));
    assert_eq!(
        after[0].to_vec::<f64>().map(|v| v[0].to_bits()),
        Some((-0.0f64).to_bits())
    );

    assert_pass(
        fold,
        "fn f(%0: f64[]) -> (f64[]) {
           %1: f64[] = add(%0, -0.0:f64)
           return (%1)
         }",
        "fn f(%0: f64[]) -> (f64[]) {
           return (%0)
         }",
    );
}

/// Rewrites that would change some result are not made.
#[test]
fn inexact_identities_are_not_applied() {
    let input =
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3], f64[3], f64[3], f64[], f64[3], f64[3]) {
           %2: f64[3] = broadcast_in_dim[shape=[3], dims=[]](0.0:f64)
           %3: f64[3] = mul(%0, %2)
           %4: f64[3] = sub(%2, %0)
           %5: f64[3] = sub(%0, %0)
           %6: f64[3] = div(%0, %0)
           %7: f64[] = reduce_sum[axes=[0], compensated=false](%2)
           %8: f64[3] = exp(%2)
           %9: f32[3] = convert[dtype=f32](%0)
           %10: f64[3] = convert[dtype=f64](%9)
           return (%3, %4, %5, %6, %7, %8, %10)
         }";
    assert_pass(fold, input, input);
}

#[test]
fn negation_twice_is_the_identity() {
    assert_pass(
        fold,
        "fn f(%0: f64[3], %1: i32[]) -> (f64[3], i32[], f64[3]) {
           %2: f64[3] = neg(%0)
           %3: f64[3] = neg(%2)
           %4: i32[] = neg(%1)
           %5: i32[] = neg(%4)
           %6: f64[3] = neg(%3)
           return (%3, %5, %6)
         }",
        "fn f(%0: f64[3], %1: i32[]) -> (f64[3], i32[], f64[3]) {
           %2: f64[3] = neg(%0)
           %4: i32[] = neg(%1)
           %6: f64[3] = neg(%0)
           return (%0, %1, %6)
         }",
    );
}

#[test]
fn layout_chains_compose() {
    assert_pass(
        fold,
        "fn f(%0: f64[2, 3, 4], %1: f64[3]) -> (f64[2, 3, 4], f64[4, 2, 3], f64[24], f64[5, 2, 3]) {
           %2: f64[3, 4, 2] = transpose[perm=[1, 2, 0]](%0)
           %3: f64[2, 3, 4] = transpose[perm=[2, 0, 1]](%2)
           %4: f64[4, 3, 2] = transpose[perm=[1, 0, 2]](%2)
           %5: f64[4, 2, 3] = transpose[perm=[0, 2, 1]](%4)
           %6: f64[6, 4] = reshape[shape=[6, 4]](%0)
           %7: f64[24] = reshape[shape=[24]](%6)
           %8: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[1]](%1)
           %9: f64[5, 2, 3] = broadcast_in_dim[shape=[5, 2, 3], dims=[1, 2]](%8)
           return (%3, %5, %7, %9)
         }",
        // %5: result axis i is %0's axis [1, 2, 0][[1, 0, 2][[0, 2, 1][i]]].
        "fn f(%0: f64[2, 3, 4], %1: f64[3]) -> (f64[2, 3, 4], f64[4, 2, 3], f64[24], f64[5, 2, 3]) {
           %2: f64[3, 4, 2] = transpose[perm=[1, 2, 0]](%0)
           %4: f64[4, 3, 2] = transpose[perm=[2, 1, 0]](%0)
           %5: f64[4, 2, 3] = transpose[perm=[2, 0, 1]](%0)
           %6: f64[6, 4] = reshape[shape=[6, 4]](%0)
           %7: f64[24] = reshape[shape=[24]](%0)
           %8: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[1]](%1)
           %9: f64[5, 2, 3] = broadcast_in_dim[shape=[5, 2, 3], dims=[2]](%1)
           return (%0, %5, %7, %9)
         }",
    );
}

#[test]
fn literal_arithmetic_folds_exactly() {
    assert_pass(
        fold,
        "fn f() -> (f64[], f32[], i32[], i32[], u32[], i64[], f64[], bool[], bool[], f32[], i32[], f64[], bool[]) {
           %0: f64[] = add(0.1:f64, 0.2:f64)
           %1: f32[] = mul(0.1:f32, 3.0:f32)
           %2: i32[] = add(2147483647:i32, 1:i32)
           %3: i32[] = div(7:i32, 0:i32)
           %4: u32[] = sub(0:u32, 1:u32)
           %5: i64[] = div(-9223372036854775808:i64, -1:i64)
           %6: f64[] = div(1.0:f64, -0.0:f64)
           %7: bool[] = lt(nan:f64, 1.0:f64)
           %8: bool[] = ne(nan:f32, nan:f32)
           %9: f32[] = convert[dtype=f32](0.1:f64)
           %10: i32[] = convert[dtype=i32](-2.7:f64)
           %11: f64[] = neg(0.0:f64)
           %12: bool[] = not(true:bool)
           return (%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12)
         }",
        "fn f() -> (f64[], f32[], i32[], i32[], u32[], i64[], f64[], bool[], bool[], f32[], i32[], f64[], bool[]) {
           return (0.30000000000000004:f64, 0.30000001192092896:f32, -2147483648:i32, -1:i32, \
                   4294967295:u32, -9223372036854775808:i64, -inf:f64, false:bool, true:bool, \
                   0.10000000149011612:f32, -2:i32, -0.0:f64, false:bool)
         }",
    );
}

/// Splats (broadcasts of a literal) fold like literals, and stay splats through layout
/// changes and idempotent reductions.
#[test]
fn splats_fold_and_propagate() {
    assert_pass(
        fold,
        "fn f() -> (f64[2, 3], bool[2, 3], f32[3, 2], f64[2], f64[], f64[3], i32[2, 2]) {
           %0: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](2.0:f64)
           %1: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](inf:f64)
           %2: f64[2, 3] = mul(%0, %1)
           %3: bool[2, 3] = gt(%0, %1)
           %4: f64[3, 2] = transpose[perm=[1, 0]](%2)
           %5: f32[3, 2] = convert[dtype=f32](%4)
           %6: f64[2] = reduce_max[axes=[1], compensated=false](%0)
           %7: f64[] = reduce_sum[axes=[0, 1], compensated=false](%0)
           %8: f64[3] = constant[value=f64[3]{nan, nan, nan}]()
           %9: i32[2, 2] = constant[value=i32[2, 2]{1, 2, 3, 4}]()
           return (%2, %3, %5, %6, %7, %8, %9)
         }",
        "fn f() -> (f64[2, 3], bool[2, 3], f32[3, 2], f64[2], f64[], f64[3], i32[2, 2]) {
           %0: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](2.0:f64)
           %1: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](inf:f64)
           %2: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](inf:f64)
           %3: bool[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[]](false:bool)
           %4: f64[3, 2] = broadcast_in_dim[shape=[3, 2], dims=[]](inf:f64)
           %5: f32[3, 2] = broadcast_in_dim[shape=[3, 2], dims=[]](inf:f32)
           %6: f64[2] = broadcast_in_dim[shape=[2], dims=[]](2.0:f64)
           %7: f64[] = reduce_sum[axes=[0, 1], compensated=false](%0)
           %8: f64[3] = broadcast_in_dim[shape=[3], dims=[]](nan:f64)
           %9: i32[2, 2] = constant[value=i32[2, 2]{1, 2, 3, 4}]()
           return (%2, %3, %5, %6, %7, %8, %9)
         }",
    );
}

#[test]
fn select_on_a_known_predicate_or_equal_branches() {
    assert_pass(
        fold,
        "fn f(%0: f64[3], %1: f64[3], %2: bool[3]) -> (f64[3], f64[3], f64[3], f64[3]) {
           %3: bool[3] = broadcast_in_dim[shape=[3], dims=[]](true:bool)
           %4: f64[3] = select(%3, %0, %1)
           %5: bool[3] = broadcast_in_dim[shape=[3], dims=[]](false:bool)
           %6: f64[3] = select(%5, %0, %1)
           %7: f64[3] = select(%2, %1, %1)
           %8: f64[3] = select(%2, %0, %1)
           return (%4, %6, %7, %8)
         }",
        "fn f(%0: f64[3], %1: f64[3], %2: bool[3]) -> (f64[3], f64[3], f64[3], f64[3]) {
           %3: bool[3] = broadcast_in_dim[shape=[3], dims=[]](true:bool)
           %5: bool[3] = broadcast_in_dim[shape=[3], dims=[]](false:bool)
           %8: f64[3] = select(%2, %0, %1)
           return (%0, %1, %1, %8)
         }",
    );
}

/// A `cond` on a literal is replaced by its branch, whose equations keep their ids
/// and are folded in their new place.
#[test]
fn cond_on_a_literal_is_inlined() {
    assert_pass(
        fold,
        "fn f(%0: f64[], %1: f64[]) -> (f64[], f64[]) {
           %2: bool[] = lt(1.0:f64, 2.0:f64)
           %7: f64[], %8: f64[] = cond(%2, %0, %1)
             then_body = |%3: f64[], %4: f64[]| {
               %5: f64[] = mul(%3, %4)
               %9: f64[] = mul(%5, 1.0:f64)
               return (%9, %4)
             }
             else_body = |%6: f64[], %10: f64[]| {
               return (%6, %10)
             }
           return (%7, %8)
         }",
        "fn f(%0: f64[], %1: f64[]) -> (f64[], f64[]) {
           %5: f64[] = mul(%0, %1)
           return (%5, %1)
         }",
    );
}

/// Literal operands of a `cond` are substituted into both branches (and dropped
/// from the operands), where they fold further.
#[test]
fn literal_operands_move_into_bodies() {
    assert_pass(
        fold,
        "fn f(%0: bool[], %1: f64[]) -> (f64[]) {
           %8: f64[] = cond(%0, 1.0:f64, %1)
             then_body = |%2: f64[], %3: f64[]| {
               %4: f64[] = mul(%3, %2)
               return (%4)
             }
             else_body = |%5: f64[], %6: f64[]| {
               %7: f64[] = add(%5, %5)
               return (%7)
             }
           return (%8)
         }",
        "fn f(%0: bool[], %1: f64[]) -> (f64[]) {
           %8: f64[] = cond(%0, %1)
             then_body = |%3: f64[]| {
               return (%3)
             }
             else_body = |%6: f64[]| {
               return (2.0:f64)
             }
           return (%8)
         }",
    );
}

#[test]
fn loops_take_literal_constants_and_a_false_while_is_its_init() {
    assert_pass(
        fold,
        "fn f(%0: f64[3], %1: i32[]) -> (f64[3], i32[], f64[3]) {
           %6: f64[3] = while[cond_nconsts=0, body_nconsts=0](%0)
             cond_body = |%2: f64[3]| {
               %3: bool[] = gt(1:i32, 2:i32)
               return (%3)
             }
             body = |%4: f64[3]| {
               %5: f64[3] = neg(%4)
               return (%5)
             }
           %12: i32[] = while[cond_nconsts=1, body_nconsts=1](3:i32, 1:i32, %1)
             cond_body = |%7: i32[], %8: i32[]| {
               %9: bool[] = lt(%8, %7)
               return (%9)
             }
             body = |%10: i32[], %11: i32[]| {
               %13: i32[] = add(%11, %10)
               return (%13)
             }
           %14: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[1]](%0)
           %19: f64[3], %20: f64[2, 3] = scan[nconsts=1, ncarry=1, length=2, reverse=false](2.0:f64, %0, %14)
             body = |%15: f64[], %16: f64[3], %17: f64[3]| {
               %18: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%15)
               %21: f64[3] = mul(%16, %18)
               return (%21, %17)
             }
           return (%6, %12, %19)
         }",
        "fn f(%0: f64[3], %1: i32[]) -> (f64[3], i32[], f64[3]) {
           %12: i32[] = while[cond_nconsts=0, body_nconsts=0](%1)
             cond_body = |%8: i32[]| {
               %9: bool[] = lt(%8, 3:i32)
               return (%9)
             }
             body = |%11: i32[]| {
               %13: i32[] = add(%11, 1:i32)
               return (%13)
             }
           %14: f64[2, 3] = broadcast_in_dim[shape=[2, 3], dims=[1]](%0)
           %19: f64[3], %20: f64[2, 3] = scan[nconsts=0, ncarry=1, length=2, reverse=false](%0, %14)
             body = |%16: f64[3], %17: f64[3]| {
               %18: f64[3] = broadcast_in_dim[shape=[3], dims=[]](2.0:f64)
               %21: f64[3] = mul(%16, %18)
               return (%21, %17)
             }
           return (%0, %12, %19)
         }",
    );
}

/// Folding leaves every variable it keeps under its id, so a second run finds the
/// same program.
#[test]
fn fold_is_idempotent_on_its_output() {
    let input = "fn f(%0: f64[2, 3]) -> (f64[2, 3]) {
           %1: f64[3, 2] = transpose[perm=[1, 0]](%0)
           %2: f64[2, 3] = transpose[perm=[1, 0]](%1)
           %3: f64[2, 3] = neg(%2)
           %4: f64[2, 3] = neg(%3)
           return (%4)
         }";
    let once = run(fold, input);
    assert_eq!(run(fold, &once), once);
}

/// Literal arithmetic agrees with the interpreter bit for bit: every unary, binary,
/// comparison and conversion on literals of every dtype, folded or (for the functions
/// `fold` leaves alone) kept.
#[test]
fn literal_folding_matches_the_interpreter() {
    use nabla_ir::{infer, Atom, BinaryOp, Builder, CmpOp, DType, Prim, Scalar, Type, UnaryOp};
    fn values(d: DType) -> Vec<Scalar> {
        match d {
            DType::Bool => vec![Scalar::Bool(false), Scalar::Bool(true)],
            DType::I32 => [i32::MIN, -7, -1, 0, 1, 3, i32::MAX]
                .map(Scalar::I32)
                .to_vec(),
            DType::I64 => [i64::MIN, -7, -1, 0, 1, 3, i64::MAX]
                .map(Scalar::I64)
                .to_vec(),
            DType::U32 => [0, 1, 3, 7, u32::MAX].map(Scalar::U32).to_vec(),
            DType::F32 => [
                0.0,
                -0.0,
                1.0,
                -2.5,
                0.1,
                f32::NAN,
                f32::INFINITY,
                f32::MIN_POSITIVE,
            ]
            .map(Scalar::F32)
            .to_vec(),
            DType::F64 => [
                0.0,
                -0.0,
                1.0,
                -2.5,
                0.1,
                f64::NAN,
                f64::NEG_INFINITY,
                1e308,
            ]
            .map(Scalar::F64)
            .to_vec(),
        }
    }
    let mut prims: Vec<(Prim, usize)> = Vec::new();
    prims.extend(UnaryOp::ALL.map(|op| (Prim::Unary(op), 1)));
    prims.extend(BinaryOp::ALL.map(|op| (Prim::Binary(op), 2)));
    prims.extend(CmpOp::ALL.map(|op| (Prim::Compare(op), 2)));
    prims.extend(DType::ALL.map(|dtype| (Prim::Convert { dtype }, 1)));
    let (mut checked, mut folded) = (0, 0);
    for d in DType::ALL {
        let vs = values(d);
        for (prim, arity) in &prims {
            if infer(prim, &vec![Type::scalar(d); *arity]).is_err() {
                continue;
            }
            let operands: Vec<Vec<Scalar>> = if *arity == 1 {
                vs.iter().map(|&a| vec![a]).collect()
            } else {
                vs.iter()
                    .flat_map(|&a| vs.iter().map(move |&b| vec![a, b]))
                    .collect()
            };
            for ops in operands {
                let args: Vec<Atom> = ops.into_iter().map(Atom::Lit).collect();
                let mut bld = Builder::new();
                let r = bld
                    .emit1(prim.clone(), args, nabla_diag::Span::DUMMY)
                    .expect("well typed");
                let f = bld.finish("f", vec![Atom::Var(r)]);
                let g = fold(&f).expect("folds");
                nabla_ir::self_check(&g).expect("valid");
                folded += usize::from(g.body.eqns.is_empty());
                simplify_support::assert_same_on(&f, &g, &[], Zeros::Exact);
                checked += 1;
            }
        }
    }
    assert!(
        checked > 4000 && folded > 3000,
        "{folded} of {checked} folded"
    );
}
