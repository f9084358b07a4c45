//! `dce`: unused equations go, and control flow is narrowed to what is used: `cond`
//! results and operands, `scan` ys, constants, xs and dead carries, `while` constants
//! and dead carries.

mod simplify_support;

use nabla_transform::simplify::dce;
use simplify_support::assert_pass;

#[test]
fn unused_equations_are_removed() {
    assert_pass(
        dce,
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3]) {
           %2: f64[3] = mul(%0, %1)
           %3: f64[3] = sin(%2)
           %4: f64[3] = cos(%3)
           %5: f64[3] = add(%0, %0)
           %8: u32[3] = convert[dtype=u32](%0)
           %6: u32[3], %7: u32[3] = threefry2x32(%8, %8, %8, %8)
           return (%5, %1)
         }",
        "fn f(%0: f64[3], %1: f64[3]) -> (f64[3], f64[3]) {
           %5: f64[3] = add(%0, %0)
           return (%5, %1)
         }",
    );
}

#[test]
fn cond_results_and_operands_nobody_reads_are_pruned() {
    assert_pass(
        dce,
        "fn f(%0: bool[], %1: f64[], %2: f64[]) -> (f64[]) {
           %11: f64[], %12: f64[] = cond(%0, %1, %2)
             then_body = |%3: f64[], %4: f64[]| {
               %5: f64[] = sin(%3)
               %6: f64[] = cos(%4)
               return (%5, %6)
             }
             else_body = |%7: f64[], %8: f64[]| {
               %9: f64[] = neg(%7)
               %10: f64[] = exp(%8)
               return (%9, %10)
             }
           %16: f64[] = cond(%0, %2)
             then_body = |%13: f64[]| {
               return (%13)
             }
             else_body = |%14: f64[]| {
               %15: f64[] = neg(%14)
               return (%15)
             }
           return (%11)
         }",
        "fn f(%0: bool[], %1: f64[], %2: f64[]) -> (f64[]) {
           %11: f64[] = cond(%0, %1)
             then_body = |%3: f64[]| {
               %5: f64[] = sin(%3)
               return (%5)
             }
             else_body = |%7: f64[]| {
               %9: f64[] = neg(%7)
               return (%9)
             }
           return (%11)
         }",
    );
}

/// An operand read by one branch only stays (for both, since they share the
/// operand list).
#[test]
fn cond_operand_read_by_one_branch_stays() {
    let input = "fn f(%0: bool[], %1: f64[], %2: f64[]) -> (f64[]) {
           %7: f64[] = cond(%0, %1, %2)
             then_body = |%3: f64[], %4: f64[]| {
               return (%3)
             }
             else_body = |%5: f64[], %6: f64[]| {
               return (%6)
             }
           return (%7)
         }";
    assert_pass(dce, input, input);
}

/// The scan keeps const %0 and xs %4; the carry `helper` (%9) is unused outside but
/// feeds `acc`, so it stays; the carry `dead` (%10) only feeds itself and goes, as do
/// const %1, xs %5 and the unused ys.
#[test]
fn scan_is_narrowed_to_what_is_used() {
    assert_pass(
        dce,
        "fn f(%0: f64[], %1: f64[], %2: f64[3], %3: f64[3], %4: f64[4, 3], %5: f64[4, 3]) -> (f64[3], f64[4, 3]) {
           %19: f64[3], %20: f64[3], %21: f64[3], %22: f64[4, 3], %23: f64[4, 3] = scan[nconsts=2, ncarry=3, length=4, reverse=false](%0, %1, %2, %3, %2, %4, %5)
             body = |%6: f64[], %7: f64[], %8: f64[3], %9: f64[3], %10: f64[3], %11: f64[3], %12: f64[3]| {
               %13: f64[3] = add(%8, %9)
               %14: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%6)
               %15: f64[3] = mul(%9, %14)
               %16: f64[3] = add(%10, %11)
               %17: f64[3] = mul(%11, %14)
               %18: f64[3] = neg(%12)
               return (%13, %15, %16, %17, %18)
             }
           return (%19, %22)
         }",
        "fn f(%0: f64[], %1: f64[], %2: f64[3], %3: f64[3], %4: f64[4, 3], %5: f64[4, 3]) -> (f64[3], f64[4, 3]) {
           %19: f64[3], %20: f64[3], %22: f64[4, 3] = scan[nconsts=1, ncarry=2, length=4, reverse=false](%0, %2, %3, %4)
             body = |%6: f64[], %8: f64[3], %9: f64[3], %11: f64[3]| {
               %13: f64[3] = add(%8, %9)
               %14: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%6)
               %15: f64[3] = mul(%9, %14)
               %17: f64[3] = mul(%11, %14)
               return (%13, %15, %17)
             }
           return (%19, %22)
         }",
    );
}

