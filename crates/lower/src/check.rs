//! Static checks that need no argument types: every name used is defined somewhere it
//! is visible (locals, `fn` items, imports, builtins), reported with a suggestion, and
//! assignments only rebind `var`s.

use std::collections::{HashMap, HashSet};

use nabla_diag::{closest_name, Code, Diagnostic};
use nabla_syntax::ast::{self, Expr, ExprKind, Pattern, StmtKind};

use crate::builtins::Builtin;
use crate::cx::Cx;

struct Checker {
    /// Names bound in each open scope, and whether each is a `var` (rebindable).
    scopes: Vec<HashMap<String, bool>>,
    globals: HashSet<String>,
    diags: Vec<Diagnostic>,
}

impl Checker {
    fn known(&self, n: &str) -> bool {
        self.scopes.iter().any(|s| s.contains_key(n))
            || self.globals.contains(n)
            || Builtin::from_name(n).is_some()
            || nabla_ir::DType::from_name(n).is_some()
    }

    fn define(&mut self, n: &str) {
        self.bind(n, false);
    }

    fn bind(&mut self, n: &str, rebindable: bool) {
        if let Some(s) = self.scopes.last_mut() {
            s.insert(n.to_string(), rebindable);
        }
    }

    /// Whether the innermost local binding of `n` is a `let` (or a parameter, loop
    /// variable or `fn`); `None` when `n` is not a local of this file.
    fn bound_immutably(&self, n: &str) -> Option<bool> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.get(n))
            .map(|&var| !var)
    }

    fn pattern(&mut self, p: &Pattern) {
        match p {
            Pattern::Name(id) => self.define(&id.name),
            Pattern::Wildcard(_) => {}
            Pattern::Tuple(ps, _) => ps.iter().for_each(|p| self.pattern(p)),
        }
    }

    fn stmts(&mut self, stmts: &[ast::Stmt]) {
        for s in stmts {
            match &s.kind {
                StmtKind::Fn(def) => {
                    self.define(&def.name.name);
                    self.func(&def.params, &def.body);
                }
                StmtKind::Use(_) => {}
                StmtKind::Let { pat, value } => {
                    self.expr(value);
                    self.pattern(pat);
                }
                StmtKind::Var { name, value } => {
                    self.expr(value);
                    self.bind(&name.name, true);
                }
                StmtKind::Assign { name, value } => {
                    self.expr(value);
                    if !self.known(&name.name) {
                        self.unknown(&name.name, name.span);
                    } else if self.bound_immutably(&name.name) == Some(true) {
                        self.diags.push(assign_to_let(&name.name, name.span));
                    }
                }
                StmtKind::For { var, lo, hi, body } => {
                    self.expr(lo);
                    self.expr(hi);
                    self.scopes.push(HashMap::new());
                    self.define(&var.name);
                    self.block(body);
                    self.scopes.pop();
                }
                StmtKind::Expr(e) => self.expr(e),
            }
        }
    }

    fn func(&mut self, params: &[ast::Param], body: &Expr) {
        self.scopes.push(HashMap::new());
        for (i, p) in params.iter().enumerate() {
            if let Some(d) = &p.default {
                self.expr(d);
            }
            let dup = params[..i]
                .iter()
                .find(|q| q.name.name == p.name.name && p.name.name != "_");
            if let Some(first) = dup {
                self.diags.push(
                    Diagnostic::error(
                        Code::DUPLICATE_PARAM,
                        format!("parameter `{}` is declared twice", p.name.name),
                    )
                    .at(p.name.span, "declared again here")
                    .also(first.name.span, "first declared here")
                    .hint("give each parameter its own name"),
                );
            }
            self.define(&p.name.name);
        }
        self.expr(body);
        self.scopes.pop();
    }

    fn block(&mut self, b: &ast::Block) {
        self.scopes.push(HashMap::new());
        self.stmts(&b.stmts);
        if let Some(t) = &b.tail {
            self.expr(t);
        }
        self.scopes.pop();
    }

    fn unknown(&mut self, name: &str, span: nabla_diag::Span) {
        let mut cands: Vec<String> = self.scopes.iter().flat_map(|s| s.keys().cloned()).collect();
        cands.extend(self.globals.iter().cloned());
        cands.extend(Builtin::names().iter().map(|s| s.to_string()));
        let mut d = Diagnostic::error(Code::UNKNOWN_NAME, format!("unknown name `{name}`"))
            .at(span, "not found in this scope");
        if let Some(c) = closest_name(name, cands.iter().map(String::as_str)) {
            d = d.hint(format!("did you mean `{c}`?"));
        }
        self.diags.push(d);
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::None => {}
            ExprKind::Name(n) => {
                if !self.known(n) {
                    self.unknown(n, e.span);
                }
            }
            ExprKind::Tuple(xs) | ExprKind::List(xs) => xs.iter().for_each(|x| self.expr(x)),
            ExprKind::Unary { operand, .. } => self.expr(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee);
                args.iter().for_each(|a| self.expr(&a.value));
            }
            ExprKind::Index { base, items } => {
                self.expr(base);
                for it in items {
                    match it {
                        ast::IndexItem::Expr(x) => self.expr(x),
                        ast::IndexItem::Slice {
                            start, stop, step, ..
                        } => {
                            for x in [start, stop, step].into_iter().flatten() {
                                self.expr(x);
                            }
                        }
                        ast::IndexItem::Ellipsis(_) => {}
                    }
                }
            }
            // Attributes and methods are resolved against the value at run time.
            ExprKind::Field { base, .. } | ExprKind::TupleField { base, .. } => self.expr(base),
            ExprKind::If {
                cond,
                then_branch,
                else_branch,
            } => {
                self.expr(cond);
                self.block(then_branch);
                if let Some(e) = else_branch {
                    self.expr(e);
                }
            }
            ExprKind::Lambda { params, body } => self.func(params, body),
            ExprKind::Block(b) => self.block(b),
        }
    }
}

/// The error for assigning to `name`, bound with `let` (found statically here, or at
/// run time for bindings of earlier REPL lines).
pub(crate) fn assign_to_let(name: &str, span: nabla_diag::Span) -> Diagnostic {
    Diagnostic::error(
        Code::ASSIGN_TO_LET,
        format!("cannot assign to `{name}`: it was bound with `let`"),
    )
    .at(span, "assigned here")
    .hint(format!(
        "declare it with `var {name} = …` to make it rebindable"
    ))
}

/// Checks the names of a file added to module `m`.
pub fn check_file(cx: &Cx, m: usize, file: &ast::File) -> Vec<Diagnostic> {
    let globals: HashSet<String> = cx.module_visible_names(m).into_iter().collect();
    let mut c = Checker {
        scopes: vec![HashMap::new()],
        globals,
        diags: Vec::new(),
    };
    c.stmts(&file.stmts);
    c.diags
}
