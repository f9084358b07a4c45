//! Random bits inside fused kernels against the interpreter, bit for bit: the
//! Threefry cipher on 32-bit counters (`IndexU32`) in 4-lane (f32) kernels and in
//! 2-lane (f64) kernels whose vector steps run in pairs, with store and reduce
//! outputs, loop tails, several blocks and 1 vs 3 threads; and random programs as
//! `uniform` traces them, which the planner turns into one kernel with no buffer of
//! the draw's size (virtual reshapes of the counters, small reductions inlined).

mod fallbacks;
use fallbacks::Interp as InterpFallback;

mod codegen_support;

use codegen_support::*;
use nabla_cpu::codegen::compile;
use nabla_cpu::kernel::{Input, Kernel, Node, Output};
use nabla_cpu::plan::{describe, plan, Step};
use nabla_cpu::program::Compiled;
use nabla_ir::{parse_func, Array, BinaryOp, DType, ReduceOp, Scalar};

const U: DType = DType::U32;
const THREADS: [usize; 2] = [1, 3];

/// The key buffer `u32[2]`, read as two scalars (inputs 0 and 1).
fn key_inputs(rank: usize) -> Vec<Input> {
    (0..2)
        .map(|w| Input {
            dtype: U,
            strides: vec![0; rank],
            offset: w,
            len: 2,
        })
        .collect()
}

fn key(k0: u32, k1: u32) -> Array {
    Array::from_vec(vec![2], vec![k0, k1]).unwrap()
}

/// The buffers of [`key_inputs`]: the key twice.
fn keys(k0: u32, k1: u32) -> [Array; 2] {
    [key(k0, k1), key(k0, k1)]
}

/// Builds nodes, deduplicating nothing (the planner's job), returning ids.
struct Nodes(Vec<(Node, DType)>);

impl Nodes {
    fn push(&mut self, node: Node, d: DType) -> usize {
        self.0.push((node, d));
        self.0.len() - 1
    }
}

/// What a draw produces per element.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Draw {
    /// `uniform` of this float dtype in `[-1, 1)`.
    Uniform(DType),
    /// The first cipher word.
    Word,
}

/// Nodes drawing `what` at each point of `shape` as `uniform` traces it: the cipher
/// of the key (inputs 0 and 1) over the flat row-major index plus `offset` (as u32
/// arithmetic on `IndexU32`), then the float conversion and scaling. Returns the
/// nodes, the drawn node and the first cipher word.
fn draw_nodes(shape: &[usize], offset: u32, what: Draw) -> (Nodes, usize, usize) {
    let mut n = Nodes(Vec::new());
    let k0 = n.push(Node::Load(0), U);
    let k1 = n.push(Node::Load(1), U);
    let hi = n.push(Node::Lit(Scalar::U32(0)), U);
    let mut ctr = n.push(Node::Lit(Scalar::U32(offset)), U);
    let strides = nabla_ir::array::strides(shape);
    for (a, &s) in strides.iter().enumerate() {
        let i = n.push(Node::IndexU32(a), U);
        let c = n.push(Node::Lit(Scalar::U32(s as u32)), U);
        let t = n.push(Node::Binary(BinaryOp::Mul, i, c), U);
        ctr = n.push(Node::Binary(BinaryOp::Add, ctr, t), U);
    }
    let args = [k0, k1, hi, ctr];
    let y0 = n.push(Node::Threefry { which: 0, args }, U);
    let y1 = n.push(Node::Threefry { which: 1, args }, U);
    let out = match what {
        Draw::Word => y0,
        Draw::Uniform(d) => {
            let unit = match d {
                DType::F32 => {
                    let x = n.push(Node::Binary(BinaryOp::Xor, y0, y1), U);
                    n.push(Node::BitsToUnit(d, vec![x]), d)
                }
                _ => n.push(Node::BitsToUnit(d, vec![y0, y1]), d),
            };
            let two = n.push(Node::Lit(Scalar::F64(2.0).cast(d)), d);
            let lo = n.push(Node::Lit(Scalar::F64(-1.0).cast(d)), d);
            let scaled = n.push(Node::Binary(BinaryOp::Mul, unit, two), d);
            let shifted = n.push(Node::Binary(BinaryOp::Add, scaled, lo), d);
            n.push(Node::Binary(BinaryOp::Max, lo, shifted), d)
        }
    };
    (n, out, y0)
}

fn store_kernel(shape: &[usize], offset: u32, what: Draw) -> Kernel {
    let (n, out, y0) = draw_nodes(shape, offset, what);
    kernel(
        shape,
        key_inputs(shape.len()),
        n.0,
        vec![Output::Store { node: out }, Output::Store { node: y0 }],
    )
}