/// A carry that is unused outside but read by the body to compute itself and a used
/// ys must stay; so must a chain of carries feeding each other.
#[test]
fn scan_carries_read_inside_stay() {
    let input = "fn f(%0: f64[3], %1: f64[2, 3]) -> (f64[2, 3]) {
           %8: f64[3], %9: f64[3], %10: f64[2, 3] = scan[nconsts=0, ncarry=2, length=2, reverse=true](%0, %0, %1)
             body = |%2: f64[3], %3: f64[3], %4: f64[3]| {
               %5: f64[3] = add(%2, %4)
               %6: f64[3] = mul(%3, %2)
               %7: f64[3] = sin(%3)
               return (%5, %6, %7)
             }
           return (%10)
         }";
    assert_pass(dce, input, input);
}

/// The while keeps its counter (read by the condition) and `x` (the result), drops
/// the carry that only feeds itself and the constants neither body reads.
#[test]
fn while_drops_unread_constants_and_dead_carries() {
    assert_pass(
        dce,
        "fn f(%0: i32[], %1: f64[3], %2: f64[], %3: f64[]) -> (f64[3]) {
           %20: i32[], %21: f64[3], %22: f64[3] = while[cond_nconsts=2, body_nconsts=2](%0, %2, %2, %3, 0:i32, %1, %1)
             cond_body = |%4: i32[], %5: f64[], %6: i32[], %7: f64[3], %8: f64[3]| {
               %9: bool[] = lt(%6, %4)
               return (%9)
             }
             body = |%10: f64[], %11: f64[], %12: i32[], %13: f64[3], %15: f64[3]| {
               %16: i32[] = add(%12, 1:i32)
               %17: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%10)
               %18: f64[3] = mul(%13, %17)
               %19: f64[3] = add(%15, %18)
               return (%16, %18, %19)
             }
           return (%21)
         }",
        "fn f(%0: i32[], %1: f64[3], %2: f64[], %3: f64[]) -> (f64[3]) {
           %20: i32[], %21: f64[3] = while[cond_nconsts=1, body_nconsts=1](%0, %2, 0:i32, %1)
             cond_body = |%4: i32[], %6: i32[], %7: f64[3]| {
               %9: bool[] = lt(%6, %4)
               return (%9)
             }
             body = |%10: f64[], %12: i32[], %13: f64[3]| {
               %16: i32[] = add(%12, 1:i32)
               %17: f64[3] = broadcast_in_dim[shape=[3], dims=[]](%10)
               %18: f64[3] = mul(%13, %17)
               return (%16, %18)
             }
           return (%21)
         }",
    );
}

/// Control flow nested in control flow is pruned from the inside out; here that
/// leaves the scan's carry, which only passes itself on, unread.
#[test]
fn nested_bodies_are_pruned_recursively() {
    assert_pass(
        dce,
        "fn f(%0: bool[], %1: f64[3], %2: f64[2, 3]) -> (f64[2, 3]) {
           %14: f64[3], %15: f64[2, 3] = scan[nconsts=1, ncarry=1, length=2, reverse=false](%0, %1, %2)
             body = |%3: bool[], %4: f64[3], %5: f64[3]| {
               %11: f64[3], %12: f64[3] = cond(%3, %4, %5)
                 then_body = |%6: f64[3], %7: f64[3]| {
                   %8: f64[3] = sin(%7)
                   return (%8, %6)
                 }
                 else_body = |%9: f64[3], %10: f64[3]| {
                   %13: f64[3] = cos(%9)
                   return (%10, %13)
                 }
               return (%4, %11)
             }
           return (%15)
         }",
        "fn f(%0: bool[], %1: f64[3], %2: f64[2, 3]) -> (f64[2, 3]) {
           %15: f64[2, 3] = scan[nconsts=1, ncarry=0, length=2, reverse=false](%0, %2)
             body = |%3: bool[], %5: f64[3]| {
               %11: f64[3] = cond(%3, %5)
                 then_body = |%7: f64[3]| {
                   %8: f64[3] = sin(%7)
                   return (%8)
                 }
                 else_body = |%10: f64[3]| {
                   return (%10)
                 }
               return (%11)
             }
           return (%15)
         }",
    );
}
