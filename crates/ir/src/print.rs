//! The IR's textual form: a readable, `jax.make_jaxpr`-like listing that
//! [`crate::parse`] reads back exactly (print → parse → print is the identity).
//!
//! ```text
//! fn f(%0: f64[3, 4], %1: f64[4]) -> (f64[3, 4], f64[]) {
//!   %2: f64[3, 4] = broadcast_in_dim[shape=[3, 4], dims=[1]](%1)
//!   %3: f64[3, 4] = add(%0, %2)
//!   %4: f64[] = reduce_sum[axes=[0, 1], compensated=false](%3)
//!   %5: f64[3, 4] = cond(%6, %3)
//!     then_body = |%7: f64[3, 4]| {
//!       %8: f64[3, 4] = mul(%7, 2.0:f64)
//!       return (%8)
//!     }
//!     else_body = |%9: f64[3, 4]| {
//!       return (%9)
//!     }
//!   return (%3, %4)
//! }
//! ```
//!
//! An equation is `outs = name[key=value, …](args)`; `outs` is `()` when there are
//! none and the brackets are left out when the primitive has no static parameters.
//! Nested bodies follow their equation, one per line, as `field = |params| { … }`, in
//! the order of [`Prim::bodies`]. Literals use [`Scalar`]'s `Display` (`2.0:f64`,
//! `-inf:f32`); constants print every element (`f64[2]{1.0, nan}`) so they round-trip.
//! Function names that are not plain identifiers are quoted (`fn "jvp(f)"(…)`).

use std::fmt;

use crate::array::Array;
use crate::dtype::{DType, Scalar, Type};
use crate::ir::{Atom, Body, Eqn, Func, Var};
use crate::prim::Prim;

/// The text of a whole function, without a trailing newline.
pub fn print_func(f: &Func) -> String {
    let mut out = String::new();
    out.push_str("fn ");
    out.push_str(&func_name(&f.name));
    out.push('(');
    var_decls(&mut out, &f.body.params);
    out.push_str(") -> (");
    let types: Vec<String> = f.body.results.iter().map(|a| a.ty().to_string()).collect();
    out.push_str(&types.join(", "));
    out.push_str(") {\n");
    body_contents(&mut out, &f.body, 2);
    out.push('}');
    out
}

/// The text of a closed body as it appears nested in an equation: `|params| { … }`.
pub fn print_body(b: &Body) -> String {
    let mut out = String::new();
    body_block(&mut out, b, 0);
    out
}

/// The text of one equation with its nested bodies, without a trailing newline.
pub fn print_eqn(e: &Eqn) -> String {
    let mut out = String::new();
    eqn(&mut out, e, 0);
    out.truncate(out.trim_end().len());
    out
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_func(self))
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_body(self))
    }
}

impl fmt::Display for Eqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_eqn(self))
    }
}

/// A static parameter value, in the one syntax the parser accepts for it.
pub(crate) enum Param<'a> {
    Usize(usize),
    I64(i64),
    Bool(bool),
    DType(DType),
    Usizes(&'a [usize]),
    I64s(&'a [i64]),
    Array(&'a Array),
}

impl fmt::Display for Param<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Usize(v) => write!(f, "{v}"),
            Param::I64(v) => write!(f, "{v}"),
            Param::Bool(v) => write!(f, "{v}"),
            Param::DType(d) => write!(f, "{d}"),
            Param::Usizes(v) => write!(f, "{}", list(v.iter())),
            Param::I64s(v) => write!(f, "{}", list(v.iter())),
            Param::Array(a) => {
                let elems: Vec<String> = (0..a.len())
                    .filter_map(|i| a.get_flat(i))
                    .map(scalar_value)
                    .collect();
                write!(f, "{}{{{}}}", a.ty(), elems.join(", "))
            }
        }
    }
}

