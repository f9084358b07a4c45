//! Compiled loops allocate nothing per iteration: a run of the same loop with 10 and
//! with 1000 iterations makes exactly as many heap allocations (a loop's setup and its
//! results allocate, its iterations do not). Covers a fori-style scan and a while over
//! scalar carries (the condition a comparison), carries swapped, a while carrying an
//! `f64[8]`, a scan producing `ys`, a cond inside a loop body and gathers (`x[i]`) in
//! one; each result is also checked against the interpreter bit for bit.
//!
//! Allocations are counted per thread by a global allocator wrapping the system one, so
//! tests running beside these on other threads do not disturb the counts; the programs
//! run with 1 and 3 threads, and kernels this small stay on the calling thread.

mod fallbacks;
use fallbacks::NoControlFallback;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use nabla_cpu::program::Compiled;
use nabla_ir::{parse_func, Array, Data, Scalar};

/// The system allocator, counting the allocations of each thread.
struct Counting;

thread_local! {
    // Const-initialised and without a destructor, so reaching it from inside the
    // allocator never allocates.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread being torn down may still allocate.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are this allocator's; counting touches only a thread-local
// integer and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as received (the caller upholds `alloc`'s contract).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as received: `ptr` came from this allocator, which is
        // `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

fn same(a: &[Array], b: &[Array]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.dtype() == y.dtype() && x.bit_eq(y))
}

/// The allocations of one run of `c` on `args` once it has run before (pools and
/// other first-use state set up), checking its results against the interpreter's.
fn steady_allocations(text: &str, c: &Compiled, args: &[Array], threads: usize) -> u64 {
    let f = parse_func(text).unwrap();
    let want = nabla_interp::eval_func(&f, args).unwrap();
    c.run(args, threads, &NoControlFallback).unwrap();
    let (n, got) = allocations(|| c.run(args, threads, &NoControlFallback).unwrap());
    assert!(same(&got, &want), "{got:?}\nthe interpreter:\n{want:?}");
    n
}

/// Asserts that `program(n)` run on `args(n)` allocates as much for 10 iterations as
/// for 1000. A program whose text does not depend on `n` is compiled once and run on
/// both (the trip count an operand).
fn assert_flat(program: impl Fn(usize) -> String, args: impl Fn(usize) -> Vec<Array>) {
    for threads in [1, 3] {
        let counts: Vec<u64> = [10, 1000]
            .into_iter()
            .map(|n| {
                let text = program(n);
                let c = Compiled::new(&parse_func(&text).unwrap()).unwrap();
                steady_allocations(&text, &c, &args(n), threads)
            })
            .collect();
        assert_eq!(
            counts[0],
            counts[1],
            "{threads} threads: {} allocations for 10 iterations, {} for 1000\n{}",
            counts[0],
            counts[1],
            program(10)
        );
    }
}

fn f64s(v: f64) -> Array {
    Array::scalar(Scalar::F64(v))
}

fn i64s(v: i64) -> Array {
    Array::scalar(Scalar::I64(v))
}

/// A fori loop with static bounds, as the language lowers it: a scan over a counter
/// with two scalar carries.
#[test]
fn fori_scan_with_scalar_carries() {
    assert_flat(
        |n| {
            format!(
                "fn f(%0: f64[]) -> (f64[], f64[]) {{
  %1: i64[], %2: f64[], %3: f64[] = scan[nconsts=0, ncarry=3, length={n}, reverse=false](0:i64, %0, 0.0:f64)
    body = |%4: i64[], %5: f64[], %6: f64[]| {{
      %7: i64[] = add(%4, 1:i64)
      %8: f64[] = mul(%5, 0.999:f64)
      %9: f64[] = add(%8, 1.0:f64)
      %10: f64[] = convert[dtype=f64](%4)
      %11: f64[] = add(%6, %10)
      %12: f64[] = add(%11, %5)
      return (%7, %9, %12)
    }}
  return (%2, %3)
}}"
            )
        },
        |_| vec![f64s(1.5)],
    );
}

