//! Helpers shared by the simplification and pipeline tests: IR from text, the
//! per-pass invariants (self-check, ids), and semantic comparison with the interpreter.

#![allow(dead_code)]

use nabla_interp::eval_func;
use nabla_ir::{parse_func, print_func, self_check, Array, Data, Func};
use nabla_transform::Result;

pub fn parse(text: &str) -> Func {
    parse_func(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The text with each line trimmed and blank lines dropped, so expected IR can be
/// written indented inside a test.
pub fn normalize(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `pass` on the IR `text`, checks its output, and returns the output's text.
pub fn run(pass: fn(&Func) -> Result<Func>, text: &str) -> String {
    let f = parse(text);
    let g = pass(&f).unwrap_or_else(|e| panic!("{e}\n{text}"));
    self_check(&g).unwrap_or_else(|e| panic!("{e}"));
    print_func(&g)
}

/// Asserts that `pass` turns `input` into `expected` (both compared line by line,
/// indentation ignored), and that the output computes what the input does.
pub fn assert_pass(pass: fn(&Func) -> Result<Func>, input: &str, expected: &str) {
    assert_pass_with(pass, input, expected, Zeros::Exact);
}

/// [`assert_pass`] with the results compared as `zeros` says.
pub fn assert_pass_with(
    pass: fn(&Func) -> Result<Func>,
    input: &str,
    expected: &str,
    zeros: Zeros,
) {
    let out = run(pass, input);
    assert_eq!(
        normalize(&out),
        normalize(expected),
        "\n--- input\n{input}\n--- output\n{out}"
    );
    assert_same_semantics(&parse(input), &parse(&out), zeros);
}

/// How results are compared.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Zeros {
    /// Bit for bit.
    Exact,
    /// Bit for bit except that `-0.0` and `+0.0` match (the documented effect of
    /// folding `x + 0`).
    Signless,
}

/// Whether two arrays are the same bits (modulo the sign of zero for `Signless`).
pub fn same(a: &Array, b: &Array, zeros: Zeros) -> bool {
    if zeros == Zeros::Exact || a.shape() != b.shape() {
        return a.bit_eq(b);
    }
    match (a.data(), b.data()) {
        (Data::F64(x), Data::F64(y)) => x
            .iter()
            .zip(y)
            .all(|(p, q)| p.to_bits() == q.to_bits() || (*p == 0.0 && *q == 0.0)),
        (Data::F32(x), Data::F32(y)) => x
            .iter()
            .zip(y)
            .all(|(p, q)| p.to_bits() == q.to_bits() || (*p == 0.0 && *q == 0.0)),
        _ => a.bit_eq(b),
    }
}

/// Values every float input is drawn from in the fixed tests: the special ones and a
/// few ordinary ones.
pub const SPECIALS: [f64; 10] = [
    0.0,
    -0.0,
    1.0,
    -1.5,
    2.5,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e300,
    -3.0,
];

/// An argument of type `ty` whose elements cycle through `SPECIALS` from `seed`.
pub fn arg(ty: &nabla_ir::Type, seed: usize) -> Array {
    let n = ty.numel();
    let pick = |i: usize| SPECIALS[(seed + 3 * i) % SPECIALS.len()];
    let data = match ty.dtype {
        nabla_ir::DType::F64 => Data::F64((0..n).map(pick).collect()),
        nabla_ir::DType::F32 => Data::F32((0..n).map(|i| pick(i) as f32).collect()),
        nabla_ir::DType::I32 => Data::I32((0..n).map(|i| (seed + i) as i32 % 7 - 3).collect()),
        nabla_ir::DType::I64 => Data::I64((0..n).map(|i| (seed + i) as i64 % 7 - 3).collect()),
        nabla_ir::DType::U32 => Data::U32((0..n).map(|i| (seed + 2 * i) as u32 % 5).collect()),
        nabla_ir::DType::Bool => Data::Bool((0..n).map(|i| (seed + i).is_multiple_of(2)).collect()),
    };
    Array::new(ty.shape.clone(), data).expect("the data has the type's element count")
}

/// Asserts that `f` and `g` give the same results on arguments built from every
/// special value at every position (a dozen argument sets).
pub fn assert_same_semantics(f: &Func, g: &Func, zeros: Zeros) {
    for seed in 0..12 {
        let args: Vec<Array> = f.body.params.iter().map(|p| arg(&p.ty, seed)).collect();
        assert_same_on(f, g, &args, zeros);
    }
}

pub fn assert_same_on(f: &Func, g: &Func, args: &[Array], zeros: Zeros) {
    let want = eval_func(f, args).unwrap_or_else(|e| panic!("{e:?}\n{f}"));
    let got = eval_func(g, args).unwrap_or_else(|e| panic!("{e:?}\n{g}"));
    assert_eq!(want.len(), got.len());
    for (i, (w, o)) in want.iter().zip(&got).enumerate() {
        assert!(
            same(w, o, zeros),
            "result {i} differs: {} vs {}\nargs {args:?}\n--- before\n{f}\n--- after\n{g}",
            show(w),
            show(o)
        );
    }
}

/// The elements with the bits of every float, so that two NaNs that differ show how.
fn show(a: &Array) -> String {
    let elems: Vec<String> = match a.data() {
        Data::F64(v) => v
            .iter()
            .map(|x| format!("{x}({:#x})", x.to_bits()))
            .collect(),
        Data::F32(v) => v
            .iter()
            .map(|x| format!("{x}({:#x})", x.to_bits()))
            .collect(),
        _ => return format!("{:?}", a.data()),
    };
    format!("[{}]", elems.join(", "))
}
