//! The IR verifier: the structural invariants every pass may assume and must preserve
//! (unique definitions, closed bodies, consistent carried types, inferable equations).

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::dtype::Type;
use crate::ir::{Atom, Body, Func};
use crate::print::{body_fields, eqn_head};
use crate::shape::infer;

/// A broken invariant, with where it was found: the printed equation and its path
/// through the nested bodies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VerifyError {}

/// Checks a whole function:
/// - every variable (parameters and equation results, nested bodies included) is
///   defined exactly once in the function;
/// - every use refers to a variable defined earlier in the same body (bodies are
///   closed) and carries the type it was defined with;
/// - each equation's result types are what [`crate::shape::infer`] gives for its
///   primitive and operand types;
/// - nested bodies satisfy all of the above, recursively.
pub fn verify_func(f: &Func) -> Result<(), VerifyError> {
    Verifier::default().body(&f.body, &format!("fn {}", f.name))
}

/// The self-check debug and test builds run on every function a trace or pass
/// produces: the verifier's invariants hold and the text form round-trips (print →
/// parse → print is identical), so `nabla ir` output can always be read back.
pub fn self_check(f: &Func) -> Result<(), VerifyError> {
    verify_func(f)?;
    let text = crate::print::print_func(f);
    let reparsed = crate::parse::parse_func(&text).map_err(|e| VerifyError {
        message: format!("the printed IR does not parse back: {e}\n{text}"),
    })?;
    let again = crate::print::print_func(&reparsed);
    if again != text {
        return Err(VerifyError {
            message: format!("print -> parse -> print changed the IR:\n{text}\n---\n{again}"),
        });
    }
    Ok(())
}

/// Checks one closed body on its own, as [`verify_func`] does for a function's body.
pub fn verify_body(b: &Body) -> Result<(), VerifyError> {
    Verifier::default().body(b, "body")
}

#[derive(Default)]
struct Verifier {
    /// Every id defined so far anywhere in the function: ids are unique function-wide
    /// so that transforms can rename by id without tracking scopes.
    defined: HashSet<u32>,
}

fn error(problem: String, location: String) -> VerifyError {
    VerifyError {
        message: format!("{problem}\n  at {location}"),
    }
}

impl Verifier {
    fn body(&mut self, b: &Body, path: &str) -> Result<(), VerifyError> {
        let mut scope: HashMap<u32, Type> = HashMap::new();
        for p in &b.params {
            if !self.defined.insert(p.id) {
                return Err(error(
                    format!("variable %{} is defined more than once", p.id),
                    format!("the parameters of {path}"),
                ));
            }
            scope.insert(p.id, p.ty.clone());
        }
        for (i, e) in b.eqns.iter().enumerate() {
            let here = || format!("{path}, eqn {i}: `{}`", eqn_head(e));
            for a in &e.args {
                self.use_atom(a, &scope).map_err(|m| error(m, here()))?;
            }
            for (field, body) in body_fields(&e.prim) {
                self.body(
                    body,
                    &format!("{path}, eqn {i} ({}), {field}", e.prim.name()),
                )?;
            }
            let arg_types: Vec<Type> = e.args.iter().map(Atom::ty).collect();
            let inferred = infer(&e.prim, &arg_types)
                .map_err(|t| error(format!("ill-typed equation: {t}"), here()))?;
            let declared: Vec<Type> = e.outs.iter().map(|v| v.ty.clone()).collect();
            if inferred != declared {
                return Err(error(
                    format!(
                        "results are typed {} but {} yields {}",
                        crate::print::type_list(&declared),
                        e.prim.name(),
                        crate::print::type_list(&inferred)
                    ),
                    here(),
                ));
            }
            for o in &e.outs {
                if !self.defined.insert(o.id) {
                    return Err(error(
                        format!("variable %{} is defined more than once", o.id),
                        here(),
                    ));
                }
                scope.insert(o.id, o.ty.clone());
            }
        }
        for a in &b.results {
            self.use_atom(a, &scope)
                .map_err(|m| error(m, format!("the results of {path}")))?;
        }
        Ok(())
    }

    fn use_atom(&self, a: &Atom, scope: &HashMap<u32, Type>) -> Result<(), String> {
        let Atom::Var(v) = a else {
            return Ok(());
        };
        match scope.get(&v.id) {
            Some(t) if *t == v.ty => Ok(()),
            Some(t) => Err(format!("%{} is used as {} but defined as {t}", v.id, v.ty)),
            None if self.defined.contains(&v.id) => Err(format!(
                "%{} is not defined in this body (bodies are closed: outer values must be \
                 passed as operands)",
                v.id
            )),
            None => Err(format!(
                "use of undefined variable %{} (not defined earlier in this body)",
                v.id
            )),
        }
    }
}
