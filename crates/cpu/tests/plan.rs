//! The fusion planner: which equations share a kernel, what each kernel reads, the
//! exact rewrites it makes of node patterns, and why fusion stopped.

mod fallbacks;
use fallbacks::Interp;

use nabla_cpu::kernel::Output;
use nabla_cpu::plan::{describe, plan, Step};
use nabla_ir::parse_func;

fn kernels(text: &str) -> Vec<(usize, usize, String)> {
    let f = parse_func(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let p = plan(&f).unwrap();
    p.steps
        .iter()
        .filter_map(|s| match s {
            Step::Kernel {
                kernel,
                inputs,
                why,
                ..
            } => Some((kernel.nodes.len(), inputs.len(), why.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_elementwise_chain_is_one_kernel_reading_each_input_once() {
    // numexpr's polynomial: a**2 + b**2 + 2*a*b.
    let k = kernels(
        "fn poly(%0: f64[3], %1: f64[3]) -> (f64[3]) {
  %2: f64[3] = integer_pow[exponent=2](%0)
  %3: f64[3] = integer_pow[exponent=2](%1)
  %4: f64[3] = add(%2, %3)
  %5: f64[3] = broadcast_in_dim[shape=[3], dims=[]](2.0:f64)
  %6: f64[3] = mul(%5, %0)
  %7: f64[3] = mul(%6, %1)
  %8: f64[3] = add(%4, %7)
  return (%8)
}",
    );
    assert_eq!(k.len(), 1, "{k:?}");
    assert_eq!(k[0].1, 2, "reads a and b once each: {k:?}");
}

#[test]
fn a_reduction_fuses_with_its_producers() {
    let f = parse_func(
        "fn f(%0: f64[1000]) -> (f64[]) {
  %1: f64[1000] = mul(%0, %0)
  %2: f64[] = reduce_sum[axes=[0], compensated=false](%1)
  return (%2)
}",
    )
    .unwrap();
    let p = plan(&f).unwrap();
    assert_eq!(p.steps.len(), 1, "{}", describe(&p));
    let Step::Kernel { kernel, .. } = &p.steps[0] else {
        panic!("{}", describe(&p))
    };
    assert!(matches!(
        kernel.outputs[0],
        Output::Reduce { nreduce: 1, .. }
    ));
    assert_eq!(kernel.inputs.len(), 1);
}

#[test]
fn layout_changes_are_index_maps_not_copies() {
    // sum over axis 1 of a transposed, reversed slice: one kernel, strided reads (12
    // elements per sum, so the reduction is a kernel of its own, not inlined).
    let f = parse_func(
        "fn f(%0: f64[12, 6]) -> (f64[3]) {
  %1: f64[12, 3] = slice[start=[0, 1], limit=[12, 6], stride=[1, 2]](%0)
  %2: f64[3, 12] = transpose[perm=[1, 0]](%1)
  %3: f64[3, 12] = rev[axes=[1]](%2)
  %4: f64[3] = reduce_sum[axes=[1], compensated=false](%3)
  return (%4)
}",
    )
    .unwrap();
    let p = plan(&f).unwrap();
    assert_eq!(p.steps.len(), 1, "{}", describe(&p));
    let Step::Kernel { kernel, .. } = &p.steps[0] else {
        panic!()
    };
    let input = &kernel.inputs[0];
    // Iteration (i, j) reads x[11 - j, 1 + 2 i]: strides 2 and -6, offset 1 + 66.
    assert_eq!(input.strides, vec![2, -6]);
    assert_eq!(input.offset, 67);
}

#[test]
fn small_reductions_are_expressions_in_their_consumer() {
    // At most 8 elements per result (one per canonical lane): the sum is inlined into
    // the kernel of its consumer, reading each element through its own index map.
    let f = parse_func(
        "fn f(%0: f64[4, 1000]) -> (f64[]) {
  %1: f64[1000] = reduce_sum[axes=[0], compensated=false](%0)
  %2: f64[1000] = integer_pow[exponent=2](%1)
  %3: f64[] = reduce_max[axes=[0], compensated=false](%2)
  return (%3)
}",
    )
    .unwrap();
    let p = plan(&f).unwrap();
    assert_eq!(p.steps.len(), 1, "{}", describe(&p));
    let Step::Kernel { kernel, .. } = &p.steps[0] else {
        panic!()
    };
    let offsets: Vec<isize> = kernel.inputs.iter().map(|i| i.offset).collect();
    assert_eq!(offsets, vec![0, 1000, 2000, 3000]);
    assert!(kernel.inputs.iter().all(|i| i.strides == vec![1]));
}

#[test]
fn a_value_with_several_consumers_is_stored_once() {
    let k = kernels(
        "fn f(%0: f64[8]) -> (f64[8], f64[]) {
  %1: f64[8] = exp(%0)
  %2: f64[8] = mul(%1, %1)
  %3: f64[] = reduce_sum[axes=[0], compensated=false](%1)
  return (%2, %3)
}",
    );
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(k[0].2.contains("several consumers"), "{k:?}");
}

#[test]
fn reshapes_of_stored_buffers_are_free_views() {
    let f = parse_func(
        "fn f(%0: f64[2, 3]) -> (f64[6]) {
  %1: f64[6] = reshape[shape=[6]](%0)
  return (%1)
}",
    )
    .unwrap();
    let p = plan(&f).unwrap();
    assert!(
        matches!(p.steps[..], [Step::View { .. }]),
        "{}",
        describe(&p)
    );
}