#[test]
fn uniform_draws_in_store_kernels_match_the_interpreter() {
    let shapes: [&[usize]; 9] = [
        &[37],
        &[3],
        &[2],
        &[5, 9],
        &[1, 6, 1],
        &[4, 0],
        &[],
        &[2, 101],
        &[3, 4, 5],
    ];
    for shape in shapes {
        for d in [DType::F32, DType::F64] {
            for (k0, k1) in [(0, 0), (12345, 0x9abc_def0), (u32::MAX, 1)] {
                let k = store_kernel(shape, 0, Draw::Uniform(d));
                let lanes = check_with(
                    &format!("uniform {d} over {shape:?}, key ({k0}, {k1})"),
                    &k,
                    &keys(k0, k1),
                    &EXACT,
                    &THREADS,
                );
                // 32-bit counters keep f32 kernels at 4 lanes; f64 ones run 2.
                let inner = shape.iter().rev().find(|&&s| s != 1).copied();
                if inner.is_some_and(|s| s >= 4) {
                    let want = if d == DType::F32 { 4 } else { 2 };
                    assert_eq!(lanes[0], want, "{d} over {shape:?}");
                }
            }
        }
    }
}

#[test]
fn paired_steps_cover_every_tail() {
    // f64 kernels run two 2-lane steps per cipher while 4 elements remain, then a
    // 2-lane step, then scalars: every row length up to a few pairs, and row starts
    // that are not multiples of 4 (several rows, one thread range split oddly).
    for len in 0..=13 {
        for rows in [1, 3] {
            let shape = [rows, len];
            let k = store_kernel(&shape, 7, Draw::Uniform(DType::F64));
            check_with(
                &format!("f64 uniform over {shape:?}"),
                &k,
                &keys(1, 2),
                &EXACT,
                &THREADS,
            );
        }
    }
}

#[test]
fn counters_wrap_modulo_two_to_the_32() {
    // An offset near 2^32 wraps as the interpreter's u32 iota arithmetic does.
    for offset in [u32::MAX - 5, 1 << 31] {
        for d in [DType::F32, DType::F64] {
            let k = store_kernel(&[3, 7], offset, Draw::Uniform(d));
            check_with(
                &format!("offset {offset} {d}"),
                &k,
                &keys(3, 4),
                &EXACT,
                &THREADS,
            );
        }
    }
}

#[test]
fn index_u32_along_outer_and_size_one_axes() {
    let shape = [3, 1, 5];
    let mut n = Nodes(Vec::new());
    let mut acc = n.push(Node::IndexU32(0), U);
    for a in 1..3 {
        let i = n.push(Node::IndexU32(a), U);
        let c = n.push(Node::Lit(Scalar::U32(1000 * a as u32)), U);
        let t = n.push(Node::Binary(BinaryOp::Mul, i, c), U);
        acc = n.push(Node::Binary(BinaryOp::Add, acc, t), U);
    }
    let f = n.push(Node::Convert(DType::F64, acc), DType::F64);
    let k = kernel(
        &shape,
        Vec::new(),
        n.0,
        vec![Output::Store { node: acc }, Output::Store { node: f }],
    );
    check_with("indices", &k, &[], &EXACT, &THREADS);
}

/// A reduce kernel over `shape` (the trailing `nreduce` axes reduced) of a draw.
fn reduce_kernel(shape: &[usize], nreduce: usize, what: Draw, op: ReduceOp) -> Kernel {
    let (n, out, y0) = draw_nodes(shape, 0, what);
    let mut outputs = vec![Output::Reduce {
        node: out,
        op,
        nreduce,
    }];
    if matches!(what, Draw::Uniform(DType::F64)) && op == ReduceOp::Sum {
        // A 32-bit word reduced in the same (paired) kernel: computed over 4 lanes,
        // folded per half.
        outputs.push(Output::Reduce {
            node: y0,
            op: ReduceOp::Max,
            nreduce,
        });
    }
    kernel(shape, key_inputs(shape.len()), n.0, outputs)
}

#[test]
fn reductions_fed_by_random_bits_match_the_interpreter() {
    let cases: [(&[usize], usize); 10] = [
        (&[1], 1),
        (&[7], 1),
        (&[8], 1),
        (&[37], 1),
        (&[4096 + 13], 1),
        (&[10007], 1),
        (&[3, 37], 1),
        (&[2, 5, 8], 2),
        (&[3, 5, 7], 2),
        (&[37, 3], 1),
    ];
    let draws = [
        Draw::Uniform(DType::F64),
        Draw::Uniform(DType::F32),
        Draw::Word,
    ];
    for (shape, nreduce) in cases {
        for what in draws {
            for op in [ReduceOp::Sum, ReduceOp::Max] {
                let k = reduce_kernel(shape, nreduce, what, op);
                check_with(
                    &format!("{} of {what:?} over {shape:?}/{nreduce}", op.name()),
                    &k,
                    &keys(42, 7),
                    &EXACT,
                    &THREADS,
                );
            }
        }
    }
}

