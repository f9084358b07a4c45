//! Element operations as Cranelift instructions, for one element (scalar mode) or for
//! `w` consecutive elements (vector mode), with the interpreter's exact semantics.
//!
//! Value layout. Scalars: bool is an `i8` holding 0 or 1, `u32` an `i32`. Vectors are
//! 128 bits: a kernel with any 64-bit dtype runs 2 lanes (`f64x2`, `i64x2`, and the
//! 32-bit dtypes in the low half of a 4-lane vector, the upper lanes don't-care);
//! otherwise 4 lanes. A vector bool is a lane mask (all ones or zero) as wide as a
//! lane: `i64x2` with 2 lanes, `i32x4` with 4. Every operation first tries a native
//! vector sequence and otherwise runs its scalar code lane by lane, so every op works
//! in both modes and vector mode is only ever a speed question.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{
    F32, F32X4, F64, F64X2, I16X8, I32, I32X4, I64, I64X2, I8, I8X16,
};
use cranelift_codegen::ir::{
    AbiParam, ConstantData, Endianness, FuncRef, InstBuilder, InstructionData, MemFlagsData,
    Opcode, StackSlotData, StackSlotKind, Type, Value, ValueDef,
};
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};
use nabla_ir::threefry::{KEY_PARITY, ROTATIONS};
use nabla_ir::{BinaryOp, CmpOp, DType, ReduceOp, Scalar, UnaryOp};

use super::{libcall, Math};
use crate::error::{CpuError, Result};
use crate::math::{self, MathOp};

/// Loads and stores: in bounds by construction (checked before any call), so they
/// cannot trap; not necessarily aligned.
const MEM: MemFlagsData = MemFlagsData::new().with_notrap();
/// Reinterpreting a vector as one with another lane count needs a byte order.
const LE: MemFlagsData = MemFlagsData::new().with_endianness(Endianness::Little);
/// Same-shape bitcasts.
const SAME: MemFlagsData = MemFlagsData::new();

/// Entries of a key schedule.
pub(super) const SCHEDULE_ENTRIES: usize = 8;
/// Bytes per pinned value (see [`Gen::pin`]): one vector.
const PIN_BYTES: usize = 16;

/// Where the cipher gets its key.
#[derive(Clone, Copy, Debug)]
pub(super) enum CipherKey {
    /// The two key words as values of the current mode.
    Words([Value; 2]),
    /// A key invariant over the loop, as 4-lane vectors built once per row: `k0`,
    /// `k1`, `k2 = k0 ^ k1 ^ parity`, then the word added to `x1` after each group `g`
    /// of four rounds, `k[(g + 2) % 3] + g + 1`. Built from splats, Cranelift would
    /// rebuild them inside the loop (it turns `splat(k) + splat(c)` into
    /// `splat(k + c)` and rematerializes the scalar add in every block using it, and
    /// it does not hoist the splats), at 2 or 3 instructions per use.
    Schedule([Value; SCHEDULE_ENTRIES]),
}

/// The scalar type holding one element of `d`.
pub(super) fn scalar_ty(d: DType) -> Type {
    match d {
        DType::Bool => I8,
        DType::I32 | DType::U32 => I32,
        DType::I64 => I64,
        DType::F32 => F32,
        DType::F64 => F64,
    }
}

fn is_64(d: DType) -> bool {
    matches!(d, DType::I64 | DType::F64)
}

/// Bytes per element of `d` in memory.
pub(super) fn size(d: DType) -> i64 {
    d.size_bytes() as i64
}

/// The identity of a reduction.
pub(crate) fn identity(op: ReduceOp, d: DType) -> Scalar {
    match (op, d) {
        (ReduceOp::Sum, _) => Scalar::zero(d),
        (ReduceOp::Prod, _) => Scalar::one(d),
        (ReduceOp::And, _) | (ReduceOp::Min, DType::Bool) => Scalar::Bool(true),
        (ReduceOp::Or, _) | (ReduceOp::Max, DType::Bool) => Scalar::Bool(false),
        (ReduceOp::Max, DType::I32) => Scalar::I32(i32::MIN),
        (ReduceOp::Max, DType::I64) => Scalar::I64(i64::MIN),
        (ReduceOp::Max, DType::U32) => Scalar::U32(0),
        (ReduceOp::Max, DType::F32) => Scalar::F32(f32::NEG_INFINITY),
        (ReduceOp::Max, DType::F64) => Scalar::F64(f64::NEG_INFINITY),
        (ReduceOp::Min, DType::I32) => Scalar::I32(i32::MAX),
        (ReduceOp::Min, DType::I64) => Scalar::I64(i64::MAX),
        (ReduceOp::Min, DType::U32) => Scalar::U32(u32::MAX),
        (ReduceOp::Min, DType::F32) => Scalar::F32(f32::INFINITY),
        (ReduceOp::Min, DType::F64) => Scalar::F64(f64::INFINITY),
    }
}

/// The binary operation a reduction folds with.
pub(crate) fn reduce_binop(op: ReduceOp) -> BinaryOp {
    match op {
        ReduceOp::Sum => BinaryOp::Add,
        ReduceOp::Prod => BinaryOp::Mul,
        ReduceOp::Max => BinaryOp::Max,
        ReduceOp::Min => BinaryOp::Min,
        ReduceOp::And => BinaryOp::And,
        ReduceOp::Or => BinaryOp::Or,
    }
}

fn math_op(op: UnaryOp) -> Option<MathOp> {
    Some(match op {
        UnaryOp::Exp => MathOp::Exp,
        UnaryOp::Expm1 => MathOp::Expm1,
        UnaryOp::Log => MathOp::Log,
        UnaryOp::Log1p => MathOp::Log1p,
        UnaryOp::Sin => MathOp::Sin,
        UnaryOp::Cos => MathOp::Cos,
        UnaryOp::Tan => MathOp::Tan,
        UnaryOp::Tanh => MathOp::Tanh,
        UnaryOp::Asin => MathOp::Asin,
        UnaryOp::Acos => MathOp::Acos,
        UnaryOp::Atan => MathOp::Atan,
        UnaryOp::Sinh => MathOp::Sinh,
        UnaryOp::Cosh => MathOp::Cosh,
        UnaryOp::Erf => MathOp::Erf,
        UnaryOp::Erfinv => MathOp::Erfinv,
        UnaryOp::Neg
        | UnaryOp::Abs
        | UnaryOp::Sign
        | UnaryOp::Sqrt
        | UnaryOp::Rsqrt
        | UnaryOp::Floor
        | UnaryOp::Ceil
        | UnaryOp::Round
        | UnaryOp::IsNan
        | UnaryOp::IsFinite
        | UnaryOp::Not => return None,
    })
}

fn math_name(op: MathOp) -> &'static str {
    match op {
        MathOp::Exp => "exp",
        MathOp::Expm1 => "expm1",
        MathOp::Log => "log",
        MathOp::Log1p => "log1p",
        MathOp::Sin => "sin",
        MathOp::Cos => "cos",
        MathOp::Tan => "tan",
        MathOp::Tanh => "tanh",
        MathOp::Asin => "asin",
        MathOp::Acos => "acos",
        MathOp::Atan => "atan",
        MathOp::Sinh => "sinh",
        MathOp::Cosh => "cosh",
        MathOp::Erf => "erf",
        MathOp::Erfinv => "erfinv",
        MathOp::Atan2 => "atan2",
        MathOp::Pow => "pow",
    }
}

