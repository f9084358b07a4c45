//! A minimal JIT harness: compiles `out[i] = op(x[i] (, y[i]))` as a loop over
//! `lanes`-wide chunks with `nabla_cpu::math::emit_with` in the body, and runs it.
//! The only `unsafe` of the math tests lives here.

use cranelift_codegen::ir::{self, types, AbiParam, InstBuilder, Type, UserFuncName};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};
use nabla_cpu::math::{emit_with, Features, MathOp};

type Entry = extern "C" fn(i64, *const u8, *const u8, *mut u8);

pub struct Compiled {
    // Owns the code `entry` points into.
    _module: JITModule,
    entry: Entry,
    lanes: usize,
    elem: usize,
    arity: usize,
}

/// Compiles the loop for `op` on operands of type `ty` (`F64`, `F32`, `F64X2`,
/// `F32X4`).
pub fn compile(op: MathOp, ty: Type, features: Features) -> Compiled {
    let mut flags = settings::builder();
    flags.set("opt_level", "speed").unwrap();
    flags.set("use_colocated_libcalls", "false").unwrap();
    flags.set("is_pic", "false").unwrap();
    let isa = cranelift_native::builder()
        .unwrap()
        .finish(settings::Flags::new(flags))
        .unwrap();
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));
    let ptr = module.target_config().pointer_type();
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(types::I64));
    for _ in 0..3 {
        sig.params.push(AbiParam::new(ptr));
    }
    let id = module
        .declare_function("kernel", Linkage::Local, &sig)
        .unwrap();
    let mut ctx = Context::new();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    let lanes = ty.lane_count() as i64;
    let elem = ty.lane_type().bytes() as i64;
    {
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let entry = b.create_block();
        let head = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.append_block_param(head, types::I64);
        b.switch_to_block(entry);
        let p = b.block_params(entry).to_vec();
        let (n, px, py, pout) = (p[0], p[1], p[2], p[3]);
        let zero = b.ins().iconst(types::I64, 0);
        b.ins().jump(head, &[zero.into()]);
        b.switch_to_block(head);
        let i = b.block_params(head)[0];
        let more = b.ins().icmp(ir::condcodes::IntCC::SignedLessThan, i, n);
        b.ins().brif(more, body, &[], exit, &[]);
        b.switch_to_block(body);
        let off = b.ins().imul_imm_s(i, elem);
        let flags = ir::MemFlagsData::new().with_notrap();
        let ax = b.ins().iadd(px, off);
        let x = b.ins().load(ty, flags, ax, 0);
        let mut args = vec![x];
        if op.arity() == 2 {
            let ay = b.ins().iadd(py, off);
            args.push(b.ins().load(ty, flags, ay, 0));
        }
        let r = emit_with(&mut b, op, &args, ty, features).expect("supported type");
        let ao = b.ins().iadd(pout, off);
        b.ins().store(flags, r, ao, 0);
        let next = b.ins().iadd_imm_s(i, lanes);
        b.ins().jump(head, &[next.into()]);
        b.switch_to_block(exit);
        b.ins().return_(&[]);
        b.seal_all_blocks();
        b.finalize(module.target_config());
    }
    if let Err(e) = module.define_function(id, &mut ctx) {
        panic!("{op:?} {ty}: {e:?}");
    }
    module.clear_context(&mut ctx);
    module.finalize_definitions().unwrap();
    let code = module.get_finalized_function(id);
    // SAFETY: `code` is the finalized function just defined with exactly this
    // signature (an i64 and three pointers, default call convention, no results),
    // and `_module` keeps the code alive as long as `entry` can be called.
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(code) };
    Compiled {
        _module: module,
        entry,
        lanes: lanes as usize,
        elem: elem as usize,
        arity: op.arity(),
    }
}

impl Compiled {
    /// The kernel reads `n` elements from `x` and `y` and writes `n` to `out`; the
    /// safe wrappers below guarantee those lengths.
    fn call(&self, n: usize, x: *const u8, y: *const u8, out: *mut u8) {
        (self.entry)(n as i64, x, y, out)
    }

    /// Applies the kernel to f64 operands (`y` for binary ops).
    pub fn run_f64(&self, x: &[f64], y: Option<&[f64]>) -> Vec<f64> {
        assert_eq!(self.elem, 8);
        let (xs, ys, n) = self.pad(x, y, 0.0);
        let mut out = vec![0.0f64; n];
        self.call(
            n,
            xs.as_ptr().cast(),
            ys.as_ptr().cast(),
            out.as_mut_ptr().cast(),
        );
        out.truncate(x.len());
        out
    }

    pub fn run_f32(&self, x: &[f32], y: Option<&[f32]>) -> Vec<f32> {
        assert_eq!(self.elem, 4);
        let (xs, ys, n) = self.pad(x, y, 0.0);
        let mut out = vec![0.0f32; n];
        self.call(
            n,
            xs.as_ptr().cast(),
            ys.as_ptr().cast(),
            out.as_mut_ptr().cast(),
        );
        out.truncate(x.len());
        out
    }

    /// Copies the operands, padded to a multiple of the lane count; a unary op
    /// reads `y` too, so it gets a copy of `x`.
    fn pad<T: Copy>(&self, x: &[T], y: Option<&[T]>, fill: T) -> (Vec<T>, Vec<T>, usize) {
        assert_eq!(y.is_some(), self.arity == 2);
        let n = x.len().div_ceil(self.lanes) * self.lanes;
        let mut xs = x.to_vec();
        xs.resize(n, fill);
        let mut ys = y.unwrap_or(x).to_vec();
        ys.resize(n, fill);
        (xs, ys, n)
    }
}