#[test]
fn a_cipher_word_used_twice_is_computed_once() {
    // Both words of one cipher (and a second cipher of other operands) in one kernel:
    // results as the interpreter's, whichever word a node takes first.
    let mut n = Nodes(Vec::new());
    let k0 = n.push(Node::Load(0), U);
    let k1 = n.push(Node::Load(1), U);
    let i = n.push(Node::IndexU32(0), U);
    let y1 = n.push(
        Node::Threefry {
            which: 1,
            args: [k0, k1, i, i],
        },
        U,
    );
    let z0 = n.push(
        Node::Threefry {
            which: 0,
            args: [k1, k0, i, i],
        },
        U,
    );
    let y0 = n.push(
        Node::Threefry {
            which: 0,
            args: [k0, k1, i, i],
        },
        U,
    );
    let a = n.push(Node::Binary(BinaryOp::Add, y0, y1), U);
    let b = n.push(Node::Binary(BinaryOp::Xor, a, z0), U);
    let f = n.push(Node::BitsToUnit(DType::F64, vec![b, y1]), DType::F64);
    let k = kernel(
        &[29],
        key_inputs(1),
        n.0,
        vec![Output::Store { node: b }, Output::Store { node: f }],
    );
    check_with("shared words", &k, &keys(9, 10), &EXACT, &THREADS);
}

/// How the counter words of [`runs_kernel`]'s ciphers move along the reduced axis.
#[derive(Clone, Copy, Debug)]
enum Counters {
    /// `(0, offset + j)`: `uniform`'s.
    High(u32),
    /// `(j, k1)`: the low word steps, the high one is a key word.
    Low,
    /// `(j + 1, j + offset)`: both step.
    Both(u32),
}

/// The xor of `ciphers` ciphers' words (keys `(k0 + c, k1)` for cipher `c`), with
/// `counters`, and a float draw from the first cipher: reduced over the last axis of
/// `shape` with `reduce`, else stored.
fn runs_kernel(shape: &[usize], counters: Counters, ciphers: usize, reduce: bool) -> Kernel {
    let inner = shape.len() - 1;
    let mut n = Nodes(Vec::new());
    let k0 = n.push(Node::Load(0), U);
    let k1 = n.push(Node::Load(1), U);
    let j = n.push(Node::IndexU32(inner), U);
    let lit = |n: &mut Nodes, v: u32| n.push(Node::Lit(Scalar::U32(v)), U);
    let [x0, x1] = match counters {
        Counters::High(offset) => {
            let c = lit(&mut n, offset);
            [lit(&mut n, 0), n.push(Node::Binary(BinaryOp::Add, c, j), U)]
        }
        Counters::Low => [j, k1],
        Counters::Both(offset) => {
            let one = lit(&mut n, 1);
            let c = lit(&mut n, offset);
            [
                n.push(Node::Binary(BinaryOp::Add, j, one), U),
                n.push(Node::Binary(BinaryOp::Add, c, j), U),
            ]
        }
    };
    let mut acc = None;
    let mut first = None;
    for c in 0..ciphers {
        let cc = lit(&mut n, c as u32);
        let key = n.push(Node::Binary(BinaryOp::Add, k0, cc), U);
        let args = [key, k1, x0, x1];
        let y0 = n.push(Node::Threefry { which: 0, args }, U);
        let y1 = n.push(Node::Threefry { which: 1, args }, U);
        let w = n.push(Node::Binary(BinaryOp::Xor, y0, y1), U);
        first = first.or(Some((y0, y1)));
        acc = Some(match acc {
            None => w,
            Some(a) => n.push(Node::Binary(BinaryOp::Xor, a, w), U),
        });
    }
    let (y0, y1) = first.expect("at least one cipher");
    let unit = n.push(Node::BitsToUnit(DType::F64, vec![y0, y1]), DType::F64);
    let acc = acc.expect("at least one cipher");
    let outputs = if reduce {
        vec![
            Output::Reduce {
                node: acc,
                op: ReduceOp::Max,
                nreduce: 1,
            },
            Output::Reduce {
                node: unit,
                op: ReduceOp::Sum,
                nreduce: 1,
            },
        ]
    } else {
        vec![Output::Store { node: acc }, Output::Store { node: unit }]
    };
    kernel(shape, key_inputs(shape.len()), n.0, outputs)
}