fn rejects(what: &str, d: DType) -> CpuError {
    CpuError::internal(format!("{what} does not accept {d} operands"))
}

/// Emits element operations into one function.
pub(super) struct Gen<'a> {
    pub b: FunctionBuilder<'a>,
    module: &'a mut JITModule,
    math: Math,
    /// Lanes per value: 1 in scalar mode, 2 or 4 in vector mode.
    pub w: usize,
    calls: HashMap<&'static str, FuncRef>,
}

impl<'a> Gen<'a> {
    pub fn new(b: FunctionBuilder<'a>, module: &'a mut JITModule, math: Math) -> Gen<'a> {
        Gen {
            b,
            module,
            math,
            w: 1,
            calls: HashMap::new(),
        }
    }

    /// Whether the function calls `symbol`.
    pub fn has_call(&self, symbol: &str) -> bool {
        self.calls.contains_key(symbol)
    }

    /// Ends the function.
    pub fn finish(self, config: cranelift_codegen::isa::TargetFrontendConfig) {
        self.b.finalize(config);
    }

    /// The Cranelift type of a value of `d` in the current mode.
    pub fn ty(&self, d: DType) -> Type {
        if self.w == 1 {
            return scalar_ty(d);
        }
        match d {
            DType::Bool => self.mask_ty(),
            DType::I32 | DType::U32 => I32X4,
            DType::I64 => I64X2,
            DType::F32 => F32X4,
            DType::F64 => F64X2,
        }
    }

    fn mask_ty(&self) -> Type {
        if self.w == 2 {
            I64X2
        } else {
            I32X4
        }
    }

    /// An integer constant of a scalar integer type (Cranelift wants narrow
    /// immediates zero-extended).
    pub fn iconst(&mut self, ty: Type, v: i64) -> Value {
        let bits = match ty.bits() {
            8 => v & 0xff,
            16 => v & 0xffff,
            32 => v & 0xffff_ffff,
            _ => v,
        };
        self.b.ins().iconst(ty, bits)
    }

    /// A scalar constant in the current mode.
    pub fn lit(&mut self, s: Scalar) -> Value {
        let v = self.scalar_lit(s);
        if self.w == 1 {
            v
        } else {
            self.splat(s.dtype(), v)
        }
    }

    fn scalar_lit(&mut self, s: Scalar) -> Value {
        match s {
            Scalar::Bool(v) => self.iconst(I8, i64::from(v)),
            Scalar::I32(v) => self.iconst(I32, i64::from(v)),
            Scalar::U32(v) => self.iconst(I32, i64::from(v)),
            Scalar::I64(v) => self.iconst(I64, v),
            Scalar::F32(v) => self.b.ins().f32const(v),
            Scalar::F64(v) => self.b.ins().f64const(v),
        }
    }

    /// `v` (of dtype `d`) as a number in the current mode, for integer constants of
    /// any dtype (`1`, all ones, …); floats take the value converted.
    fn num(&mut self, d: DType, v: i64) -> Value {
        let s = match d {
            DType::Bool => Scalar::Bool(v != 0),
            DType::I32 => Scalar::I32(v as i32),
            DType::U32 => Scalar::U32(v as u32),
            DType::I64 => Scalar::I64(v),
            DType::F32 => Scalar::F32(v as f32),
            DType::F64 => Scalar::F64(v as f64),
        };
        self.lit(s)
    }

    /// A raw-bits constant of the integer (lane) type of `ty`, splatted for vectors.
    fn bits_const(&mut self, ty: Type, v: i64) -> Value {
        let lane = self.iconst(ty.lane_type(), v);
        if ty.is_vector() {
            self.b.ins().splat(ty, lane)
        } else {
            lane
        }
    }

    /// A scalar of `d` broadcast to every lane (identity in scalar mode).
    pub fn splat(&mut self, d: DType, s: Value) -> Value {
        if self.w == 1 {
            return s;
        }
        let lane = self.lane_of(d, s);
        let ty = self.ty(d);
        self.b.ins().splat(ty, lane)
    }

    /// A scalar as a vector lane: bools become masks.
    fn lane_of(&mut self, d: DType, s: Value) -> Value {
        if d == DType::Bool {
            let lane = self.mask_ty().lane_type();
            let wide = self.b.ins().uextend(lane, s);
            self.b.ins().ineg(wide)
        } else {
            s
        }
    }

    /// Lane `l` of a vector of `d` as a scalar.
    pub fn extract(&mut self, d: DType, v: Value, l: usize) -> Value {
        let x = self.b.ins().extractlane(v, l as u8);
        if d == DType::Bool {
            self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0)
        } else {
            x
        }
    }

    /// `v` with lane `l` replaced by the scalar `s`.
    pub fn insert(&mut self, d: DType, v: Value, s: Value, l: usize) -> Value {
        let lane = self.lane_of(d, s);
        self.b.ins().insertlane(v, lane, l as u8)
    }

    /// A vector from one scalar per lane.
    fn build(&mut self, d: DType, lanes: &[Value]) -> Value {
        let mut v = self.splat(d, lanes[0]);
        for (l, &s) in lanes.iter().enumerate().skip(1) {
            v = self.insert(d, v, s, l);
        }
        v
    }

    /// Runs the scalar code of an operation once per lane.
    fn lanewise(
        &mut self,
        out: DType,
        args: &[(DType, Value)],
        f: &mut dyn FnMut(&mut Gen<'a>, &[Value]) -> Result<Value>,
    ) -> Result<Value> {
        let w = self.w;
        let mut lanes = Vec::with_capacity(w);
        for l in 0..w {
            self.w = w;
            let scalars: Vec<Value> = args.iter().map(|&(d, v)| self.extract(d, v, l)).collect();
            self.w = 1;
            let r = f(self, &scalars);
            self.w = w;
            lanes.push(r?);
        }
        Ok(self.build(out, &lanes))
    }

    fn shuffle_bytes(&mut self, x: Value, mask: [u8; 16]) -> Value {
        let ty = self.b.func.dfg.value_type(x);
        let xb = self.b.ins().bitcast(I8X16, LE, x);
        let imm = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(&mask[..]));
        let s = self.b.ins().shuffle(xb, xb, imm);
        self.b.ins().bitcast(ty, LE, s)
    }

    /// The low 32 bits of each lane of an `i64x2`, as the low lanes of an `i32x4`.
    fn narrow_64_to_32(&mut self, x: Value) -> Value {
        let v = self.b.ins().bitcast(I32X4, LE, x);
        self.shuffle_bytes(v, [0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11])
    }

    /// A comparison result over operands of dtype `d` as a bool of the current mode.
    fn cmp_to_bool(&mut self, d: DType, m: Value) -> Value {
        if self.w == 2 && !is_64(d) && d != DType::Bool {
            self.b.ins().swiden_low(m)
        } else {
            m
        }
    }

    /// A bool mask laid out as values of `d` (for `bitselect`).
    fn mask_for(&mut self, d: DType, m: Value) -> Value {
        let ty = self.ty(d);
        let m = if self.w == 2 && !is_64(d) && d != DType::Bool {
            self.narrow_64_to_32(m)
        } else {
            m
        };
        if self.b.func.dfg.value_type(m) == ty {
            m
        } else {
            self.b.ins().bitcast(ty, SAME, m)
        }
    }

    /// `c ? x : y` for a raw condition `c` (an `i8` in scalar mode, a lane mask shaped
    /// like `x` in vector mode).
    fn choose(&mut self, c: Value, x: Value, y: Value) -> Value {
        if self.w == 1 {
            self.b.ins().select(c, x, y)
        } else {
            let ty = self.b.func.dfg.value_type(x);
            let c = if self.b.func.dfg.value_type(c) == ty {
                c
            } else {
                self.b.ins().bitcast(ty, SAME, c)
            };
            self.b.ins().bitselect(c, x, y)
        }
    }

    /// Logical not of a raw condition (`i8` 0/1 or a lane mask).
    fn not_cond(&mut self, c: Value) -> Value {
        if self.w == 1 {
            self.b.ins().bxor_imm_s(c, 1)
        } else {
            self.b.ins().bnot(c)
        }
    }

    fn zero(&mut self, d: DType) -> Value {
        self.num(d, 0)
    }

    // ---- element operations -------------------------------------------------------

    pub fn unary(&mut self, op: UnaryOp, d: DType, x: Value) -> Result<Value> {
        let out = match op {
            UnaryOp::IsNan | UnaryOp::IsFinite => DType::Bool,
            _ => d,
        };
        if self.w > 1 {
            if let Some(v) = self.unary_vector(op, d, x)? {
                return Ok(v);
            }
            return self.lanewise(out, &[(d, x)], &mut |g, a| g.unary(op, d, a[0]));
        }
        if let Some(m) = math_op(op) {
            if !d.is_float() {
                return Err(rejects(op.name(), d));
            }
            return self.transcendental(m, d, &[x]);
        }
        self.unary_common(op, d, x)
    }

    /// The operations whose instruction sequence is the same for scalars and vectors.
    fn unary_common(&mut self, op: UnaryOp, d: DType, x: Value) -> Result<Value> {
        let ins_float = d.is_float();
        Ok(match op {
            UnaryOp::Neg if ins_float => self.b.ins().fneg(x),
            UnaryOp::Neg if d.is_int() => self.b.ins().ineg(x),
            UnaryOp::Abs if ins_float => self.b.ins().fabs(x),
            UnaryOp::Abs if d.is_signed_int() => self.b.ins().iabs(x),
            UnaryOp::Abs if d == DType::U32 => x,
            UnaryOp::Sign if ins_float => {
                // NaN and ±0 are their own sign; anything else is ±1 with x's sign.
                let nan = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                let zero = self.zero(d);
                let is_zero = self.b.ins().fcmp(FloatCC::Equal, x, zero);
                let keep = self.b.ins().bor(nan, is_zero);
                let ity = self.ty(if d == DType::F64 {
                    DType::I64
                } else {
                    DType::I32
                });
                let (sign_mask, one_bits) = if d == DType::F64 {
                    (i64::MIN, 1f64.to_bits() as i64)
                } else {
                    (i64::from(0x8000_0000u32), i64::from(1f32.to_bits()))
                };
                let bits = self.b.ins().bitcast(ity, SAME, x);
                let sm = self.bits_const(ity, sign_mask);
                let ob = self.bits_const(ity, one_bits);
                let s = self.b.ins().band(bits, sm);
                let s = self.b.ins().bor(s, ob);
                let ty = self.ty(d);
                let one = self.b.ins().bitcast(ty, SAME, s);
                self.choose(keep, x, one)
            }
            UnaryOp::Sign if d.is_signed_int() => {
                let zero = self.zero(d);
                let gt = self.b.ins().icmp(IntCC::SignedGreaterThan, x, zero);
                let lt = self.b.ins().icmp(IntCC::SignedLessThan, x, zero);
                if self.w == 1 {
                    let ty = self.ty(d);
                    let gt = self.b.ins().uextend(ty, gt);
                    let lt = self.b.ins().uextend(ty, lt);
                    self.b.ins().isub(gt, lt)
                } else {
                    // Masks are -1 for true: lt - gt is -1, 0 or 1.
                    self.b.ins().isub(lt, gt)
                }
            }
            UnaryOp::Sign if d == DType::U32 => {
                let zero = self.zero(d);
                let ne = self.b.ins().icmp(IntCC::NotEqual, x, zero);
                if self.w == 1 {
                    self.b.ins().uextend(I32, ne)
                } else {
                    self.b.ins().ineg(ne)
                }
            }
            UnaryOp::Sqrt if ins_float => self.b.ins().sqrt(x),
            // Two roundings, as the interpreter does it.
            UnaryOp::Rsqrt if ins_float => {
                let s = self.b.ins().sqrt(x);
                let one = self.num(d, 1);
                self.b.ins().fdiv(one, s)
            }
            UnaryOp::Floor if ins_float => self.b.ins().floor(x),
            UnaryOp::Ceil if ins_float => self.b.ins().ceil(x),
            UnaryOp::Round if ins_float => self.b.ins().nearest(x),
            UnaryOp::IsNan if ins_float => {
                let m = self.b.ins().fcmp(FloatCC::Unordered, x, x);
                self.cmp_to_bool(d, m)
            }
            UnaryOp::IsFinite if ins_float => {
                let a = self.b.ins().fabs(x);
                let inf = self.lit(if d == DType::F64 {
                    Scalar::F64(f64::INFINITY)
                } else {
                    Scalar::F32(f32::INFINITY)
                });
                let m = self.b.ins().fcmp(FloatCC::LessThan, a, inf);
                self.cmp_to_bool(d, m)
            }
            UnaryOp::Not if d == DType::Bool => self.not_cond(x),
            UnaryOp::Not if d.is_int() => self.b.ins().bnot(x),
            _ => return Err(rejects(op.name(), d)),
        })
    }

    fn unary_vector(&mut self, op: UnaryOp, d: DType, x: Value) -> Result<Option<Value>> {
        if let Some(m) = math_op(op) {
            if !d.is_float() {
                return Err(rejects(op.name(), d));
            }
            return Ok(self.inline_math(m, d, &[x]));
        }
        self.unary_common(op, d, x).map(Some)
    }

    /// `op(args)` inline when the math module covers it and inline math is on.
    fn inline_math(&mut self, op: MathOp, d: DType, args: &[Value]) -> Option<Value> {
        if self.math != Math::Inline {
            return None;
        }
        let ty = self.ty(d);
        math::emit(&mut self.b, op, args, ty)
    }

    /// A transcendental function in the current mode: inline, or libm per lane.
    fn transcendental(&mut self, op: MathOp, d: DType, args: &[Value]) -> Result<Value> {
        if let Some(v) = self.inline_math(op, d, args) {
            return Ok(v);
        }
        if self.w > 1 {
            let typed: Vec<(DType, Value)> = args.iter().map(|&a| (d, a)).collect();
            return self.lanewise(d, &typed, &mut |g, a| g.transcendental(op, d, a));
        }
        self.libcall(math_name(op), d, args)
    }

    fn libcall(&mut self, name: &str, d: DType, args: &[Value]) -> Result<Value> {
        let symbol = libcall::symbol(name, d == DType::F32)
            .ok_or_else(|| CpuError::internal(format!("no libcall for {name} on {d}")))?;
        let ty = scalar_ty(d);
        let params = vec![ty; args.len()];
        let fref = self.import(symbol, &params, Some(ty))?;
        let call = self.b.ins().call(fref, args);
        Ok(self.b.inst_results(call)[0])
    }

    /// Calls the registered function `symbol` (see `codegen::build`), which takes
    /// `params` and returns nothing.
    pub fn call_void(
        &mut self,
        symbol: &'static str,
        params: &[Type],
        args: &[Value],
    ) -> Result<()> {
        let fref = self.import(symbol, params, None)?;
        self.b.ins().call(fref, args);
        Ok(())
    }

    /// `symbol` declared in this function (once) with `params` and `result`.
    fn import(
        &mut self,
        symbol: &'static str,
        params: &[Type],
        result: Option<Type>,
    ) -> Result<FuncRef> {
        if let Some(&f) = self.calls.get(symbol) {
            return Ok(f);
        }
        let mut sig = self.module.make_signature();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns.extend(result.map(AbiParam::new));
        let id = self
            .module
            .declare_function(symbol, Linkage::Import, &sig)
            .map_err(|e| CpuError::internal(format!("declaring {symbol}: {e}")))?;
        let f = self.module.declare_func_in_func(id, self.b.func);
        self.calls.insert(symbol, f);
        Ok(f)
    }

    pub fn binary(&mut self, op: BinaryOp, d: DType, x: Value, y: Value) -> Result<Value> {
        if self.w > 1 {
            if let Some(v) = self.binary_vector(op, d, x, y)? {
                return Ok(v);
            }
            return self.lanewise(d, &[(d, x), (d, y)], &mut |g, a| {
                g.binary(op, d, a[0], a[1])
            });
        }
        if let Some(v) = self.binary_common(op, d, x, y)? {
            return Ok(v);
        }
        let ty = scalar_ty(d);
        Ok(match op {
            BinaryOp::Div if d.is_int() => self.int_div(d, x, y, false),
            BinaryOp::Rem if d.is_int() => self.int_div(d, x, y, true),
            BinaryOp::Rem if d.is_float() => self.libcall("fmod", d, &[x, y])?,
            BinaryOp::ShiftLeft | BinaryOp::ShiftRightLogical if d.is_int() => {
                // Amounts read as unsigned: negative or >= width shifts give 0.
                let width = self.iconst(ty, i64::from(ty.bits()));
                let ok = self.b.ins().icmp(IntCC::UnsignedLessThan, y, width);
                let shifted = if op == BinaryOp::ShiftLeft {
                    self.b.ins().ishl(x, y)
                } else {
                    self.b.ins().ushr(x, y)
                };
                let zero = self.iconst(ty, 0);
                self.b.ins().select(ok, shifted, zero)
            }
            BinaryOp::Pow | BinaryOp::Atan2 if d.is_float() => {
                let m = if op == BinaryOp::Pow {
                    MathOp::Pow
                } else {
                    MathOp::Atan2
                };
                self.transcendental(m, d, &[x, y])?
            }
            _ => return Err(rejects(op.name(), d)),
        })
    }

    /// The operations whose instruction sequence is the same for scalars and vectors.
    fn binary_common(
        &mut self,
        op: BinaryOp,
        d: DType,
        x: Value,
        y: Value,
    ) -> Result<Option<Value>> {
        let f = d.is_float();
        let i = d.is_int();
        Ok(Some(match op {
            BinaryOp::Add if f => self.b.ins().fadd(x, y),
            BinaryOp::Add if i => self.b.ins().iadd(x, y),
            BinaryOp::Sub if f => self.b.ins().fsub(x, y),
            BinaryOp::Sub if i => self.b.ins().isub(x, y),
            BinaryOp::Mul if f => self.b.ins().fmul(x, y),
            BinaryOp::Mul if i => self.b.ins().imul(x, y),
            BinaryOp::Div if f => self.b.ins().fdiv(x, y),
            BinaryOp::Max | BinaryOp::Min if f => self.float_max_min(op == BinaryOp::Max, x, y),
            BinaryOp::Max if d.is_signed_int() => self.b.ins().smax(x, y),
            BinaryOp::Min if d.is_signed_int() => self.b.ins().smin(x, y),
            BinaryOp::Max if d == DType::U32 => self.b.ins().umax(x, y),
            BinaryOp::Min if d == DType::U32 => self.b.ins().umin(x, y),
            // With false < true, max is `or` and min is `and`.
            BinaryOp::Max | BinaryOp::Or if !f => self.b.ins().bor(x, y),
            BinaryOp::Min | BinaryOp::And if !f => self.b.ins().band(x, y),
            BinaryOp::Xor if !f => self.b.ins().bxor(x, y),
            _ => return Ok(None),
        }))
    }

    fn binary_vector(
        &mut self,
        op: BinaryOp,
        d: DType,
        x: Value,
        y: Value,
    ) -> Result<Option<Value>> {
        if let Some(v) = self.binary_common(op, d, x, y)? {
            return Ok(Some(v));
        }
        Ok(match op {
            BinaryOp::Pow if d.is_float() => self.inline_math(MathOp::Pow, d, &[x, y]),
            BinaryOp::Atan2 if d.is_float() => self.inline_math(MathOp::Atan2, d, &[x, y]),
            _ => None,
        })
    }

    /// `max`/`min` of floats whose first operand is a constant neither NaN nor zero:
    /// then a NaN `b` and ties (bitwise equal) need no fixing, and the first step of
    /// [`Gen::float_max_min`] (one `maxpd`/`minpd`) is the whole result. `uniform`
    /// ends with `max(lo, x)`.
    pub fn float_max_min_by_constant(&mut self, max: bool, a: Value, b: Value) -> Value {
        let (lo, hi) = if max { (b, a) } else { (a, b) };
        let strictly = self.b.ins().fcmp(FloatCC::LessThan, lo, hi);
        self.choose(strictly, a, b)
    }

    /// IEEE 754-2019 maximum/minimum as the interpreter's `max_nan`/`min_nan`: the
    /// first operand if it is NaN, else the second if it is NaN, else the larger
    /// (smaller) with `-0 < +0`. Selecting rather than computing keeps NaN payloads.
    fn float_max_min(&mut self, max: bool, a: Value, b: Value) -> Value {
        // `a > b ? a : b` (or `<`), written so Cranelift emits one maxsd/maxpd
        // (minsd/minpd); it already gives b when b is NaN.
        let (lo, hi) = if max { (b, a) } else { (a, b) };
        let strictly = self.b.ins().fcmp(FloatCC::LessThan, lo, hi);
        let base = self.choose(strictly, a, b);
        // Equal values are bitwise equal but for ±0, where and-ing the bits keeps +0
        // (max) and or-ing them keeps -0 (min).
        let equal = self.b.ins().fcmp(FloatCC::Equal, a, b);
        let tie = if max {
            self.b.ins().band(a, b)
        } else {
            self.b.ins().bor(a, b)
        };
        let r = self.choose(equal, tie, base);
        let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
        self.choose(a_nan, a, r)
    }

    /// XLA's integer division and remainder, which never trap: `x / 0` is all ones,
    /// `x % 0` is `x`, `MIN / -1` wraps to `MIN` and `MIN % -1` is 0.
    fn int_div(&mut self, d: DType, x: Value, y: Value, rem: bool) -> Value {
        let ty = scalar_ty(d);
        let zero = self.iconst(ty, 0);
        let one = self.iconst(ty, 1);
        let by_zero = self.b.ins().icmp(IntCC::Equal, y, zero);
        if d.is_signed_int() {
            let m1 = self.iconst(ty, -1);
            let by_m1 = self.b.ins().icmp(IntCC::Equal, y, m1);
            let special = self.b.ins().bor(by_zero, by_m1);
            let safe = self.b.ins().select(special, one, y);
            if rem {
                let r = self.b.ins().srem(x, safe);
                let r = self.b.ins().select(by_m1, zero, r);
                self.b.ins().select(by_zero, x, r)
            } else {
                let q = self.b.ins().sdiv(x, safe);
                let neg = self.b.ins().ineg(x);
                let q = self.b.ins().select(by_m1, neg, q);
                self.b.ins().select(by_zero, m1, q)
            }
        } else {
            let safe = self.b.ins().select(by_zero, one, y);
            if rem {
                let r = self.b.ins().urem(x, safe);
                self.b.ins().select(by_zero, x, r)
            } else {
                let q = self.b.ins().udiv(x, safe);
                let all = self.iconst(ty, -1);
                self.b.ins().select(by_zero, all, q)
            }
        }
    }

    pub fn compare(&mut self, op: CmpOp, d: DType, x: Value, y: Value) -> Result<Value> {
        let m = if d.is_float() {
            let cc = match op {
                CmpOp::Eq => FloatCC::Equal,
                // Unordered included: NaN != anything.
                CmpOp::Ne => FloatCC::NotEqual,
                CmpOp::Lt => FloatCC::LessThan,
                CmpOp::Le => FloatCC::LessThanOrEqual,
                CmpOp::Gt => FloatCC::GreaterThan,
                CmpOp::Ge => FloatCC::GreaterThanOrEqual,
            };
            self.b.ins().fcmp(cc, x, y)
        } else {
            // Bools compare as unsigned (false < true, and the vector mask -1 is the
            // unsigned maximum).
            let signed = d.is_signed_int();
            let cc = match (op, signed) {
                (CmpOp::Eq, _) => IntCC::Equal,
                (CmpOp::Ne, _) => IntCC::NotEqual,
                (CmpOp::Lt, true) => IntCC::SignedLessThan,
                (CmpOp::Le, true) => IntCC::SignedLessThanOrEqual,
                (CmpOp::Gt, true) => IntCC::SignedGreaterThan,
                (CmpOp::Ge, true) => IntCC::SignedGreaterThanOrEqual,
                (CmpOp::Lt, false) => IntCC::UnsignedLessThan,
                (CmpOp::Le, false) => IntCC::UnsignedLessThanOrEqual,
                (CmpOp::Gt, false) => IntCC::UnsignedGreaterThan,
                (CmpOp::Ge, false) => IntCC::UnsignedGreaterThanOrEqual,
            };
            self.b.ins().icmp(cc, x, y)
        };
        Ok(self.cmp_to_bool(d, m))
    }

    pub fn select(&mut self, d: DType, p: Value, t: Value, f: Value) -> Value {
        if self.w == 1 {
            return self.b.ins().select(p, t, f);
        }
        let m = self.mask_for(d, p);
        self.b.ins().bitselect(m, t, f)
    }

    /// `x ** n` multiplication for multiplication as the interpreter (and JAX's
    /// lowering) does it: binary powering from the low bit, `1 / x^|n|` for `n < 0`.
    pub fn int_pow(&mut self, d: DType, n: i64, x: Value) -> Result<Value> {
        if d == DType::Bool {
            return Err(rejects("integer_pow", d));
        }
        let mut m = n.unsigned_abs();
        let mut base = x;
        let mut acc: Option<Value> = None;
        while m > 0 {
            if m & 1 == 1 {
                acc = Some(match acc {
                    None => base,
                    Some(a) => self.binary(BinaryOp::Mul, d, a, base)?,
                });
            }
            m >>= 1;
            if m > 0 {
                base = self.binary(BinaryOp::Mul, d, base, base)?;
            }
        }
        let acc = match acc {
            Some(a) => a,
            None => self.num(d, 1),
        };
        if n < 0 {
            let one = self.num(d, 1);
            self.binary(BinaryOp::Div, d, one, acc)
        } else {
            Ok(acc)
        }
    }

    /// NumPy `astype` as `Scalar::cast` defines it: floats to integers truncate and
    /// saturate (NaN to 0; to u32 through i64, then wrapping), integers narrow by
    /// wrapping, anything nonzero (NaN included) is true.
    pub fn convert(&mut self, from: DType, to: DType, x: Value) -> Result<Value> {
        if from == to || (from.is_int() && to.is_int() && scalar_ty(from) == scalar_ty(to)) {
            return Ok(x);
        }
        if self.w > 1 {
            if let Some(v) = self.convert_vector(from, to, x) {
                return Ok(v);
            }
            return self.lanewise(to, &[(from, x)], &mut |g, a| g.convert(from, to, a[0]));
        }
        let ty = scalar_ty(to);
        Ok(match (from, to) {
            (_, DType::Bool) if from.is_float() => {
                let zero = self.zero(from);
                self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
            }
            (_, DType::Bool) => self.b.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
            (DType::Bool, _) if to.is_int() => self.b.ins().uextend(ty, x),
            (DType::Bool, _) => {
                let one = self.num(to, 1);
                let zero = self.num(to, 0);
                self.b.ins().select(x, one, zero)
            }
            (DType::I32, DType::I64) => self.b.ins().sextend(I64, x),
            (DType::U32, DType::I64) => self.b.ins().uextend(I64, x),
            (DType::I64, DType::I32 | DType::U32) => self.b.ins().ireduce(I32, x),
            (DType::F32 | DType::F64, DType::I32 | DType::I64) => {
                self.b.ins().fcvt_to_sint_sat(ty, x)
            }
            (DType::F32 | DType::F64, DType::U32) => {
                let wide = self.b.ins().fcvt_to_sint_sat(I64, x);
                self.b.ins().ireduce(I32, wide)
            }
            (DType::I32 | DType::I64, DType::F32 | DType::F64) => {
                self.b.ins().fcvt_from_sint(ty, x)
            }
            (DType::U32, DType::F32 | DType::F64) => self.b.ins().fcvt_from_uint(ty, x),
            (DType::F32, DType::F64) => self.b.ins().fpromote(F64, x),
            (DType::F64, DType::F32) => self.b.ins().fdemote(F32, x),
            _ => {
                return Err(CpuError::internal(format!(
                    "no conversion from {from} to {to}"
                )))
            }
        })
    }

    fn convert_vector(&mut self, from: DType, to: DType, x: Value) -> Option<Value> {
        Some(match (from, to) {
            (_, DType::Bool) if from.is_float() => {
                let zero = self.zero(from);
                let m = self.b.ins().fcmp(FloatCC::NotEqual, x, zero);
                self.cmp_to_bool(from, m)
            }
            (_, DType::Bool) => {
                let zero = self.zero(from);
                let m = self.b.ins().icmp(IntCC::NotEqual, x, zero);
                self.cmp_to_bool(from, m)
            }
            (DType::Bool, _) => {
                // The mask's lanes are all ones or zero: and-ing keeps one or makes 0.
                let one = self.num(to, 1);
                let m = self.mask_for(to, x);
                self.b.ins().band(m, one)
            }
            (DType::I32, DType::I64) => self.b.ins().swiden_low(x),
            (DType::U32, DType::I64) => self.b.ins().uwiden_low(x),
            (DType::I64, DType::I32 | DType::U32) => self.narrow_64_to_32(x),
            (DType::F32, DType::I32) => self.b.ins().fcvt_to_sint_sat(I32X4, x),
            (DType::I32, DType::F32) => self.b.ins().fcvt_from_sint(F32X4, x),
            (DType::U32, DType::F32) => self.b.ins().fcvt_from_uint(F32X4, x),
            (DType::I32, DType::F64) => {
                let wide = self.b.ins().swiden_low(x);
                self.b.ins().fcvt_from_sint(F64X2, wide)
            }
            (DType::U32, DType::F64) => {
                let wide = self.b.ins().uwiden_low(x);
                self.b.ins().fcvt_from_uint(F64X2, wide)
            }
            (DType::I64, DType::F64) => self.i64x2_to_f64x2(x),
            (DType::F32, DType::F64) => self.b.ins().fvpromote_low(x),
            (DType::F64, DType::F32) => self.b.ins().fvdemote(x),
            _ => return None,
        })
    }

    /// `i64x2 → f64x2`, correctly rounded like `cvtsi2sd`, in vector instructions only:
    /// x86 has no packed 64-bit integer conversion below AVX-512, and Cranelift's
    /// fallback moves each lane through a general register (the whole cost of an
    /// iota-fed kernel). With `u = x + 2^63` split into 32-bit halves, `2^84 + hi·2^32`
    /// and `2^52 + lo` are exact doubles built by or-ing the halves into their mantissas;
    /// subtracting `2^84 + 2^63 + 2^52` from the first is exact (a multiple of 2^32
    /// below 2^64 in magnitude), so the final add is the only rounding.
    fn i64x2_to_f64x2(&mut self, x: Value) -> Value {
        let sign = self.bits_const(I64X2, i64::MIN);
        let u = self.b.ins().bxor(x, sign);
        let hi = self.shift_right_const(u, 32);
        let hi_exp = self.bits_const(I64X2, 0x4530_0000_0000_0000);
        let hi = self.b.ins().bor(hi, hi_exp);
        let low_mask = self.bits_const(I64X2, 0xFFFF_FFFF);
        let lo = self.b.ins().band(u, low_mask);
        let lo_exp = self.bits_const(I64X2, 0x4330_0000_0000_0000);
        let lo = self.b.ins().bor(lo, lo_exp);
        let hi = self.b.ins().bitcast(F64X2, LE, hi);
        let lo = self.b.ins().bitcast(F64X2, LE, lo);
        // 2^84 + 2^63 + 2^52.
        let offset = self.b.ins().f64const(f64::from_bits(0x4530_0000_8010_0000));
        let offset = self.b.ins().splat(F64X2, offset);
        let hi = self.b.ins().fsub(hi, offset);
        self.b.ins().fadd(hi, lo)
    }

    /// The vector of float dtype `d` holding `j, j + 1, …` in all its lanes (4 for f32
    /// in 2-lane mode too), where `d` holds these integers exactly: one conversion,
    /// a splat and an add, all exact.
    pub fn float_ramp(&mut self, d: DType, j: Value) -> Result<Value> {
        let ty = self.ty(d);
        let mut bytes = Vec::with_capacity(16);
        for l in 0..ty.lane_count() {
            match d {
                DType::F64 => bytes.extend_from_slice(&f64::from(l).to_le_bytes()),
                DType::F32 => bytes.extend_from_slice(&(l as f32).to_le_bytes()),
                DType::Bool | DType::I32 | DType::U32 | DType::I64 => {
                    return Err(rejects("an index ramp", d))
                }
            }
        }
        let first = self.b.ins().fcvt_from_sint(scalar_ty(d), j);
        let base = self.splat(d, first);
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let lanes = self.b.ins().vconst(ty, c);
        Ok(self.b.ins().fadd(base, lanes))
    }

    /// `i64x2 → f64x2` for lanes in `0..=2^52`: or-ing such an integer into the
    /// mantissa of 2^52 gives exactly `2^52 + x`.
    pub fn small_index_to_f64(&mut self, x: Value) -> Value {
        let exp = self.bits_const(I64X2, 0x4330_0000_0000_0000);
        let biased = self.b.ins().bor(x, exp);
        let biased = self.b.ins().bitcast(F64X2, LE, biased);
        let two52 = self.b.ins().f64const(4_503_599_627_370_496.0);
        let two52 = self.b.ins().splat(F64X2, two52);
        self.b.ins().fsub(biased, two52)
    }

    fn shift_left_const(&mut self, x: Value, r: i64) -> Value {
        let amt = self.iconst(I32, r);
        self.b.ins().ishl(x, amt)
    }

    fn shift_right_const(&mut self, x: Value, r: i64) -> Value {
        let amt = self.iconst(I32, r);
        self.b.ins().ushr(x, amt)
    }

    /// Both words of Threefry-2x32 (20 rounds) in JAX's round and key-injection order,
    /// on u32 operands; a high counter word of `None` is 0 (as `uniform`'s). Vector
    /// rotations are two shifts and an or, but for rotations by whole bytes (16 and 24
    /// bits), which are one byte shuffle.
    pub fn threefry(&mut self, key: CipherKey, counter: [Option<Value>; 2]) -> [Value; 2] {
        // The key words, and schedule entry `i` (see `CipherKey::Schedule`): computed
        // here from words, built once per row otherwise.
        let words = match key {
            CipherKey::Words([k0, k1]) => {
                let parity = self.num(DType::U32, i64::from(KEY_PARITY));
                let k01 = self.b.ins().bxor(k0, k1);
                [k0, k1, self.b.ins().bxor(k01, parity)]
            }
            CipherKey::Schedule(entries) => [entries[0], entries[1], entries[2]],
        };
        let entry = |g: &mut Self, i: usize| match key {
            CipherKey::Schedule(entries) => entries[i],
            CipherKey::Words(_) if i < 3 => words[i],
            CipherKey::Words(_) => {
                let group = i - 3;
                let injection = g.num(DType::U32, group as i64 + 1);
                g.b.ins().iadd(words[(group + 2) % 3], injection)
            }
        };
        let mut x0 = match counter[0] {
            Some(x0) => self.b.ins().iadd(x0, words[0]),
            None => words[0],
        };
        let mut x1 = match counter[1] {
            Some(x1) => self.b.ins().iadd(x1, words[1]),
            None => words[1],
        };
        for group in 0..5usize {
            for &r in &ROTATIONS[group % 2] {
                x0 = self.b.ins().iadd(x0, x1);
                let rot = self.rotl32(x1, i64::from(r));
                x1 = self.b.ins().bxor(rot, x0);
            }
            x0 = self.b.ins().iadd(x0, words[(group + 1) % 3]);
            let k = entry(self, 3 + group);
            x1 = self.b.ins().iadd(x1, k);
        }
        [x0, x1]
    }

    /// The key schedule of scalar key words `k0`, `k1` as 4-lane vectors (see
    /// `CipherKey::Schedule`), pinned (see [`Gen::pin`]).
    pub fn key_schedule(&mut self, k0: Value, k1: Value) -> [Value; SCHEDULE_ENTRIES] {
        let parity = self.iconst(I32, i64::from(KEY_PARITY));
        let k01 = self.b.ins().bxor(k0, k1);
        let words = [k0, k1, self.b.ins().bxor(k01, parity)];
        let entries: Vec<Value> = (0..SCHEDULE_ENTRIES)
            .map(|i| {
                let word = if i < 3 {
                    words[i]
                } else {
                    let group = i - 3;
                    self.b
                        .ins()
                        .iadd_imm_s(words[(group + 2) % 3], group as i64 + 1)
                };
                self.b.ins().splat(I32X4, word)
            })
            .collect();
        let pinned = self.pin(&entries);
        std::array::from_fn(|i| pinned[i])
    }

    /// `values` stored to a fresh stack slot and loaded back. Cranelift places a
    /// pure value (a splat, a constant vector, arithmetic on invariants) at its uses,
    /// inside loops too, instead of once before them. The stores are uses that stay
    /// here, so the values are computed here, once, and a loop after this reads the
    /// loads (or, where Cranelift forwards a store to its load, the value itself,
    /// already computed).
    pub fn pin(&mut self, values: &[Value]) -> Vec<Value> {
        if values.is_empty() {
            return Vec::new();
        }
        let bytes = (values.len() * PIN_BYTES) as u32;
        let data = StackSlotData::new(StackSlotKind::ExplicitSlot, bytes, 4);
        let slot = self.b.create_sized_stack_slot(data);
        let at = |i: usize| (i * PIN_BYTES) as i32;
        for (i, &v) in values.iter().enumerate() {
            self.b.ins().stack_store(I64, v, slot, at(i));
        }
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ty = self.b.func.dfg.value_type(v);
                self.b.ins().stack_load(I64, ty, slot, at(i))
            })
            .collect()
    }

    /// `x` (u32 lanes) rotated left by `r` bits, `0 < r < 32`.
    fn rotl32(&mut self, x: Value, r: i64) -> Value {
        if self.w == 1 {
            return self.b.ins().rotl_imm_s(x, r);
        }
        if r % 8 == 0 {
            // Byte `i` of each little-endian lane comes from byte `i - r / 8` (mod 4).
            let k = (r / 8) as usize;
            let mut mask = [0u8; 16];
            for (at, m) in mask.iter_mut().enumerate() {
                let (lane, byte) = (at / 4, at % 4);
                *m = (lane * 4 + (byte + 4 - k) % 4) as u8;
            }
            return self.shuffle_bytes(x, mask);
        }
        let hi = self.shift_left_const(x, r);
        let lo = self.shift_right_const(x, 32 - r);
        self.b.ins().bor(hi, lo)
    }

    /// Random bits to a float in `[0, 1)`: the top mantissa bits under the exponent of
    /// 1, minus one (exact).
    pub fn bits_to_unit(&mut self, to: DType, args: &[Value]) -> Result<Value> {
        match (to, args) {
            (DType::F32, &[bits]) => {
                let ity = self.ty(DType::U32);
                let m = self.shift_right_const(bits, 9);
                let e = self.bits_const(ity, 0x3f80_0000);
                let r = self.b.ins().bor(m, e);
                let fty = self.ty(DType::F32);
                let f = self.b.ins().bitcast(fty, SAME, r);
                let one = self.num(DType::F32, 1);
                Ok(self.b.ins().fsub(f, one))
            }
            (DType::F64, &[hi, lo]) => {
                let (h, l) = if self.w == 1 {
                    (self.b.ins().uextend(I64, hi), self.b.ins().uextend(I64, lo))
                } else {
                    (self.b.ins().uwiden_low(hi), self.b.ins().uwiden_low(lo))
                };
                let h = self.shift_left_const(h, 32);
                let bits = self.b.ins().bor(h, l);
                let m = self.shift_right_const(bits, 12);
                let ity = self.ty(DType::I64);
                let e = self.bits_const(ity, 0x3ff0_0000_0000_0000);
                let r = self.b.ins().bor(m, e);
                let fty = self.ty(DType::F64);
                let f = self.b.ins().bitcast(fty, SAME, r);
                let one = self.num(DType::F64, 1);
                Ok(self.b.ins().fsub(f, one))
            }
            _ => Err(CpuError::internal(format!(
                "bits_to_unit to {to} with {} operands",
                args.len()
            ))),
        }
    }

    /// The iteration index vector `[j, j + 1]` (indices are i64, so vector mode has 2
    /// lanes whenever they occur).
    pub fn index_vector(&mut self, j: Value) -> Value {
        let base = self.b.ins().splat(I64X2, j);
        let mut bytes = Vec::with_capacity(16);
        bytes.extend_from_slice(&0i64.to_le_bytes());
        bytes.extend_from_slice(&1i64.to_le_bytes());
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let steps = self.b.ins().vconst(I64X2, c);
        self.b.ins().iadd(base, steps)
    }

    /// `bits_to_unit` to f64 of four elements from their `hi` and `lo` words as 4-lane
    /// u32 vectors, as two 2-lane f64 vectors: the 64-bit pattern `hi:lo >> 12 |
    /// exponent` built from 32-bit halves (`hi >> 12 | 0x3ff0_0000` above, `hi << 20 |
    /// lo >> 12` below) and interleaved, minus one. The same bits as `bits_to_unit`
    /// per 2-lane half, in about half the instructions.
    pub fn unit_f64_quad(&mut self, hi: Value, lo: Value) -> [Value; 2] {
        let top = self.shift_right_const(hi, 12);
        let exponent = self.bits_const(I32X4, 0x3ff0_0000);
        let high = self.b.ins().bor(top, exponent);
        let up = self.shift_left_const(hi, 20);
        let down = self.shift_right_const(lo, 12);
        let low = self.b.ins().bor(up, down);
        let lb = self.b.ins().bitcast(I8X16, LE, low);
        let hb = self.b.ins().bitcast(I8X16, LE, high);
        let one = self.b.ins().f64const(1.0);
        let one = self.b.ins().splat(F64X2, one);
        // Little-endian u64 lanes: the low word first (`punpckldq` / `punpckhdq`).
        let masks: [[u8; 16]; 2] = [
            [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23],
            [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31],
        ];
        masks.map(|mask| {
            let imm = self
                .b
                .func
                .dfg
                .immediates
                .push(ConstantData::from(&mask[..]));
            let bits = self.b.ins().shuffle(lb, hb, imm);
            let f = self.b.ins().bitcast(F64X2, LE, bits);
            self.b.ins().fsub(f, one)
        })
    }

    /// The iteration index vector `[j, j + 1, j + 2, j + 3]` modulo 2^32, as u32 lanes
    /// (in 2-lane mode the upper lanes are don't-care as for every 32-bit value).
    pub fn index_u32_vector(&mut self, j: Value) -> Value {
        let low = self.b.ins().ireduce(I32, j);
        let base = self.b.ins().splat(I32X4, low);
        let mut bytes = Vec::with_capacity(16);
        for l in 0..4u32 {
            bytes.extend_from_slice(&l.to_le_bytes());
        }
        let c = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        let steps = self.b.ins().vconst(I32X4, c);
        self.b.ins().iadd(base, steps)
    }

    /// An i64 index modulo 2^32 as a scalar u32.
    pub fn index_u32(&mut self, i: Value) -> Value {
        self.b.ins().ireduce(I32, i)
    }

    /// Lanes 2 and 3 of a 4-lane 32-bit vector moved to lanes 0 and 1: the second
    /// half of four elements in the layout of 2-lane mode.
    pub fn high_pair(&mut self, v: Value) -> Value {
        self.shuffle_bytes(
            v,
            [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
        )
    }

    /// Lanes 0 and 1 of `a` then lanes 0 and 1 of `b` (32-bit vectors in 2-lane mode
    /// layout) as one 4-lane vector.
    pub fn join_pairs(&mut self, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        let ab = self.b.ins().bitcast(I8X16, LE, a);
        let bb = self.b.ins().bitcast(I8X16, LE, b);
        let mask = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
        let imm = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(&mask[..]));
        let s = self.b.ins().shuffle(ab, bb, imm);
        self.b.ins().bitcast(ty, LE, s)
    }

    /// `addr + k` as an address and a small immediate offset.
    fn at(&mut self, addr: Value, k: i64) -> (Value, i32) {
        match i32::try_from(k) {
            Ok(off) => (addr, off),
            Err(_) => (self.b.ins().iadd_imm_s(addr, k), 0),
        }
    }

    /// One element of `d` at `addr`.
    pub fn load_scalar(&mut self, d: DType, addr: Value) -> Value {
        self.b.ins().load(scalar_ty(d), MEM, addr, 0)
    }

    /// `w` elements of `d` starting at `addr + disp`, `stride` bytes apart.
    pub fn load(&mut self, d: DType, addr: Value, disp: i32, stride: i64) -> Value {
        if self.w == 1 {
            return self.b.ins().load(scalar_ty(d), MEM, addr, disp);
        }
        let bytes = self.w as i64 * size(d);
        if d == DType::Bool && stride == 1 {
            let start = self.b.ins().iadd_imm_s(addr, i64::from(disp));
            if let Some(v) = self.load_bools_contiguous(start) {
                return v;
            }
        }
        if d != DType::Bool && stride == size(d) {
            let ty = self.ty(d);
            if bytes == 16 {
                return self.b.ins().load(ty, MEM, addr, disp);
            }
            if bytes == 8 {
                let half = self.b.ins().load(I64, MEM, addr, disp);
                let v = self.b.ins().scalar_to_vector(I64X2, half);
                return self.b.ins().bitcast(ty, LE, v);
            }
        }
        let lanes: Vec<Value> = (0..self.w as i64)
            .map(|l| {
                let (a, off) = self.at(addr, i64::from(disp) + l * stride);
                self.b.ins().load(scalar_ty(d), MEM, a, off)
            })
            .collect();
        self.build(d, &lanes)
    }

    /// [`Gen::load`] of the elements from index `j` of a run `stride` bytes apart that
    /// starts `extra` bytes past `base`. `j` is often a loop position plus a constant
    /// (an unrolled step): the constant goes into the load's displacement, so the
    /// steps share one address instead of computing one each.
    pub fn load_at(&mut self, d: DType, base: Value, j: Value, stride: i64, extra: i64) -> Value {
        let (pos, steps) = self.split_constant_add(j);
        let disp = steps.saturating_mul(stride).saturating_add(extra);
        let (pos, disp, extra) = match i32::try_from(disp) {
            Ok(disp) => (pos, disp, 0),
            Err(_) => (j, 0, extra),
        };
        let off = self.b.ins().imul_imm_s(pos, stride);
        let at = self.b.ins().iadd(base, off);
        let addr = if extra == 0 {
            at
        } else {
            self.b.ins().iadd_imm_s(at, extra)
        };
        self.load(d, addr, disp, stride)
    }

    /// `(x, c)` when `v` is `x + c` for a constant `c` (as `iadd_imm_s` builds it), else
    /// `(v, 0)`.
    fn split_constant_add(&self, v: Value) -> (Value, i64) {
        let dfg = &self.b.func.dfg;
        let constant = |c: Value| match dfg.value_def(c) {
            ValueDef::Result(inst, 0) => match dfg.insts[inst] {
                InstructionData::UnaryImm {
                    opcode: Opcode::Iconst,
                    imm,
                } => Some(imm.bits()),
                _ => None,
            },
            _ => None,
        };
        if let ValueDef::Result(inst, 0) = dfg.value_def(v) {
            if let InstructionData::Binary {
                opcode: Opcode::Iadd,
                args: [x, y],
            } = dfg.insts[inst]
            {
                if let Some(c) = constant(y) {
                    return (x, c);
                }
                if let Some(c) = constant(x) {
                    return (y, c);
                }
            }
        }
        (v, 0)
    }

    /// Stores `w` consecutive elements of `d` at `addr`.
    pub fn store(&mut self, d: DType, addr: Value, v: Value) {
        if self.w == 1 {
            self.b.ins().store(MEM, v, addr, 0);
            return;
        }
        let bytes = self.w as i64 * size(d);
        if d != DType::Bool && bytes == 16 {
            self.b.ins().store(MEM, v, addr, 0);
        } else if d != DType::Bool && bytes == 8 {
            let pair = self.b.ins().bitcast(I64X2, LE, v);
            let half = self.b.ins().extractlane(pair, 0);
            self.b.ins().store(MEM, half, addr, 0);
        } else if d == DType::Bool && self.w == 4 {
            // Masks to bytes 0/1: narrow i32 → i16 → i8 lanes (saturating keeps 0 and
            // -1), keep bit 0, store the low 4 bytes.
            let h = self.b.ins().snarrow(v, v);
            let bytes8 = self.b.ins().snarrow(h, h);
            let one = self.bits_const(I8X16, 1);
            let b01 = self.b.ins().band(bytes8, one);
            let word = self.b.ins().bitcast(I32X4, LE, b01);
            let low = self.b.ins().extractlane(word, 0);
            self.b.ins().store(MEM, low, addr, 0);
        } else {
            for l in 0..self.w {
                let s = self.extract(d, v, l);
                self.b.ins().store(MEM, s, addr, l as i32);
            }
        }
    }

    /// A 4-lane bool vector from 4 consecutive bytes (0/1); `None` in other modes.
    fn load_bools_contiguous(&mut self, addr: Value) -> Option<Value> {
        if self.w != 4 {
            return None;
        }
        // Four bytes into the low lanes of an i8x16, widened to i16 then i32 lanes;
        // 0/1 negated is a 0/-1 mask.
        let word = self.b.ins().load(I32, MEM, addr, 0);
        let v = self.b.ins().scalar_to_vector(I32X4, word);
        let bytes = self.b.ins().bitcast(I8X16, LE, v);
        let h = self.b.ins().uwiden_low(bytes);
        debug_assert_eq!(self.b.func.dfg.value_type(h), I16X8);
        let w = self.b.ins().uwiden_low(h);
        Some(self.b.ins().ineg(w))
    }
}