#[test]
fn reshapes_of_virtual_values_fuse_unless_they_would_repeat_work() {
    // Splitting an iota's axis is an index map, even for several consumers; a
    // reshaped `exp` read twice is stored once, as before reshapes fused.
    let k = kernels(
        "fn f() -> (i64[2, 3], i64[]) {
  %0: i64[6] = iota[dtype=i64, shape=[6], axis=0]()
  %1: i64[2, 3] = reshape[shape=[2, 3]](%0)
  %2: i64[2, 3] = mul(%1, %1)
  %3: i64[] = reduce_max[axes=[0, 1], compensated=false](%1)
  return (%2, %3)
}",
    );
    assert_eq!(k.len(), 2, "{k:?}");
    assert!(
        k.iter().all(|s| s.1 == 0),
        "no kernel reads a buffer: {k:?}"
    );
    let k = kernels(
        "fn f(%0: f64[6]) -> (f64[2, 3], f64[]) {
  %1: f64[6] = exp(%0)
  %2: f64[2, 3] = reshape[shape=[2, 3]](%1)
  %3: f64[2, 3] = neg(%2)
  %4: f64[] = reduce_sum[axes=[0, 1], compensated=false](%2)
  return (%3, %4)
}",
    );
    assert_eq!(k.len(), 3, "{k:?}");
    assert!(k[0].2.contains("several consumers"), "{k:?}");
}

/// An even power of `x + 0.0` (what an uncontracted product leaves, see
/// `nabla_cpu::rewrite`) reads `x` itself: the add only changes -0 and NaN's
/// quietness, which the power's multiplies change the same way. Odd powers keep it.
#[test]
fn even_powers_skip_an_add_of_positive_zero() {
    use nabla_cpu::kernel::Node;
    use nabla_ir::{Array, Data};
    for (exponent, float, skipped) in [
        (2, "f64", true),
        (4, "f32", true),
        (-2, "f64", true),
        (0, "f64", true),
        (3, "f64", false),
    ] {
        let text = format!(
            "fn f(%0: {float}[12]) -> ({float}[12]) {{
  %1: {float}[12] = broadcast_in_dim[shape=[12], dims=[]](0.0:{float})
  %2: {float}[12] = add(%0, %1)
  %3: {float}[12] = integer_pow[exponent={exponent}](%2)
  return (%3)
}}"
        );
        let f = parse_func(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let p = plan(&f).unwrap();
        let Step::Kernel { kernel, .. } = &p.steps[0] else {
            panic!("{}", describe(&p))
        };
        let pow_reads_add = kernel.nodes.iter().any(
            |n| matches!(n, Node::IntPow(_, x) if matches!(kernel.nodes[*x], Node::Binary(..))),
        );
        assert_eq!(pow_reads_add, !skipped, "exponent {exponent}: {kernel:?}");
        // The bits of the interpreter, which keeps the add, on the values it changes.
        let values = [
            -0.0,
            0.0,
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.5,
            3.0,
            1e-310,
            -1e-310,
            1e200,
            -7.25,
        ];
        let x = if float == "f64" {
            Array::new(vec![12], Data::F64(values.to_vec())).unwrap()
        } else {
            let v = values.iter().map(|&v| v as f32).collect();
            Array::new(vec![12], Data::F32(v)).unwrap()
        };
        let want = nabla_interp::eval_func(&f, std::slice::from_ref(&x)).unwrap();
        let c = nabla_cpu::program::Compiled::new(&f).unwrap();
        for threads in [1, 3] {
            let got = c.run(std::slice::from_ref(&x), threads, &Interp).unwrap();
            assert!(
                got[0].bit_eq(&want[0]),
                "exponent {exponent}, {threads} threads: {:?} against {:?}",
                got[0],
                want[0]
            );
        }
    }
}