#[test]
fn ciphers_from_runs_match_inline_ciphers_and_the_interpreter() {
    // Store kernels and reductions over one axis take the words of ciphers with
    // stepping counters from runs filled per block or pass over a row (rows of at
    // least 64 elements; at most four ciphers a kernel, the fifth is inline): blocks,
    // passes, tails, counters that wrap, and the same bits with every cipher inline.
    let shapes: [&[usize]; 7] = [
        &[1],
        &[9],
        &[64],
        &[4096],
        &[4096 * 2 + 13],
        &[3, 70],
        &[2, 4096 + 5],
    ];
    let counters = [
        Counters::High(0),
        Counters::High(u32::MAX - 100),
        Counters::Low,
        Counters::Both(1 << 31),
    ];
    for shape in shapes {
        for c in counters {
            for (ciphers, reduce) in [(1, true), (5, true), (1, false), (5, false)] {
                let k = runs_kernel(shape, c, ciphers, reduce);
                for inline in [false, true] {
                    nabla_cpu::cipher::FORCE_INLINE
                        .store(inline, std::sync::atomic::Ordering::Relaxed);
                    check_with(
                        &format!(
                            "{ciphers} ciphers {c:?} over {shape:?}, reduce {reduce}, inline {inline}"
                        ),
                        &k,
                        &keys(u32::MAX - 2, 99),
                        &EXACT,
                        &THREADS,
                    );
                }
                nabla_cpu::cipher::FORCE_INLINE.store(false, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

// ---- whole programs ------------------------------------------------------------------

/// W3 (`bench/w3.nbl`) at size `n`, as the lowering traces it.
fn pi_text(n: usize) -> String {
    let m = 2 * n;
    let inv = 1.0 / n as f64;
    format!(
        "fn pi(%0: u32[2]) -> (f64[]) {{
  %1: u32[{m}] = iota[dtype=u32, shape=[{m}], axis=0]()
  %2: u32[2, {n}] = reshape[shape=[2, {n}]](%1)
  %3: u32[1] = slice[start=[0], limit=[1], stride=[1]](%0)
  %4: u32[] = reshape[shape=[]](%3)
  %5: u32[2, {n}] = broadcast_in_dim[shape=[2, {n}], dims=[]](%4)
  %6: u32[1] = slice[start=[1], limit=[2], stride=[1]](%0)
  %7: u32[] = reshape[shape=[]](%6)
  %8: u32[2, {n}] = broadcast_in_dim[shape=[2, {n}], dims=[]](%7)
  %9: u32[2, {n}] = broadcast_in_dim[shape=[2, {n}], dims=[]](0:u32)
  %10: u32[2, {n}], %11: u32[2, {n}] = threefry2x32(%5, %8, %9, %2)
  %12: f64[2, {n}] = bits_to_unit[dtype=f64](%10, %11)
  %13: f64[2, {n}] = broadcast_in_dim[shape=[2, {n}], dims=[]](2.0:f64)
  %14: f64[2, {n}] = broadcast_in_dim[shape=[2, {n}], dims=[]](-1.0:f64)
  %15: f64[2, {n}] = mul(%12, %13)
  %16: f64[2, {n}] = add(%15, %14)
  %17: f64[2, {n}] = max(%14, %16)
  %18: f64[2, {n}] = integer_pow[exponent=2](%17)
  %19: f64[{n}] = reduce_sum[axes=[0], compensated=false](%18)
  %20: f64[{n}] = broadcast_in_dim[shape=[{n}], dims=[]](1.0:f64)
  %21: bool[{n}] = lt(%19, %20)
  %22: f64[{n}] = convert[dtype=f64](%21)
  %23: f64[] = reduce_sum[axes=[0], compensated=false](%22)
  %24: f64[] = mul(%23, {inv:?}:f64)
  %25: f64[] = mul(4.0:f64, %24)
  return (%25)
}}"
    )
}

/// `sum(uniform(k, [3, n], dtype=f32), axis=1)` as the lowering traces it.
fn f32_rows_text(n: usize) -> String {
    let m = 3 * n;
    format!(
        "fn rows(%0: u32[2]) -> (f32[3]) {{
  %1: u32[{m}] = iota[dtype=u32, shape=[{m}], axis=0]()
  %2: u32[3, {n}] = reshape[shape=[3, {n}]](%1)
  %3: u32[1] = slice[start=[0], limit=[1], stride=[1]](%0)
  %4: u32[] = reshape[shape=[]](%3)
  %5: u32[3, {n}] = broadcast_in_dim[shape=[3, {n}], dims=[]](%4)
  %6: u32[1] = slice[start=[1], limit=[2], stride=[1]](%0)
  %7: u32[] = reshape[shape=[]](%6)
  %8: u32[3, {n}] = broadcast_in_dim[shape=[3, {n}], dims=[]](%7)
  %9: u32[3, {n}] = broadcast_in_dim[shape=[3, {n}], dims=[]](0:u32)
  %10: u32[3, {n}], %11: u32[3, {n}] = threefry2x32(%5, %8, %9, %2)
  %12: u32[3, {n}] = xor(%10, %11)
  %13: f32[3, {n}] = bits_to_unit[dtype=f32](%12)
  %14: f32[3, {n}] = broadcast_in_dim[shape=[3, {n}], dims=[]](0.0:f32)
  %15: f32[3, {n}] = max(%14, %13)
  %16: f32[3] = reduce_sum[axes=[1], compensated=false](%15)
  return (%16)
}}"
    )
}

/// Runs `text` on the CPU with 1 and 3 threads and asserts both are bitwise the
/// interpreter's; returns the plan's description.
fn check_program(text: &str, args: &[Array]) -> String {
    let f = parse_func(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let want = nabla_interp::eval_func(&f, args).expect("the interpreter runs it");
    let c = Compiled::new(&f).unwrap_or_else(|e| panic!("compiling: {e:?}\n{text}"));
    for t in THREADS {
        let got = c
            .run(args, t, &InterpFallback)
            .unwrap_or_else(|e| panic!("running: {e:?}\n{text}"));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!(same_bits(g, w), "{t} threads: {g:?} vs {w:?}\n{text}");
        }
    }
    describe(&plan(&f).unwrap())
}

/// The largest buffer any step of the plan writes, in elements.
fn largest_buffer(text: &str) -> usize {
    let f = parse_func(text).unwrap();
    let p = plan(&f).unwrap();
    let params = p.params.len();
    p.types
        .iter()
        .skip(params)
        .map(|t| t.numel())
        .max()
        .unwrap_or(0)
}

#[test]
fn w3_is_one_reduction_kernel_with_no_draw_sized_buffer() {
    for n in [1, 5, 1001, 4096 * 3 + 7] {
        let text = pi_text(n);
        let f = parse_func(&text).unwrap();
        let p = plan(&f).unwrap();
        let kernels: Vec<&Step> = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Kernel { .. }))
            .collect();
        // The mean's reduction is inlined too when it has at most 8 elements.
        let steps = if n <= 8 { 1 } else { 2 };
        assert_eq!(p.steps.len(), steps, "{}", describe(&p));
        assert_eq!(kernels.len(), steps, "{}", describe(&p));
        // The partial sums of the reduction's blocks at most, never the draw.
        assert!(largest_buffer(&text) <= 1, "{}", describe(&p));
        for k in [key(0, 12345), key(u32::MAX, 3)] {
            check_program(&text, &[k]);
        }
    }
}