fn list<T: fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = items.map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// A scalar without its `:dtype` suffix (the element syntax of constants), so literals
/// and constant elements share one spelling.
fn scalar_value(s: Scalar) -> String {
    let text = s.to_string();
    let suffix = format!(":{}", s.dtype());
    match text.strip_suffix(&suffix) {
        Some(v) => v.to_string(),
        None => text,
    }
}

/// The static parameters and the nested bodies of a primitive, in printing order.
pub(crate) struct Parts<'a> {
    pub params: Vec<(&'static str, Param<'a>)>,
    pub bodies: Vec<(&'static str, &'a Body)>,
}

/// Splits a primitive into [`Parts`].
///
/// This exhaustive match (no catch-all) is the single list the printer and the parser
/// share, so a new primitive fails to compile here until its text form is decided.
pub(crate) fn parts(prim: &Prim) -> Parts<'_> {
    use Param as P;
    let mut bodies = Vec::new();
    let params = match prim {
        Prim::Unary(_)
        | Prim::Binary(_)
        | Prim::Compare(_)
        | Prim::Select
        | Prim::StopGradient
        | Prim::DynamicUpdateSlice
        | Prim::Threefry2x32 => Vec::new(),
        Prim::Cond {
            then_body,
            else_body,
        } => {
            bodies = vec![("then_body", then_body), ("else_body", else_body)];
            Vec::new()
        }
        Prim::IntPow { exponent } => vec![("exponent", P::I64(*exponent))],
        Prim::Convert { dtype } => vec![("dtype", P::DType(*dtype))],
        Prim::Constant { value } => vec![("value", P::Array(value))],
        Prim::Iota { dtype, shape, axis } => vec![
            ("dtype", P::DType(*dtype)),
            ("shape", P::Usizes(shape)),
            ("axis", P::Usize(*axis)),
        ],
        Prim::BroadcastInDim { shape, dims } => {
            vec![("shape", P::Usizes(shape)), ("dims", P::Usizes(dims))]
        }
        Prim::Reshape { shape } => vec![("shape", P::Usizes(shape))],
        Prim::Transpose { perm } => vec![("perm", P::Usizes(perm))],
        Prim::Slice {
            start,
            limit,
            stride,
        } => vec![
            ("start", P::Usizes(start)),
            ("limit", P::Usizes(limit)),
            ("stride", P::Usizes(stride)),
        ],
        Prim::Pad { lo, hi } => vec![("lo", P::I64s(lo)), ("hi", P::I64s(hi))],
        Prim::Concat { axis } => vec![("axis", P::Usize(*axis))],
        Prim::Rev { axes } => vec![("axes", P::Usizes(axes))],
        // The operator is part of the name (`reduce_sum`, `argmax`, `cumsum`, `scatter_add`).
        Prim::Reduce {
            op: _,
            axes,
            compensated,
        } => vec![
            ("axes", P::Usizes(axes)),
            ("compensated", P::Bool(*compensated)),
        ],
        Prim::ArgReduce {
            op: _,
            axis,
            index_dtype,
        } => vec![
            ("axis", P::Usize(*axis)),
            ("index_dtype", P::DType(*index_dtype)),
        ],
        Prim::Cumulative {
            op: _,
            axis,
            reverse,
        } => vec![("axis", P::Usize(*axis)), ("reverse", P::Bool(*reverse))],
        Prim::DotGeneral {
            lhs_contract,
            rhs_contract,
            lhs_batch,
            rhs_batch,
            compensated,
        } => vec![
            ("lhs_contract", P::Usizes(lhs_contract)),
            ("rhs_contract", P::Usizes(rhs_contract)),
            ("lhs_batch", P::Usizes(lhs_batch)),
            ("rhs_batch", P::Usizes(rhs_batch)),
            ("compensated", P::Bool(*compensated)),
        ],
        Prim::Take { axis } => vec![("axis", P::Usize(*axis))],
        Prim::Scatter { axis, mode: _ } => vec![("axis", P::Usize(*axis))],
        Prim::DynamicSlice { sizes } => vec![("sizes", P::Usizes(sizes))],
        Prim::BitsToUnit { dtype } => vec![("dtype", P::DType(*dtype))],
        Prim::While {
            cond_body,
            body,
            cond_nconsts,
            body_nconsts,
        } => {
            bodies = vec![("cond_body", cond_body), ("body", body)];
            vec![
                ("cond_nconsts", P::Usize(*cond_nconsts)),
                ("body_nconsts", P::Usize(*body_nconsts)),
            ]
        }
        Prim::Scan {
            body,
            nconsts,
            ncarry,
            length,
            reverse,
        } => {
            bodies = vec![("body", body)];
            vec![
                ("nconsts", P::Usize(*nconsts)),
                ("ncarry", P::Usize(*ncarry)),
                ("length", P::Usize(*length)),
                ("reverse", P::Bool(*reverse)),
            ]
        }
    };
    Parts { params, bodies }
}

