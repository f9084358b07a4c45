//! Shared by the codegen tests: input data with the special values every op must get
//! right, kernel builders, and the check that runs a kernel compiled several ways
//! against the reference interpreter.

#![allow(dead_code)]

use nabla_cpu::codegen::{compile_with, Math, Options};
use nabla_cpu::exec;
use nabla_cpu::kernel::{Input, Kernel, Node, Output};
use nabla_cpu::reference;
use nabla_ir::{Array, DType, Data, Scalar};

/// Scalar-only and vector code, both with libm transcendentals (bitwise the
/// interpreter's).
pub const EXACT: [Options; 2] = [
    Options {
        simd: true,
        math: Math::Libm,
    },
    Options {
        simd: false,
        math: Math::Libm,
    },
];

pub const F64_SPECIAL: [f64; 24] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    3.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::MAX,
    f64::MIN_POSITIVE,
    5e-324,
    -7.25,
    1e10,
    -3e9,
    4.5e9,
    1e19,
    -1e19,
    0.9999,
    123.456,
];

pub const I64_SPECIAL: [i64; 14] = [
    0,
    1,
    -1,
    2,
    -7,
    7,
    31,
    32,
    63,
    64,
    i64::MIN,
    i64::MAX,
    1 << 40,
    -(1 << 33),
];

/// A deterministic generator (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in [-scale, scale).
    pub fn float(&mut self, scale: f64) -> f64 {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
    }
}

/// `n` elements of `d`: the special values first (cycled), then pseudo-random ones.
pub fn data(d: DType, n: usize, seed: u64) -> Array {
    let mut rng = Rng(seed);
    let mut f = |i: usize| -> f64 {
        if i < F64_SPECIAL.len() && seed.is_multiple_of(2) {
            F64_SPECIAL[(i + seed as usize) % F64_SPECIAL.len()]
        } else {
            let scale = [1.0, 10.0, 1e3, 0.01][(rng.next() % 4) as usize];
            rng.float(scale)
        }
    };
    let data = match d {
        DType::F64 => Data::F64((0..n).map(&mut f).collect()),
        DType::F32 => Data::F32((0..n).map(|i| f(i) as f32).collect()),
        DType::I64 | DType::I32 | DType::U32 => {
            let mut r = Rng(seed ^ 0x55);
            let v: Vec<i64> = (0..n)
                .map(|i| {
                    if i < I64_SPECIAL.len() {
                        I64_SPECIAL[(i + seed as usize) % I64_SPECIAL.len()]
                    } else {
                        match r.next() % 3 {
                            0 => (r.next() % 64) as i64 - 32,
                            1 => (r.next() % 2000) as i64 - 1000,
                            _ => r.next() as i64,
                        }
                    }
                })
                .collect();
            match d {
                DType::I64 => Data::I64(v),
                DType::I32 => Data::I32(v.iter().map(|&x| x as i32).collect()),
                _ => Data::U32(v.iter().map(|&x| x as u32).collect()),
            }
        }
        DType::Bool => {
            let mut r = Rng(seed ^ 0xb001);
            Data::Bool((0..n).map(|_| r.next().is_multiple_of(3)).collect())
        }
    };
    Array::new(vec![n], data).expect("a rank-1 shape of the data's length")
}

/// How one input is read.
#[derive(Clone, Debug)]
pub struct Layout {
    pub strides: Vec<isize>,
    pub offset: isize,
    pub len: usize,
}

impl Layout {
    pub fn contiguous(shape: &[usize]) -> Layout {
        let s = nabla_ir::array::strides(shape);
        Layout {
            strides: s.into_iter().map(|x| x as isize).collect(),
            offset: 0,
            len: shape.iter().product(),
        }
    }

    pub fn input(&self, dtype: DType) -> Input {
        Input {
            dtype,
            strides: self.strides.clone(),
            offset: self.offset,
            len: self.len,
        }
    }
}

/// Named iteration spaces with two input layouts each, covering the loop shapes code
/// generation distinguishes.
pub fn layouts() -> Vec<(&'static str, Vec<usize>, Layout, Layout)> {
    let c = Layout::contiguous;
    vec![
        ("contiguous 37", vec![37], c(&[37]), c(&[37])),
        ("contiguous 2", vec![2], c(&[2]), c(&[2])),
        ("contiguous 3", vec![3], c(&[3]), c(&[3])),
        ("rows 5x9", vec![5, 9], c(&[5, 9]), c(&[5, 9])),
        (
            "row broadcast",
            vec![5, 9],
            c(&[5, 9]),
            Layout {
                strides: vec![0, 1],
                offset: 0,
                len: 9,
            },
        ),
        (
            "column broadcast",
            vec![5, 9],
            Layout {
                strides: vec![1, 0],
                offset: 0,
                len: 5,
            },
            c(&[5, 9]),
        ),
        (
            "reversed",
            vec![5, 9],
            c(&[5, 9]),
            Layout {
                strides: vec![-9, -1],
                offset: 44,
                len: 45,
            },
        ),
        (
            "transposed and sliced",
            vec![5, 9],
            Layout {
                strides: vec![1, 5],
                offset: 0,
                len: 45,
            },
            Layout {
                strides: vec![20, 2],
                offset: 3,
                len: 100,
            },
        ),
        (
            "scalar",
            vec![],
            c(&[]),
            Layout {
                strides: vec![],
                offset: 2,
                len: 3,
            },
        ),
        ("empty", vec![4, 0], c(&[4, 0]), c(&[4, 0])),
        ("size-1 axes", vec![1, 6, 1], c(&[1, 6, 1]), c(&[1, 6, 1])),
    ]
}