#[test]
fn f32_draws_reduced_per_row_are_one_kernel() {
    for n in [1, 4, 37, 4103] {
        let text = f32_rows_text(n);
        let plan_text = check_program(&text, &[key(5, 6)]);
        assert!(plan_text.contains("(1 steps)"), "{plan_text}");
        assert!(largest_buffer(&text) <= 3, "{plan_text}");
        if n <= 8 {
            // Inlined into a store kernel over the 3 results.
            continue;
        }
        let f = parse_func(&text).unwrap();
        let p = plan(&f).unwrap();
        let Step::Kernel { kernel, .. } = &p.steps[0] else {
            panic!("{plan_text}")
        };
        assert_eq!(compile(kernel).unwrap().lanes(), 4, "{plan_text}");
    }
}

#[test]
fn small_reductions_are_inlined_in_the_canonical_order() {
    // Sums, products and extremes over up to 8 elements per result become
    // expressions in their consumer; signed zeros, NaNs and infinities as the
    // interpreter's canonical fold has them (squares and integers skip the fold from
    // the identity, `-x` does not). 9 elements stay a reduce kernel.
    let data: Vec<f64> = (0..72)
        .map(|i| match i % 9 {
            0 => -0.0,
            1 => f64::NAN,
            2 => f64::INFINITY,
            3 => 1e300,
            4 => -1e300,
            5 => 0.0,
            _ => i as f64 * 0.37 - 11.0,
        })
        .collect();
    // The reduced element `%2` from `%0`, and its dtype.
    let elements = [
        (
            "%1: f64{s} = mul(%0, %0)\n  %2: f64{s} = sub(%1, %0)",
            "f64",
        ),
        ("%1: f64{s} = neg(%0)\n  %2: f64{s} = neg(%1)", "f64"),
        (
            "%1: f64{s} = neg(%0)\n  %2: f64{s} = integer_pow[exponent=2](%1)",
            "f64",
        ),
        ("%2: f64{s} = mul(%0, %0)", "f64"),
        (
            "%1: f64{s} = add(%0, %0)\n  %2: i32{s} = convert[dtype=i32](%1)",
            "i32",
        ),
    ];
    for (shape, axes) in [
        (vec![8, 9], vec![0]),
        (vec![9, 8], vec![1]),
        (vec![2, 4, 9], vec![0, 1]),
        (vec![2, 36], vec![0]),
        (vec![72, 1], vec![1]),
        (vec![9, 8], vec![0]),
    ] {
        let n: usize = shape.iter().product();
        let x = Array::from_vec(shape.clone(), data[..n].to_vec()).unwrap();
        let kept: Vec<usize> = (0..shape.len())
            .filter(|a| !axes.contains(a))
            .map(|a| shape[a])
            .collect();
        let k: usize = axes.iter().map(|&a| shape[a]).product();
        for (element, d) in elements {
            let element = element.replace("{s}", &format!("{shape:?}"));
            for op in ["sum", "prod", "max", "min"] {
                let text = format!(
                    "fn f(%0: f64{shape:?}) -> ({d}{kept:?}) {{
  {element}
  %3: {d}{kept:?} = reduce_{op}[axes={axes:?}, compensated=false](%2)
  %4: {d}{kept:?} = neg(%3)
  return (%4)
}}"
                );
                let plan_text = check_program(&text, std::slice::from_ref(&x));
                let steps = if k <= 8 { 1 } else { 2 };
                assert!(
                    plan_text.contains(&format!("({steps} steps)")),
                    "{op} over {axes:?} of {shape:?}:\n{plan_text}"
                );
            }
        }
    }
}