/// A while loop over scalars whose condition compares a carry with a constant, and
/// the same loop shape fori lowers to with traced bounds (the bound passed through).
#[test]
fn while_with_scalar_carries() {
    let text = "fn w(%0: i64[], %1: f64[]) -> (i64[], f64[]) {
  %2: i64[], %3: f64[] = while[cond_nconsts=1, body_nconsts=0](%0, 0:i64, %1)
    cond_body = |%4: i64[], %5: i64[], %6: f64[]| {
      %7: bool[] = lt(%5, %4)
      return (%7)
    }
    body = |%8: i64[], %9: f64[]| {
      %10: i64[] = add(%8, 1:i64)
      %11: f64[] = mul(%9, 0.5:f64)
      %12: f64[] = add(%11, 1.0:f64)
      return (%10, %12)
    }
  return (%2, %3)
}";
    assert_flat(|_| text.to_string(), |n| vec![i64s(n as i64), f64s(3.0)]);

    let fori = "fn g(%0: i64[], %1: f64[]) -> (f64[]) {
  %2: i64[], %3: i64[], %4: f64[] = while[cond_nconsts=0, body_nconsts=0](0:i64, %0, %1)
    cond_body = |%5: i64[], %6: i64[], %7: f64[]| {
      %8: bool[] = lt(%5, %6)
      return (%8)
    }
    body = |%9: i64[], %10: i64[], %11: f64[]| {
      %12: i64[] = add(%9, 1:i64)
      %13: f64[] = convert[dtype=f64](%9)
      %14: f64[] = sqrt(%11)
      %15: f64[] = add(%14, %13)
      return (%12, %10, %15)
    }
  return (%4)
}";
    assert_flat(|_| fori.to_string(), |n| vec![i64s(n as i64), f64s(2.0)]);
}

/// Carries that trade places each iteration, one through a view of another's
/// parameter: moving them goes through scratch space made once per loop.
#[test]
fn while_swapping_carries() {
    let text = "fn x(%0: i64[], %1: f64[], %2: f64[]) -> (f64[], f64[]) {
  %3: i64[], %4: f64[], %5: f64[] = while[cond_nconsts=1, body_nconsts=0](%0, 0:i64, %1, %2)
    cond_body = |%6: i64[], %7: i64[], %8: f64[], %9: f64[]| {
      %10: bool[] = lt(%7, %6)
      return (%10)
    }
    body = |%11: i64[], %12: f64[], %13: f64[]| {
      %14: i64[] = add(%11, 1:i64)
      %15: f64[1] = reshape[shape=[1]](%12)
      %16: f64[] = reshape[shape=[]](%15)
      %17: f64[] = add(%13, 0.5:f64)
      return (%14, %17, %16)
    }
  return (%4, %5)
}";
    assert_flat(
        |_| text.to_string(),
        |n| vec![i64s(n as i64), f64s(1.0), f64s(-2.0)],
    );
}

/// A while loop carrying a small vector and a scalar its sum feeds.
#[test]
fn while_carrying_a_small_vector() {
    let text = "fn v(%0: i64[], %1: f64[8], %2: f64[8]) -> (f64[8], f64[]) {
  %3: i64[], %4: f64[8], %5: f64[] = while[cond_nconsts=1, body_nconsts=1](%0, %2, 0:i64, %1, 0.0:f64)
    cond_body = |%6: i64[], %7: i64[], %8: f64[8], %9: f64[]| {
      %10: bool[] = lt(%7, %6)
      return (%10)
    }
    body = |%11: f64[8], %12: i64[], %13: f64[8], %14: f64[]| {
      %15: i64[] = add(%12, 1:i64)
      %16: f64[8] = mul(%13, %11)
      %17: f64[8] = broadcast_in_dim[shape=[8], dims=[]](0.5:f64)
      %18: f64[8] = add(%16, %17)
      %19: f64[] = reduce_sum[axes=[0], compensated=false](%18)
      %20: f64[] = add(%14, %19)
      return (%15, %18, %20)
    }
  return (%4, %5)
}";
    let vec8 = |scale: f64| {
        Array::new(
            vec![8],
            Data::F64((0..8).map(|i| (i as f64 - 3.5) * scale).collect()),
        )
        .unwrap()
    };
    assert_flat(
        |_| text.to_string(),
        |n| vec![i64s(n as i64), vec8(0.25), vec8(0.125)],
    );
}

