//! Modules: one per source file, with its hoisted `fn` items, its `use`d modules and
//! its top-level scope; loading resolves `use` through the host.

use std::collections::HashMap;
use std::rc::Rc;

use nabla_diag::{Code, Diagnostic, Diagnostics, FileId, Span};
use nabla_syntax::ast::{self, StmtKind, UseTarget};

use crate::check;
use crate::cx::{Cx, Res};
use crate::env::Env;
use crate::host::ModuleRequest;
use crate::value::{Callable, Value};

#[derive(Debug)]
pub struct Module {
    pub name: String,
    /// Where the module's file lives, for resolving its own `use`s.
    pub origin: Option<String>,
    pub files: Vec<FileId>,
    pub fns: HashMap<String, Rc<ast::FnDef>>,
    /// Imported modules by the name they are visible under (`use stats` → `stats`).
    pub imports: Vec<(String, usize)>,
    pub env: Env,
}

impl Cx<'_> {
    pub fn new_module(&mut self, name: &str, origin: Option<String>) -> usize {
        self.eng.modules.push(Module {
            name: name.to_string(),
            origin,
            files: Vec::new(),
            fns: HashMap::new(),
            imports: Vec::new(),
            env: Env::new(),
        });
        self.eng.modules.len() - 1
    }

    /// Adds parsed source to module `m`: hoists its `fn` items, loads its `use`s and
    /// checks names. Returns every diagnostic found (errors stop the caller).
    pub fn add_source(&mut self, m: usize, file: FileId, ast: &ast::File) -> Diagnostics {
        let mut diags = Vec::new();
        self.eng.modules[m].files.push(file);
        let mut seen: HashMap<String, Span> = HashMap::new();
        for s in &ast.stmts {
            if let StmtKind::Fn(def) = &s.kind {
                if let Some(prev) = seen.get(&def.name.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::DUPLICATE_FN,
                            format!("`{}` is defined twice", def.name.name),
                        )
                        .at(def.name.span, "defined again here")
                        .also(*prev, "first defined here")
                        .hint("rename one of them"),
                    );
                    continue;
                }
                seen.insert(def.name.name.clone(), def.name.span);
                self.eng.modules[m]
                    .fns
                    .insert(def.name.name.clone(), Rc::new(def.clone()));
            }
        }
        for s in &ast.stmts {
            if let StmtKind::Use(target) = &s.kind {
                if let Err(d) = self.load_use(m, target, s.span) {
                    diags.push(d);
                }
            }
        }
        diags.extend(check::check_file(self, m, ast));
        Diagnostics(diags)
    }

    fn load_use(&mut self, m: usize, target: &UseTarget, span: Span) -> Res<()> {
        let relative_to = self.eng.modules[m].origin.clone();
        let (request, visible) = match target {
            UseTarget::Module(id) => (
                ModuleRequest::Named {
                    name: id.name.clone(),
                    relative_to,
                },
                id.name.clone(),
            ),
            UseTarget::Path { path, .. } => {
                let stem = std::path::Path::new(path)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("module")
                    .to_string();
                (
                    ModuleRequest::Path {
                        path: path.clone(),
                        relative_to,
                    },
                    stem,
                )
            }
        };
        let source = self.host.module_source(&request).ok_or_else(|| {
            let what = match target {
                UseTarget::Module(id) => format!("module `{}`", id.name),
                UseTarget::Path { path, .. } => format!("file \"{path}\""),
            };
            Diagnostic::error(Code::UNKNOWN_MODULE, format!("cannot find {what}"))
                .at(span, "this `use`")
                .hint("standard modules are nn, stats and autodiff; other names are looked up as NAME.nbl beside the script")
        })?;
        // Each file is loaded once; a second `use` (or a cycle) reuses it.
        if let Some(existing) = self
            .eng
            .modules
            .iter()
            .position(|mm| mm.origin.as_deref() == Some(&source.name))
        {
            if !self.eng.modules[m]
                .imports
                .iter()
                .any(|(_, i)| *i == existing)
            {
                self.eng.modules[m].imports.push((visible, existing));
            }
            return Ok(());
        }
        let file = self
            .eng
            .sources
            .add(source.name.clone(), source.text.clone());
        let (ast, parse_diags) = nabla_syntax::parse(file, &source.text);
        if parse_diags
            .iter()
            .any(|d| d.severity == nabla_diag::Severity::Error)
        {
            return Err(parse_diags.into_iter().next().unwrap_or_else(|| {
                Diagnostic::error(Code::INTERNAL, "parse failed").at(span, "")
            }));
        }
        let id = self.new_module(&visible, Some(source.name.clone()));
        self.eng.modules[m].imports.push((visible, id));
        let diags = self.add_source(id, file, &ast);
        if let Some(d) = diags
            .0
            .into_iter()
            .find(|d| d.severity == nabla_diag::Severity::Error)
        {
            return Err(d);
        }
        // Run the module's top-level statements (constants it defines).
        let env = self.eng.modules[id].env.clone();
        for s in &ast.stmts {
            self.exec_stmt(s, &env, id)?;
        }
        Ok(())
    }

    /// A name defined by module `m` itself or one of its imports.
    pub fn module_lookup(&self, m: usize, name: &str) -> Option<Value> {
        let module = self.eng.modules.get(m)?;
        if let Some(def) = module.fns.get(name) {
            return Some(Value::Func(Rc::new(Callable::User {
                module: m,
                def: def.clone(),
            })));
        }
        if let Some(v) = module.env.lookup(name) {
            return Some(v);
        }
        for (_, imp) in &module.imports {
            if let Some(def) = self.eng.modules.get(*imp).and_then(|mm| mm.fns.get(name)) {
                return Some(Value::Func(Rc::new(Callable::User {
                    module: *imp,
                    def: def.clone(),
                })));
            }
        }
        module
            .imports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| Value::Module(*i))
    }

    /// `module.name`.
    pub fn module_member(&self, mid: usize, name: &ast::Ident) -> Res<Value> {
        let module = &self.eng.modules[mid];
        match module.fns.get(&name.name) {
            Some(def) => Ok(Value::Func(Rc::new(Callable::User {
                module: mid,
                def: def.clone(),
            }))),
            None => {
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_ATTRIBUTE,
                    format!("module `{}` has no function `{}`", module.name, name.name),
                )
                .at(name.span, "not found");
                if let Some(c) =
                    nabla_diag::closest_name(&name.name, module.fns.keys().map(String::as_str))
                {
                    d = d.hint(format!("did you mean `{c}`?"));
                }
                Err(d)
            }
        }
    }

    /// Names visible at module level (for suggestions and the checker).
    pub fn module_visible_names(&self, m: usize) -> Vec<String> {
        let Some(module) = self.eng.modules.get(m) else {
            return Vec::new();
        };
        let mut out: Vec<String> = module.fns.keys().cloned().collect();
        out.extend(module.env.names());
        for (n, imp) in &module.imports {
            out.push(n.clone());
            if let Some(mm) = self.eng.modules.get(*imp) {
                out.extend(mm.fns.keys().cloned());
            }
        }
        out
    }
}