#[test]
fn reshapes_that_split_axes_of_virtual_values_are_index_maps() {
    // Splitting (and size-1 axes) fuse; merging axes of a virtual value still
    // stores it first.
    let split = "fn f(%0: f64[6]) -> (f64[2, 1, 3]) {
  %1: f64[6] = exp(%0)
  %2: f64[2, 1, 3] = reshape[shape=[2, 1, 3]](%1)
  %3: f64[2, 1, 3] = rev[axes=[2]](%2)
  return (%3)
}";
    let x = Array::from_vec(vec![6], vec![0.5, -1.0, 2.0, 0.0, -0.0, 3.5]).unwrap();
    let f = parse_func(split).unwrap();
    let p = plan(&f).unwrap();
    assert_eq!(p.steps.len(), 1, "{}", describe(&p));
    let want = nabla_interp::eval_func(&f, std::slice::from_ref(&x)).unwrap();
    let got = Compiled::new(&f)
        .unwrap()
        .run(std::slice::from_ref(&x), 1, &InterpFallback)
        .unwrap();
    // exp is inline math here: equal within its documented ulps, and exact on these.
    assert!(
        got[0]
            .to_f64_vec()
            .iter()
            .zip(want[0].to_f64_vec())
            .all(|(g, w)| (g - w).abs() <= 1e-15 * w.abs()),
        "{got:?} vs {want:?}"
    );
    let merge = "fn f(%0: f64[2, 3]) -> (f64[6]) {
  %1: f64[2, 3] = neg(%0)
  %2: f64[6] = reshape[shape=[6]](%1)
  %3: f64[6] = rev[axes=[0]](%2)
  return (%3)
}";
    let f = parse_func(merge).unwrap();
    let p = plan(&f).unwrap();
    assert!(
        p.steps.iter().any(|s| matches!(s, Step::View { .. })),
        "{}",
        describe(&p)
    );
    let x = Array::from_vec(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    check_program(merge, &[x]);
}

#[test]
fn iotas_of_32_bit_dtypes_with_strides_and_offsets() {
    // Reversed, strided and offset iotas of u32 and i32 through 32-bit counters.
    for d in ["u32", "i32"] {
        let text = format!(
            "fn f() -> ({d}[3, 4]) {{
  %0: {d}[40] = iota[dtype={d}, shape=[40], axis=0]()
  %1: {d}[4, 10] = reshape[shape=[4, 10]](%0)
  %2: {d}[4, 3] = slice[start=[0, 1], limit=[4, 10], stride=[1, 3]](%1)
  %3: {d}[3, 4] = transpose[perm=[1, 0]](%2)
  %4: {d}[3, 4] = rev[axes=[0, 1]](%3)
  %5: {d}[3, 4] = mul(%4, %4)
  return (%5)
}}"
        );
        let plan_text = check_program(&text, &[]);
        assert!(plan_text.contains("(1 steps)"), "{plan_text}");
    }
}