/// A scan reading a row of `xs` and writing a row of `ys` per step.
#[test]
fn scan_producing_ys() {
    assert_flat(
        |n| {
            format!(
                "fn s(%0: f64[], %1: f64[{n}], %2: i32[{n}, 2]) -> (f64[], f64[{n}], i32[{n}, 2]) {{
  %3: f64[], %4: f64[{n}], %5: i32[{n}, 2] = scan[nconsts=0, ncarry=1, length={n}, reverse=true](%0, %1, %2)
    body = |%6: f64[], %7: f64[], %8: i32[2]| {{
      %9: f64[] = add(%6, %7)
      %10: f64[] = mul(%9, 0.5:f64)
      %11: i32[2] = mul(%8, %8)
      return (%10, %9, %11)
    }}
  return (%3, %4, %5)
}}"
            )
        },
        |n| {
            let xs = Data::F64((0..n).map(|i| (i % 7) as f64 - 2.5).collect());
            let rows = Data::I32((0..2 * n).map(|i| (i % 5) as i32 - 2).collect());
            vec![
                f64s(1.0),
                Array::new(vec![n], xs).unwrap(),
                Array::new(vec![n, 2], rows).unwrap(),
            ]
        },
    );
}

/// A cond inside a loop body: both branches run as the carry crosses the threshold.
#[test]
fn cond_inside_a_loop() {
    assert_flat(
        |n| {
            format!(
                "fn c(%0: f64[]) -> (f64[]) {{
  %1: f64[] = scan[nconsts=0, ncarry=1, length={n}, reverse=false](%0)
    body = |%2: f64[]| {{
      %3: bool[] = gt(%2, 10.0:f64)
      %4: f64[] = cond(%3, %2)
        then_body = |%5: f64[]| {{
          %6: f64[] = mul(%5, 0.5:f64)
          return (%6)
        }}
        else_body = |%7: f64[]| {{
          %8: f64[] = add(%7, 1.25:f64)
          return (%8)
        }}
      return (%4)
    }}
  return (%1)
}}"
            )
        },
        |_| vec![f64s(1.0)],
    );
}

/// `x[i]` in a fori body (a gather at the traced counter, clamped), as the language
/// lowers it, with the gathered value squared into a sum and an `i32[2]` row of a
/// matrix gathered too.
#[test]
fn fori_indexing_a_constant() {
    assert_flat(
        |n| {
            format!(
                "fn a(%0: f64[{n}], %1: i32[{n}, 2], %2: i32[2]) -> (f64[], i32[2]) {{
  %20: i64[], %3: f64[], %4: i32[2] = scan[nconsts=2, ncarry=3, length={n}, reverse=false](%0, %1, 0:i64, 0.0:f64, %2)
    body = |%5: f64[{n}], %6: i32[{n}, 2], %7: i64[], %8: f64[], %9: i32[2]| {{
      %10: bool[] = lt(%7, 0:i64)
      %11: i64[] = add(%7, {n}:i64)
      %12: i64[] = select(%10, %11, %7)
      %13: f64[] = take[axis=0](%5, %12)
      %14: f64[] = mul(%13, %13)
      %15: f64[] = add(%8, %14)
      %16: i32[2] = take[axis=0](%6, %12)
      %17: i32[2] = add(%9, %16)
      %18: i64[] = add(%7, 1:i64)
      return (%18, %15, %17)
    }}
  return (%3, %4)
}}"
            )
        },
        |n| {
            let xs = Data::F64((0..n).map(|i| (i % 9) as f64 * 0.25 - 1.0).collect());
            let rows = Data::I32((0..2 * n).map(|i| (i % 7) as i32 - 3).collect());
            vec![
                Array::new(vec![n], xs).unwrap(),
                Array::new(vec![n, 2], rows).unwrap(),
                Array::new(vec![2], Data::I32(vec![1, -1])).unwrap(),
            ]
        },
    );
}
