//! Counter-based random numbers with JAX's default PRNG: keys are `u32[2]`, bits come
//! from Threefry-2x32 over the flat index of each element split into two 32-bit words
//! (JAX's partitionable threefry), so streams match JAX bit for bit and do not depend
//! on how the work is split.

use nabla_diag::{Code, Diagnostic, Span};
use nabla_ir::{Array, BinaryOp, CmpOp, DType, Data, Prim, Scalar, Type, UnaryOp};

use crate::builtins::{as_dtype, Bound, Builtin};
use crate::cx::{Cx, Res};
use crate::ops::static_int;
use crate::value::{Tensor, Value};

impl Cx<'_> {
    pub fn random_builtin(&mut self, b: Builtin, a: &Bound, span: Span) -> Res<Value> {
        match b {
            Builtin::Key => {
                let seed = a.req("seed")?;
                if let Some(s) = static_int(&seed) {
                    let data = Data::U32(vec![((s as u64) >> 32) as u32, s as u64 as u32]);
                    let arr = Array::new(vec![2], data).map_err(|e| internal(e, span))?;
                    return Ok(Value::Arr(Tensor::concrete(arr)));
                }
                let t = self.tensor_of(&seed, a.span_of("seed"))?;
                if t.rank() != 0 || !t.dtype().is_int() {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        format!("a seed is an integer scalar, not {}", t.ty()),
                    )
                    .at(a.span_of("seed"), "this seed"));
                }
                let t = self.cast(&t, DType::I64, span)?;
                let sh = self.scalar(Scalar::I64(32));
                let hi = self.binary_prim(BinaryOp::ShiftRightLogical, &t, &sh, span)?;
                let hi = self.cast(&hi, DType::U32, span)?;
                let lo = self.cast(&t, DType::U32, span)?;
                Ok(Value::Arr(self.stack(&[hi, lo], 0, span)?))
            }
            Builtin::Split => {
                let k = self.key_arg(a, span)?;
                let n = match a.opt("n") {
                    None => 2,
                    Some(v) => static_int(&v).ok_or_else(|| {
                        crate::builtins::static_err("the number of keys", a.span_of("n"))
                    })?,
                };
                if n < 0 {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        "split needs a non-negative count",
                    )
                    .at(span, "here"));
                }
                let (b1, b2) = self.counter_bits(&k, &[n as usize], span)?;
                Ok(Value::Arr(self.stack(&[b1, b2], 1, span)?))
            }
            Builtin::FoldIn => {
                let k = self.key_arg(a, span)?;
                let d = self.tensor_of(&a.req("data")?, a.span_of("data"))?;
                if d.rank() != 0 {
                    return Err(Diagnostic::error(
                        Code::BAD_ARGUMENT,
                        "fold_in takes a scalar integer",
                    )
                    .at(a.span_of("data"), "not a scalar"));
                }
                let lo = self.cast(&d, DType::U32, span)?;
                let hi = self.scalar(Scalar::U32(0));
                let (b1, b2) = self.threefry(&k, hi, lo, span)?;
                Ok(Value::Arr(self.stack(&[b1, b2], 0, span)?))
            }
            Builtin::Uniform => {
                let k = self.key_arg(a, span)?;
                let shape = self.shape_opt(a, span)?;
                let dtype = self.float_dtype(a)?;
                let lo = a.opt("lo").unwrap_or(Value::Float(0.0));
                let hi = a.opt("hi").unwrap_or(Value::Float(1.0));
                Ok(Value::Arr(self.uniform(&k, &shape, dtype, &lo, &hi, span)?))
            }
            Builtin::Normal => {
                let k = self.key_arg(a, span)?;
                let shape = self.shape_opt(a, span)?;
                let dtype = self.float_dtype(a)?;
                let lo = match dtype {
                    DType::F32 => Value::Float(f64::from(next_toward_zero_f32(-1.0))),
                    _ => Value::Float(next_toward_zero_f64(-1.0)),
                };
                let u = self.uniform(&k, &shape, dtype, &lo, &Value::Float(1.0), span)?;
                let e = self.emit1(Prim::Unary(UnaryOp::Erfinv), &[u], span)?;
                let s2 = self.full(
                    &shape,
                    Scalar::F64(std::f64::consts::SQRT_2).cast(dtype),
                    span,
                )?;
                Ok(Value::Arr(self.binary_prim(
                    BinaryOp::Mul,
                    &s2,
                    &e,
                    span,
                )?))
            }
            Builtin::Bernoulli => {
                let k = self.key_arg(a, span)?;
                let p = self.tensor_of(&a.opt("p").unwrap_or(Value::Float(0.5)), a.span_of("p"))?;
                let dtype = if p.dtype().is_float() {
                    p.dtype()
                } else {
                    DType::F64
                };
                let p = self.cast(&p, dtype, span)?;
                let shape = match a.opt("shape") {
                    Some(v) => self.static_shape(&v, a.span_of("shape"))?,
                    None => p.shape(),
                };
                let u = self.uniform(
                    &k,
                    &shape,
                    dtype,
                    &Value::Float(0.0),
                    &Value::Float(1.0),
                    span,
                )?;
                let p = self.broadcast_to(&p, &shape, span)?;
                Ok(Value::Arr(self.emit1(
                    Prim::Compare(CmpOp::Lt),
                    &[u, p],
                    span,
                )?))
            }
            Builtin::Randint => {
                let k = self.key_arg(a, span)?;
                let shape = self.static_shape(&a.req("shape")?, a.span_of("shape"))?;
                let dtype = match a.opt("dtype") {
                    Some(v) => as_dtype(&v, a.span_of("dtype"))?,
                    None => DType::I64,
                };
                if !dtype.is_int() {
                    return Err(
                        Diagnostic::error(Code::DTYPE_MISMATCH, "randint makes integers")
                            .at(a.span_of("dtype"), "not an integer dtype"),
                    );
                }
                let lo = self.tensor_of(&a.req("lo")?, a.span_of("lo"))?;
                let hi = self.tensor_of(&a.req("hi")?, a.span_of("hi"))?;
                Ok(Value::Arr(self.randint(&k, &shape, &lo, &hi, dtype, span)?))
            }
            _ => Err(Diagnostic::error(Code::INTERNAL, "not a random builtin").at(span, "")),
        }
    }

    fn key_arg(&mut self, a: &Bound, span: Span) -> Res<Tensor> {
        let k = self.tensor_of(&a.req("key")?, a.span_of("key"))?;
        if k.ty() != Type::new(DType::U32, vec![2]) {
            return Err(Diagnostic::error(
                Code::BAD_ARGUMENT,
                format!("a random key is u32[2], found {}", k.ty()),
            )
            .at(a.span_of("key"), "not a key")
            .hint("make one with `key(seed)`; split a batch of keys with `ks[i]`"));
        }
        let _ = span;
        Ok(k)
    }

    fn shape_opt(&mut self, a: &Bound, _span: Span) -> Res<Vec<usize>> {
        match a.opt("shape") {
            None => Ok(Vec::new()),
            Some(v) => self.static_shape(&v, a.span_of("shape")),
        }
    }

    fn float_dtype(&self, a: &Bound) -> Res<DType> {
        match a.opt("dtype") {
            None => Ok(DType::F64),
            Some(v) => {
                let d = as_dtype(&v, a.span_of("dtype"))?;
                if !d.is_float() {
                    return Err(Diagnostic::error(
                        Code::DTYPE_MISMATCH,
                        format!("this distribution makes floats, not {d}"),
                    )
                    .at(a.span_of("dtype"), "use f32 or f64"));
                }
                Ok(d)
            }
        }
    }

    /// The key's two words as scalars broadcast to `shape`.
    fn key_words(&mut self, k: &Tensor, shape: &[usize], span: Span) -> Res<(Tensor, Tensor)> {
        let mut words = Vec::new();
        for i in 0..2 {
            let w = self.emit1(
                Prim::Slice {
                    start: vec![i],
                    limit: vec![i + 1],
                    stride: vec![1],
                },
                std::slice::from_ref(k),
                span,
            )?;
            let w = self.reshape(&w, &[], span)?;
            words.push(self.broadcast_to(&w, shape, span)?);
        }
        let k1 = words.pop().ok_or_else(|| internal("key", span))?;
        let k0 = words.pop().ok_or_else(|| internal("key", span))?;
        Ok((k0, k1))
    }

    fn threefry(
        &mut self,
        k: &Tensor,
        hi: Tensor,
        lo: Tensor,
        span: Span,
    ) -> Res<(Tensor, Tensor)> {
        let shape = lo.shape();
        let (k0, k1) = self.key_words(k, &shape, span)?;
        let hi = self.broadcast_to(&hi, &shape, span)?;
        let mut outs = self.emit(Prim::Threefry2x32, &[k0, k1, hi, lo], span)?;
        let b2 = outs.pop().ok_or_else(|| internal("threefry", span))?;
        let b1 = outs.pop().ok_or_else(|| internal("threefry", span))?;
        Ok((b1, b2))
    }

    /// Threefry of the key over each element's flat index (hi word, lo word).
    fn counter_bits(&mut self, k: &Tensor, shape: &[usize], span: Span) -> Res<(Tensor, Tensor)> {
        let n: usize = shape.iter().product();
        if n as u64 >= 1 << 32 {
            return Err(Diagnostic::error(
                Code::ALLOCATION_TOO_LARGE,
                "random arrays are limited to 2^32 elements",
            )
            .at(span, "this draw"));
        }
        let lo = self.emit1(
            Prim::Iota {
                dtype: DType::U32,
                shape: vec![n],
                axis: 0,
            },
            &[],
            span,
        )?;
        let lo = self.reshape(&lo, shape, span)?;
        let hi = self.scalar(Scalar::U32(0));
        self.threefry(k, hi, lo, span)
    }

    fn uniform(
        &mut self,
        k: &Tensor,
        shape: &[usize],
        dtype: DType,
        lo: &Value,
        hi: &Value,
        span: Span,
    ) -> Res<Tensor> {
        let (b1, b2) = self.counter_bits(k, shape, span)?;
        let floats = match dtype {
            DType::F32 => {
                let x = self.binary_prim(BinaryOp::Xor, &b1, &b2, span)?;
                self.emit1(Prim::BitsToUnit { dtype }, &[x], span)?
            }
            _ => self.emit1(Prim::BitsToUnit { dtype: DType::F64 }, &[b1, b2], span)?,
        };
        let lo = self.tensor_of(lo, span)?;
        let lo = self.cast(&lo, dtype, span)?;
        let hi = self.tensor_of(hi, span)?;
        let hi = self.cast(&hi, dtype, span)?;
        if lo.rank() != 0 || hi.rank() != 0 {
            return Err(
                Diagnostic::error(Code::BAD_ARGUMENT, "lo and hi must be scalars").at(span, "here"),
            );
        }
        let diff = self.binary_prim(
            BinaryOp::Sub,
            &hi.with_weak(false),
            &lo.clone().with_weak(false),
            span,
        )?;
        let diff = self.broadcast_to(&diff, shape, span)?;
        let lo_b = self.broadcast_to(&lo, shape, span)?;
        let scaled = self.binary_prim(BinaryOp::Mul, &floats, &diff, span)?;
        let shifted = self.binary_prim(BinaryOp::Add, &scaled, &lo_b, span)?;
        self.binary_prim(BinaryOp::Max, &lo_b, &shifted, span)
    }

    /// JAX's `randint`: two independent draws combined modulo the span, in 32-bit
    /// words, or in 64-bit ones for i64 (as JAX with 64-bit types enabled).
    fn randint(
        &mut self,
        k: &Tensor,
        shape: &[usize],
        lo: &Tensor,
        hi: &Tensor,
        dtype: DType,
        span: Span,
    ) -> Res<Tensor> {
        let (k1, k2) = {
            let (b1, b2) = self.counter_bits(k, &[2], span)?;
            let ks = self.stack(&[b1, b2], 1, span)?;
            let mut out = Vec::new();
            for i in 0..2 {
                let r = self.emit1(
                    Prim::Slice {
                        start: vec![i, 0],
                        limit: vec![i + 1, 2],
                        stride: vec![1, 1],
                    },
                    std::slice::from_ref(&ks),
                    span,
                )?;
                out.push(self.reshape(&r, &[2], span)?);
            }
            (out[0].clone(), out[1].clone())
        };
        let lo = self.cast(lo, DType::I64, span)?;
        let hi = self.cast(hi, DType::I64, span)?;
        let lo = self.broadcast_to(&lo, shape, span)?;
        let hi = self.broadcast_to(&hi, shape, span)?;
        // The span wraps as JAX's unsigned one does; an empty range draws `lo`.
        let diff = self.binary_prim(BinaryOp::Sub, &hi, &lo, span)?;
        let empty = self.emit1(Prim::Compare(CmpOp::Le), &[hi, lo.clone()], span)?;
        if dtype == DType::I64 {
            return self.randint_64(shape, (&k1, &k2), &lo, &diff, &empty, span);
        }
        let bits = |cx: &mut Self, key: &Tensor| -> Res<Tensor> {
            let (a, b) = cx.counter_bits(key, shape, span)?;
            cx.binary_prim(BinaryOp::Xor, &a, &b, span)
        };
        let higher = bits(self, &k1)?;
        let lower = bits(self, &k2)?;
        let span_u = self.cast(&diff, DType::U32, span)?;
        let one = self.full(shape, Scalar::U32(1), span)?;
        let span_u = self.emit1(Prim::Select, &[empty, one, span_u], span)?;
        let c16 = self.full(shape, Scalar::U32(1 << 16), span)?;
        let mult = self.binary_prim(BinaryOp::Rem, &c16, &span_u, span)?;
        let mult = self.binary_prim(BinaryOp::Mul, &mult, &mult, span)?;
        let mult = self.binary_prim(BinaryOp::Rem, &mult, &span_u, span)?;
        let hr = self.binary_prim(BinaryOp::Rem, &higher, &span_u, span)?;
        let lr = self.binary_prim(BinaryOp::Rem, &lower, &span_u, span)?;
        let off = self.binary_prim(BinaryOp::Mul, &hr, &mult, span)?;
        let off = self.binary_prim(BinaryOp::Add, &off, &lr, span)?;
        let off = self.binary_prim(BinaryOp::Rem, &off, &span_u, span)?;
        let off = self.cast(&off, DType::I64, span)?;
        let r = self.binary_prim(BinaryOp::Add, &lo, &off, span)?;
        self.cast(&r, dtype, span)
    }

    /// JAX's 64-bit `randint` on words held in i64 (Nabla has no u64): the same bits,
    /// with wrapping adds and products and the remainders taken as unsigned. `lo`,
    /// `diff` (`hi - lo`) and `empty` (`hi <= lo`) come from [`Self::randint`].
    fn randint_64(
        &mut self,
        shape: &[usize],
        (k1, k2): (&Tensor, &Tensor),
        lo: &Tensor,
        diff: &Tensor,
        empty: &Tensor,
        span: Span,
    ) -> Res<Tensor> {
        // JAX's 64-bit words: the cipher's first word high, its second low.
        let words = |cx: &mut Self, key: &Tensor| -> Res<Tensor> {
            let (a, b) = cx.counter_bits(key, shape, span)?;
            let a = cx.cast(&a, DType::I64, span)?;
            let b = cx.cast(&b, DType::I64, span)?;
            let by = cx.full(shape, Scalar::I64(32), span)?;
            let a = cx.binary_prim(BinaryOp::ShiftLeft, &a, &by, span)?;
            cx.binary_prim(BinaryOp::Or, &a, &b, span)
        };
        let higher = words(self, k1)?;
        let lower = words(self, k2)?;
        let one = self.full(shape, Scalar::I64(1), span)?;
        let modulus = self.emit1(Prim::Select, &[empty.clone(), one, diff.clone()], span)?;
        let c32 = self.full(shape, Scalar::I64(1 << 32), span)?;
        let mult = self.urem_64(&c32, &modulus, shape, span)?;
        let mult = self.binary_prim(BinaryOp::Mul, &mult, &mult, span)?;
        let mult = self.urem_64(&mult, &modulus, shape, span)?;
        let hr = self.urem_64(&higher, &modulus, shape, span)?;
        let lr = self.urem_64(&lower, &modulus, shape, span)?;
        let off = self.binary_prim(BinaryOp::Mul, &hr, &mult, span)?;
        let off = self.binary_prim(BinaryOp::Add, &off, &lr, span)?;
        let off = self.urem_64(&off, &modulus, shape, span)?;
        self.binary_prim(BinaryOp::Add, lo, &off, span)
    }

    /// `a mod m` for the unsigned 64-bit words whose bits the i64 arrays `a` and `m`
    /// hold (`m` never 0), from signed operations whose divisors are all positive.
    fn urem_64(&mut self, a: &Tensor, m: &Tensor, shape: &[usize], span: Span) -> Res<Tensor> {
        let zero = self.full(shape, Scalar::I64(0), span)?;
        let one = self.full(shape, Scalar::I64(1), span)?;
        let sign = self.full(shape, Scalar::I64(i64::MIN), span)?;
        let max = self.full(shape, Scalar::I64(i64::MAX), span)?;
        // Unsigned x < y is signed (x ^ 2^63) < (y ^ 2^63).
        let below = |cx: &mut Self, x: &Tensor, y: &Tensor| -> Res<Tensor> {
            let x = cx.binary_prim(BinaryOp::Xor, x, &sign, span)?;
            let y = cx.binary_prim(BinaryOp::Xor, y, &sign, span)?;
            cx.emit1(Prim::Compare(CmpOp::Lt), &[x, y], span)
        };
        // `x` below `m`, or `x - m` (for x < 2m).
        let reduce_once = |cx: &mut Self, x: &Tensor| -> Res<Tensor> {
            let fits = below(cx, x, m)?;
            let less = cx.binary_prim(BinaryOp::Sub, x, m, span)?;
            cx.emit1(Prim::Select, &[fits, x.clone(), less], span)
        };
        // m ≥ 2^63: a < 2m, so one subtraction at most.
        let huge = self.emit1(Prim::Compare(CmpOp::Lt), &[m.clone(), zero.clone()], span)?;
        let for_huge = reduce_once(self, a)?;
        // m < 2^63: a's low 63 bits mod m, plus 2^63 mod m where a's top bit is set.
        let divisor = self.emit1(Prim::Select, &[huge.clone(), one.clone(), m.clone()], span)?;
        let low = self.binary_prim(BinaryOp::And, a, &max, span)?;
        let low = self.binary_prim(BinaryOp::Rem, &low, &divisor, span)?;
        let top = self.binary_prim(BinaryOp::Rem, &max, &divisor, span)?;
        let top = self.binary_prim(BinaryOp::Add, &top, &one, span)?;
        let top = self.binary_prim(BinaryOp::Rem, &top, &divisor, span)?;
        let with_top = self.binary_prim(BinaryOp::Add, &low, &top, span)?;
        let with_top = reduce_once(self, &with_top)?;
        let top_set = self.emit1(Prim::Compare(CmpOp::Lt), &[a.clone(), zero], span)?;
        let for_small = self.emit1(Prim::Select, &[top_set, with_top, low], span)?;
        self.emit1(Prim::Select, &[huge, for_huge, for_small], span)
    }
}

fn next_toward_zero_f64(x: f64) -> f64 {
    // For negative x, the next value toward zero has the next smaller magnitude.
    f64::from_bits(x.to_bits() - 1)
}

fn next_toward_zero_f32(x: f32) -> f32 {
    f32::from_bits(x.to_bits() - 1)
}

fn internal(e: impl std::fmt::Display, span: Span) -> Diagnostic {
    Diagnostic::error(Code::INTERNAL, e.to_string()).at(span, "here")
}