/// `split(k, 3)[1]` then `uniform` over 37: the keys come from a cipher over a small
/// counter, a concat (interpreter fallback) and slices of it.
const SPLIT: &str = "fn spl(%0: u32[2]) -> (f64[37]) {
  %1: u32[3] = iota[dtype=u32, shape=[3], axis=0]()
  %2: u32[1] = slice[start=[0], limit=[1], stride=[1]](%0)
  %3: u32[] = reshape[shape=[]](%2)
  %4: u32[3] = broadcast_in_dim[shape=[3], dims=[]](%3)
  %5: u32[1] = slice[start=[1], limit=[2], stride=[1]](%0)
  %6: u32[] = reshape[shape=[]](%5)
  %7: u32[3] = broadcast_in_dim[shape=[3], dims=[]](%6)
  %8: u32[3] = broadcast_in_dim[shape=[3], dims=[]](0:u32)
  %9: u32[3], %10: u32[3] = threefry2x32(%4, %7, %8, %1)
  %11: u32[3, 1] = reshape[shape=[3, 1]](%9)
  %12: u32[3, 1] = reshape[shape=[3, 1]](%10)
  %13: u32[3, 2] = concat[axis=1](%11, %12)
  %14: u32[1, 2] = slice[start=[1, 0], limit=[2, 2], stride=[1, 1]](%13)
  %15: u32[2] = reshape[shape=[2]](%14)
  %16: u32[37] = iota[dtype=u32, shape=[37], axis=0]()
  %17: u32[1] = slice[start=[0], limit=[1], stride=[1]](%15)
  %18: u32[] = reshape[shape=[]](%17)
  %19: u32[37] = broadcast_in_dim[shape=[37], dims=[]](%18)
  %20: u32[1] = slice[start=[1], limit=[2], stride=[1]](%15)
  %21: u32[] = reshape[shape=[]](%20)
  %22: u32[37] = broadcast_in_dim[shape=[37], dims=[]](%21)
  %23: u32[37] = broadcast_in_dim[shape=[37], dims=[]](0:u32)
  %24: u32[37], %25: u32[37] = threefry2x32(%19, %22, %23, %16)
  %26: f64[37] = bits_to_unit[dtype=f64](%24, %25)
  %27: f64[37] = broadcast_in_dim[shape=[37], dims=[]](0.0:f64)
  %28: f64[37] = max(%27, %26)
  return (%28)
}";

/// `sum(uniform(fold_in(k, 7), [3, 13], dtype=f32), axis=1)`: a scalar cipher (one
/// element, computed in the row prologue) makes the key.
const FOLD_IN: &str = "fn fld(%0: u32[2]) -> (f32[3]) {
  %1: u32[1] = slice[start=[0], limit=[1], stride=[1]](%0)
  %2: u32[] = reshape[shape=[]](%1)
  %3: u32[1] = slice[start=[1], limit=[2], stride=[1]](%0)
  %4: u32[] = reshape[shape=[]](%3)
  %5: u32[], %6: u32[] = threefry2x32(%2, %4, 0:u32, 7:u32)
  %7: u32[1] = reshape[shape=[1]](%5)
  %8: u32[1] = reshape[shape=[1]](%6)
  %9: u32[2] = concat[axis=0](%7, %8)
  %10: u32[39] = iota[dtype=u32, shape=[39], axis=0]()
  %11: u32[3, 13] = reshape[shape=[3, 13]](%10)
  %12: u32[1] = slice[start=[0], limit=[1], stride=[1]](%9)
  %13: u32[] = reshape[shape=[]](%12)
  %14: u32[3, 13] = broadcast_in_dim[shape=[3, 13], dims=[]](%13)
  %15: u32[1] = slice[start=[1], limit=[2], stride=[1]](%9)
  %16: u32[] = reshape[shape=[]](%15)
  %17: u32[3, 13] = broadcast_in_dim[shape=[3, 13], dims=[]](%16)
  %18: u32[3, 13] = broadcast_in_dim[shape=[3, 13], dims=[]](0:u32)
  %19: u32[3, 13], %20: u32[3, 13] = threefry2x32(%14, %17, %18, %11)
  %21: u32[3, 13] = xor(%19, %20)
  %22: f32[3, 13] = bits_to_unit[dtype=f32](%21)
  %23: f32[3, 13] = broadcast_in_dim[shape=[3, 13], dims=[]](0.0:f32)
  %24: f32[3, 13] = max(%23, %22)
  %25: f32[3] = reduce_sum[axes=[1], compensated=false](%24)
  return (%25)
}";