/// The nested bodies of a primitive with the field names they print under.
pub(crate) fn body_fields(prim: &Prim) -> Vec<(&'static str, &Body)> {
    parts(prim).bodies
}

/// `outs = name[params](args)`: the first line of an equation, nested bodies left out.
pub(crate) fn eqn_head(e: &Eqn) -> String {
    let mut out = String::new();
    if e.outs.is_empty() {
        out.push_str("()");
    } else {
        var_decls(&mut out, &e.outs);
    }
    out.push_str(" = ");
    out.push_str(e.prim.name());
    let params = parts(&e.prim).params;
    if !params.is_empty() {
        let params: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push('[');
        out.push_str(&params.join(", "));
        out.push(']');
    }
    out.push('(');
    out.push_str(&atoms(&e.args));
    out.push(')');
    out
}

fn eqn(out: &mut String, e: &Eqn, indent: usize) {
    push_indent(out, indent);
    out.push_str(&eqn_head(e));
    out.push('\n');
    for (name, body) in body_fields(&e.prim) {
        push_indent(out, indent + 2);
        out.push_str(name);
        out.push_str(" = ");
        body_block(out, body, indent + 2);
        out.push('\n');
    }
}

/// `|params| {` … `}`; the caller has already indented the first line.
fn body_block(out: &mut String, b: &Body, indent: usize) {
    out.push('|');
    var_decls(out, &b.params);
    out.push_str("| {\n");
    body_contents(out, b, indent + 2);
    push_indent(out, indent);
    out.push('}');
}

fn body_contents(out: &mut String, b: &Body, indent: usize) {
    for e in &b.eqns {
        eqn(out, e, indent);
    }
    push_indent(out, indent);
    out.push_str("return (");
    out.push_str(&atoms(&b.results));
    out.push_str(")\n");
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn var_decls(out: &mut String, vars: &[Var]) {
    let decls: Vec<String> = vars.iter().map(var_decl).collect();
    out.push_str(&decls.join(", "));
}

fn var_decl(v: &Var) -> String {
    format!("%{}: {}", v.id, v.ty)
}

pub(crate) fn type_list(types: &[Type]) -> String {
    let t: Vec<String> = types.iter().map(Type::to_string).collect();
    format!("({})", t.join(", "))
}

fn atoms(args: &[Atom]) -> String {
    let a: Vec<String> = args.iter().map(atom).collect();
    a.join(", ")
}

fn atom(a: &Atom) -> String {
    match a {
        Atom::Var(v) => format!("%{}", v.id),
        Atom::Lit(s) => s.to_string(),
    }
}

/// Whether `s` is spelled the way the parser's identifiers are.
fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Plain identifiers print bare; anything else (transform-generated names like
/// `jvp(f)`, the empty name) is quoted with the escapes the parser undoes.
fn func_name(name: &str) -> String {
    if is_ident(name) {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