/// Whether two arrays hold the same bits (any NaN matching any NaN: payloads are not
/// part of the semantics).
pub fn same_bits(a: &Array, b: &Array) -> bool {
    a.bit_eq_any_nan(b)
}

/// The first differing element, for messages.
pub fn first_difference(a: &Array, b: &Array) -> String {
    if a.shape() != b.shape() {
        return format!("shapes {:?} vs {:?}", a.shape(), b.shape());
    }
    for i in 0..a.len() {
        let (x, y) = (a.get_flat(i), b.get_flat(i));
        let one = Array::scalar(x.unwrap_or(Scalar::Bool(false)));
        let two = Array::scalar(y.unwrap_or(Scalar::Bool(false)));
        if !same_bits(&one, &two) {
            return format!("element {i}: {x:?} vs {y:?}");
        }
    }
    "no difference".into()
}

/// The interpreter's results for a kernel on these input buffers.
pub fn interpret(kernel: &Kernel, inputs: &[Array]) -> Vec<Array> {
    let refs: Vec<&Array> = inputs.iter().collect();
    let views = reference::views(kernel, &refs).expect("views of valid inputs");
    let f = reference::to_func(kernel).expect("the kernel as IR");
    nabla_interp::eval_func(&f, &views).expect("the interpreter evaluates the kernel")
}

/// Compiles `kernel` with each of `options`, runs it with each thread count, and
/// asserts the results are bitwise the interpreter's. Returns the lanes each option
/// compiled to.
pub fn check_with(
    what: &str,
    kernel: &Kernel,
    inputs: &[Array],
    options: &[Options],
    threads: &[usize],
) -> Vec<usize> {
    let want = interpret(kernel, inputs);
    let refs: Vec<&Array> = inputs.iter().collect();
    let mut lanes = Vec::new();
    for opt in options {
        let compiled = compile_with(kernel, opt)
            .unwrap_or_else(|e| panic!("{what}: compiling: {e}\n{kernel:?}"));
        lanes.push(compiled.lanes());
        for &t in threads {
            let got = exec::run(kernel, &compiled, &refs, t)
                .unwrap_or_else(|e| panic!("{what}: running: {e}"));
            assert_eq!(got.len(), want.len(), "{what}");
            for (o, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same_bits(g, w),
                    "{what}: output {o} with {opt:?}, {t} threads: {}\n{kernel:?}",
                    first_difference(g, w)
                );
            }
        }
    }
    lanes
}

pub fn check(what: &str, kernel: &Kernel, inputs: &[Array]) -> Vec<usize> {
    check_with(what, kernel, inputs, &EXACT, &[1])
}

/// A kernel over `shape` of the given inputs and nodes (dtypes inferred by the caller)
/// storing `stores`.
pub fn kernel(
    shape: &[usize],
    inputs: Vec<Input>,
    nodes: Vec<(Node, DType)>,
    outputs: Vec<Output>,
) -> Kernel {
    let (nodes, dtypes) = nodes.into_iter().unzip();
    Kernel {
        shape: shape.to_vec(),
        inputs,
        nodes,
        dtypes,
        outputs,
    }
}

/// The result dtype of `prim` on scalar operands, or `None` if the IR rejects them.
pub fn result_dtype(prim: &nabla_ir::Prim, args: &[DType]) -> Option<DType> {
    let types: Vec<nabla_ir::Type> = args.iter().map(|&d| nabla_ir::Type::scalar(d)).collect();
    nabla_ir::infer(prim, &types).ok().map(|t| t[0].dtype)
}

/// Distance in units in the last place between two floats of one dtype (0 for two
/// NaNs, `u64::MAX` for a NaN and a number).
pub fn ulps(d: DType, a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u64::MAX
        };
    }
    let key = |x: f64| -> i128 {
        if d == DType::F32 {
            let bits = (x as f32).to_bits() as i32;
            let v = if bits < 0 { i32::MIN - bits } else { bits };
            i128::from(v)
        } else {
            let bits = x.to_bits() as i64;
            let v = if bits < 0 { i64::MIN - bits } else { bits };
            i128::from(v)
        }
    };
    (key(a) - key(b)).unsigned_abs() as u64
}
