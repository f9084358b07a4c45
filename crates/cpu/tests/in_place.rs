//! Outputs written over dead inputs: which kernel steps may, that they do when nothing
//! else shares the input's elements (an argument handed over by value, a temporary),
//! that they do not when something does (the caller's copy stays intact), and that the
//! results are the interpreter's bits either way, for 1 and 3 threads (exact
//! operations only, whose bits the backend defines).

mod fallbacks;
use fallbacks::Interp;

mod inputs;

use nabla_cpu::program::Compiled;
use nabla_ir::{parse_func, Array, Data, Func};

fn arg(shape: &[usize], seed: u64) -> Array {
    inputs::grid_array(shape, seed, 6.0)
}

fn ptr(a: &Array) -> *const f64 {
    match a.data() {
        Data::F64(v) => v.as_ptr(),
        _ => panic!("f64 arrays only"),
    }
}

fn check(f: &Func, args: &[Array], in_place: &[(usize, usize)]) -> Compiled {
    let c = Compiled::new(f).unwrap();
    assert_eq!(
        c.in_place_steps(),
        in_place,
        "{}",
        nabla_cpu::plan::describe(&c.program)
    );
    let want = nabla_interp::eval_func(f, args).unwrap();
    for threads in [1, 3] {
        // Owned copies whose elements nothing else shares: reused where planned.
        let owned: Vec<Array> = args
            .iter()
            .map(|a| Array::new(a.shape().to_vec(), a.data().clone()).unwrap())
            .collect();
        let got = c.run_owned(owned, threads, &Interp, None).unwrap();
        assert!(
            got.iter().zip(&want).all(|(g, w)| g.bit_eq(w)),
            "{threads} threads: results differ from the interpreter's"
        );
    }
    c
}

/// One kernel over an argument: the result takes the argument's buffer when handed
/// over, and leaves a shared argument alone.
#[test]
fn an_argument_handed_over_is_overwritten() {
    let f = parse_func(
        "fn f(%0: f64[1000, 30]) -> (f64[1000, 30]) {
  %1: f64[1000, 30] = broadcast_in_dim[shape=[1000, 30], dims=[]](0.5:f64)
  %2: f64[1000, 30] = mul(%0, %1)
  %3: f64[1000, 30] = add(%2, %0)
  return (%3)
}",
    )
    .unwrap();
    let x = arg(&[1000, 30], 1);
    let c = check(&f, std::slice::from_ref(&x), &[(0, 0)]);
    let owned = Array::new(x.shape().to_vec(), x.data().clone()).unwrap();
    let before = ptr(&owned);
    let got = c.run_owned(vec![owned], 2, &Interp, None).unwrap();
    assert_eq!(
        ptr(&got[0]),
        before,
        "the output did not reuse the argument"
    );
    // A shared argument keeps its elements, and the output gets a buffer of its own.
    let kept = x.clone();
    let copy = x.data().clone();
    let got = c.run_owned(vec![x], 2, &Interp, None).unwrap();
    assert_ne!(ptr(&got[0]), ptr(&kept));
    assert_eq!(kept.data(), &copy);
}

/// A temporary read for the last time in order is overwritten; read reversed, or twice
/// (in order and reversed) by one kernel, it is not; a transposed read neither.
#[test]
fn temporaries_are_reused_only_when_read_in_order() {
    let chain = parse_func(
        "fn f(%0: f64[4096], %1: f64[4096]) -> (f64[], f64[4096]) {
  %2: f64[4096] = abs(%0)
  %3: f64[4096] = mul(%2, %1)
  %4: f64[] = reduce_sum[axes=[0], compensated=false](%3)
  %5: f64[4096] = sub(%3, %2)
  return (%4, %5)
}",
    )
    .unwrap();
    let args = [arg(&[4096], 2), arg(&[4096], 3)];
    let c = Compiled::new(&chain).unwrap();
    let planned = c.in_place_steps();
    // Slots 0 and 1 are the arguments: a temporary is overwritten too.
    assert!(
        planned.iter().any(|&(_, slot)| slot >= 2),
        "{planned:?}\n{}",
        nabla_cpu::plan::describe(&c.program)
    );
    check(&chain, &args, &planned);

    let reversed = parse_func(
        "fn f(%0: f64[4096]) -> (f64[], f64[4096]) {
  %1: f64[4096] = abs(%0)
  %2: f64[] = reduce_sum[axes=[0], compensated=false](%1)
  %3: f64[4096] = rev[axes=[0]](%1)
  %4: f64[4096] = add(%3, %1)
  return (%2, %4)
}",
    )
    .unwrap();
    // The argument is read in order by the first kernel (and handed over).
    check(&reversed, &[arg(&[4096], 4)], &[(0, 0)]);

    let transposed = parse_func(
        "fn f(%0: f64[64, 64]) -> (f64[], f64[64, 64]) {
  %1: f64[64, 64] = abs(%0)
  %2: f64[] = reduce_sum[axes=[0, 1], compensated=false](%1)
  %3: f64[64, 64] = transpose[perm=[1, 0]](%1)
  %4: f64[64, 64] = mul(%3, %1)
  return (%2, %4)
}",
    )
    .unwrap();
    check(&transposed, &[arg(&[64, 64], 5)], &[(0, 0)]);

    // Read once, but out of order or broadcast: not overwritten.
    for read in [
        "%3: f64[64, 64] = transpose[perm=[1, 0]](%1)",
        "%3: f64[64, 64] = rev[axes=[1]](%1)",
    ] {
        let f = parse_func(&format!(
            "fn f(%0: f64[64, 64]) -> (f64[], f64[64, 64]) {{
  %1: f64[64, 64] = abs(%0)
  %2: f64[] = reduce_sum[axes=[0, 1], compensated=false](%1)
  {read}
  %4: f64[64, 64] = neg(%3)
  return (%2, %4)
}}"
        ))
        .unwrap();
        check(&f, &[arg(&[64, 64], 6)], &[(0, 0)]);
    }
    let broadcast = parse_func(
        "fn f(%0: f64[64]) -> (f64[], f64[64, 64]) {
  %1: f64[64] = abs(%0)
  %2: f64[] = reduce_sum[axes=[0], compensated=false](%1)
  %3: f64[64, 64] = broadcast_in_dim[shape=[64, 64], dims=[1]](%1)
  %4: f64[64, 64] = neg(%3)
  return (%2, %4)
}",
    )
    .unwrap();
    check(&broadcast, &[arg(&[64], 7)], &[(0, 0)]);
}
