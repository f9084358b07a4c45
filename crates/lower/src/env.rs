//! Lexical scopes: chains of frames binding names to values, shared by closures.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::value::Value;

#[derive(Debug)]
struct Binding {
    value: Value,
    mutable: bool,
}

#[derive(Debug, Default)]
struct Scope {
    vars: RefCell<HashMap<String, Binding>>,
    parent: Option<Env>,
}

/// A scope and its ancestors. Cloning shares the frames, which is what lets lambdas
/// see the names of the scope they were created in.
#[derive(Clone, Debug, Default)]
pub struct Env(Rc<Scope>);

/// Why an assignment failed.
pub enum AssignError {
    Unknown,
    Immutable,
}

impl Env {
    pub fn new() -> Env {
        Env::default()
    }

    /// A new innermost scope whose parent is `self`.
    pub fn child(&self) -> Env {
        Env(Rc::new(Scope {
            vars: RefCell::new(HashMap::new()),
            parent: Some(self.clone()),
        }))
    }

    pub fn define(&self, name: &str, value: Value, mutable: bool) {
        self.0
            .vars
            .borrow_mut()
            .insert(name.to_string(), Binding { value, mutable });
    }

    pub fn lookup(&self, name: &str) -> Option<Value> {
        let mut cur = Some(self);
        while let Some(env) = cur {
            if let Some(b) = env.0.vars.borrow().get(name) {
                return Some(b.value.clone());
            }
            cur = env.0.parent.as_ref();
        }
        None
    }

    /// Rebinds the innermost `var` called `name`.
    pub fn assign(&self, name: &str, value: Value) -> Result<(), AssignError> {
        let mut cur = Some(self);
        while let Some(env) = cur {
            if let Some(b) = env.0.vars.borrow_mut().get_mut(name) {
                if !b.mutable {
                    return Err(AssignError::Immutable);
                }
                b.value = value;
                return Ok(());
            }
            cur = env.0.parent.as_ref();
        }
        Err(AssignError::Unknown)
    }

    /// Every name visible from this scope (for "did you mean" hints).
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = Some(self);
        while let Some(env) = cur {
            out.extend(env.0.vars.borrow().keys().cloned());
            cur = env.0.parent.as_ref();
        }
        out
    }
}