/// `normal(k, [5, 7])`: uniform in (-1, 1), then `sqrt(2) * erfinv`.
const NORMAL: &str = "fn nrm(%0: u32[2]) -> (f64[5, 7]) {
  %1: u32[35] = iota[dtype=u32, shape=[35], axis=0]()
  %2: u32[5, 7] = reshape[shape=[5, 7]](%1)
  %3: u32[1] = slice[start=[0], limit=[1], stride=[1]](%0)
  %4: u32[] = reshape[shape=[]](%3)
  %5: u32[5, 7] = broadcast_in_dim[shape=[5, 7], dims=[]](%4)
  %6: u32[1] = slice[start=[1], limit=[2], stride=[1]](%0)
  %7: u32[] = reshape[shape=[]](%6)
  %8: u32[5, 7] = broadcast_in_dim[shape=[5, 7], dims=[]](%7)
  %9: u32[5, 7] = broadcast_in_dim[shape=[5, 7], dims=[]](0:u32)
  %10: u32[5, 7], %11: u32[5, 7] = threefry2x32(%5, %8, %9, %2)
  %12: f64[5, 7] = bits_to_unit[dtype=f64](%10, %11)
  %13: f64[5, 7] = broadcast_in_dim[shape=[5, 7], dims=[]](2.0:f64)
  %14: f64[5, 7] = broadcast_in_dim[shape=[5, 7], dims=[]](-0.9999999999999999:f64)
  %15: f64[5, 7] = mul(%12, %13)
  %16: f64[5, 7] = add(%15, %14)
  %17: f64[5, 7] = max(%14, %16)
  %18: f64[5, 7] = erfinv(%17)
  %19: f64[5, 7] = broadcast_in_dim[shape=[5, 7], dims=[]](1.4142135623730951:f64)
  %20: f64[5, 7] = mul(%19, %18)
  return (%20)
}";

#[test]
fn split_and_fold_in_keys_match_the_interpreter() {
    for (k0, k1) in [(0, 0), (1, 2), (u32::MAX, 0x8000_0000)] {
        let plan_text = check_program(SPLIT, &[key(k0, k1)]);
        // The draw itself is one kernel reading the split key.
        assert!(plan_text.contains("kernel over [37]"), "{plan_text}");
        let plan_text = check_program(FOLD_IN, &[key(k0, k1)]);
        assert!(plan_text.contains("kernel over [3, 13]"), "{plan_text}");
    }
}

#[test]
fn normal_draws_match_the_interpreter() {
    // One kernel reading only the key; bitwise with libm's erfinv (the interpreter's),
    // for any thread count.
    let f = parse_func(NORMAL).unwrap();
    let p = plan(&f).unwrap();
    assert_eq!(p.steps.len(), 1, "{}", describe(&p));
    let Step::Kernel { kernel, inputs, .. } = &p.steps[0] else {
        panic!("{}", describe(&p))
    };
    assert!(inputs.iter().all(|&s| s == p.params[0]), "{}", describe(&p));
    for (k0, k1) in [(0, 0), (7, 8)] {
        let buffers = vec![key(k0, k1); inputs.len()];
        check_with("normal", kernel, &buffers, &EXACT, &THREADS);
    }
}

#[test]
fn max_and_min_with_a_constant_first_operand() {
    // `uniform` ends with `max(lo, x)`: with a literal first operand other than NaN
    // and ±0 this is one instruction; NaNs, signed zeros and ties as the interpreter.
    let a = Layout::contiguous(&[37]);
    for d in [DType::F32, DType::F64] {
        for c in [
            -1.0,
            2.5,
            1e-310,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::NAN,
        ] {
            for op in [BinaryOp::Max, BinaryOp::Min] {
                let k = kernel(
                    &[37],
                    vec![a.input(d)],
                    vec![
                        (Node::Lit(Scalar::F64(c).cast(d)), d),
                        (Node::Load(0), d),
                        (Node::Binary(op, 0, 1), d),
                        (Node::Binary(op, 1, 0), d),
                    ],
                    vec![Output::Store { node: 2 }, Output::Store { node: 3 }],
                );
                for seed in [0, 1] {
                    check_with(
                        &format!("{} of {c} and {d} data", op.name()),
                        &k,
                        &[data(d, 37, seed)],
                        &EXACT,
                        &[1],
                    );
                }
            }
        }
    }
}
