//! Parser unit tests: tree shapes through an S-expression printer, spans, and errors.

use crate::ast::*;
use crate::{parse, parse_expr};
use nabla_diag::{Code, Diagnostic, FileId};

const F: FileId = FileId(0);

// ----- S-expression printer -----------------------------------------------------------

fn sx(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Float(v) => format!("{v:?}"),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::None => "none".to_string(),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Tuple(es) => format!("(tuple{})", list(es)),
        ExprKind::List(es) => format!("[{}]", join(es.iter().map(sx))),
        ExprKind::Unary { op, operand } => {
            let op = match op {
                UnOp::Neg => "-",
                UnOp::Not => "not",
            };
            format!("({op} {})", sx(operand))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), sx(lhs), sx(rhs))
        }
        ExprKind::Call { callee, args } => {
            let args = args.iter().map(|a| match &a.name {
                Some(n) => format!("{}={}", n.name, sx(&a.value)),
                None => sx(&a.value),
            });
            format!("(call {}{})", sx(callee), prefixed(args))
        }
        ExprKind::Index { base, items } => {
            let items = items.iter().map(|i| match i {
                IndexItem::Expr(e) => sx(e),
                IndexItem::Slice {
                    start, stop, step, ..
                } => {
                    let part = |p: &Option<Expr>| p.as_ref().map_or("_".to_string(), sx);
                    format!("(: {} {} {})", part(start), part(stop), part(step))
                }
                IndexItem::Ellipsis(_) => "...".to_string(),
            });
            format!("(index {}{})", sx(base), prefixed(items))
        }
        ExprKind::Field { base, name } => format!("(. {} {})", sx(base), name.name),
        ExprKind::TupleField { base, index, .. } => format!("(.{index} {})", sx(base)),
        ExprKind::If {
            cond,
            then_branch,
            else_branch,
        } => match else_branch {
            Some(e) => format!("(if {} {} {})", sx(cond), block(then_branch), sx(e)),
            None => format!("(if {} {})", sx(cond), block(then_branch)),
        },
        ExprKind::Lambda { params, body } => {
            format!("(lambda [{}] {})", join(params.iter().map(param)), sx(body))
        }
        ExprKind::Block(b) => block(b),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(" ")
}

fn prefixed(items: impl Iterator<Item = String>) -> String {
    items.map(|s| format!(" {s}")).collect()
}

fn list(es: &[Expr]) -> String {
    prefixed(es.iter().map(sx))
}

fn block(b: &Block) -> String {
    let mut parts: Vec<String> = b.stmts.iter().map(stmt).collect();
    if let Some(t) = &b.tail {
        parts.push(format!("=> {}", sx(t)));
    }
    format!("{{{}}}", parts.join("; "))
}

fn param(p: &Param) -> String {
    let mut s = p.name.name.clone();
    if let Some(a) = &p.ann {
        s += &format!(":{}", ann(a));
    }
    if let Some(d) = &p.default {
        s += &format!("={}", sx(d));
    }
    s
}

fn ann(a: &TypeAnn) -> String {
    match a {
        TypeAnn::Array { dtype, dims, .. } => match dims {
            None => dtype.name.clone(),
            Some(ds) => {
                let ds = ds.iter().map(|d| match d {
                    Dim::Const { value, .. } => value.to_string(),
                    Dim::Var(i) => i.name.clone(),
                });
                format!("{}[{}]", dtype.name, ds.collect::<Vec<_>>().join(","))
            }
        },
        TypeAnn::Tuple { elems, .. } => {
            format!("({})", elems.iter().map(ann).collect::<Vec<_>>().join(","))
        }
    }
}

fn pat(p: &Pattern) -> String {
    match p {
        Pattern::Name(i) => i.name.clone(),
        Pattern::Wildcard(_) => "_".to_string(),
        Pattern::Tuple(ps, _) => format!("({})", join(ps.iter().map(pat))),
    }
}

fn stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Fn(f) => {
            let ret = f
                .ret
                .as_ref()
                .map(|r| format!(" -> {}", ann(r)))
                .unwrap_or_default();
            format!(
                "(fn {} [{}]{} {})",
                f.name.name,
                join(f.params.iter().map(param)),
                ret,
                sx(&f.body)
            )
        }
        StmtKind::Use(UseTarget::Module(m)) => format!("(use {})", m.name),
        StmtKind::Use(UseTarget::Path { path, .. }) => format!("(use {path:?})"),
        StmtKind::Let { pat: p, value } => format!("(let {} {})", pat(p), sx(value)),
        StmtKind::Var { name, value } => format!("(var {} {})", name.name, sx(value)),
        StmtKind::Assign { name, value } => format!("(= {} {})", name.name, sx(value)),
        StmtKind::For { var, lo, hi, body } => {
            format!("(for {} {} {} {})", var.name, sx(lo), sx(hi), block(body))
        }
        StmtKind::Expr(e) => sx(e),
    }
}

// ----- helpers ------------------------------------------------------------------------

/// The S-expression of an expression that must parse without diagnostics.
fn e(src: &str) -> String {
    match parse_expr(F, src) {
        Ok(expr) => sx(&expr),
        Err(d) => panic!("{src:?} failed to parse: {d:?}"),
    }
}

/// The statements of a file that must parse without diagnostics, one per line.
fn file(src: &str) -> Vec<String> {
    let (tree, diags) = parse(F, src);
    assert!(
        diags.is_empty(),
        "{src:?}: unexpected diagnostics {diags:#?}"
    );
    tree.stmts.iter().map(stmt).collect()
}

fn one(src: &str) -> String {
    let stmts = file(src);
    assert_eq!(stmts.len(), 1, "{src:?} gave {stmts:?}");
    stmts[0].clone()
}

fn diags(src: &str) -> Vec<Diagnostic> {
    let (_, diags) = parse(F, src);
    for d in &diags {
        let span = d
            .primary_span()
            .unwrap_or_else(|| panic!("no primary span: {d:?}"));
        assert!(
            span.start <= span.end && span.end as usize <= src.len(),
            "{d:?}"
        );
    }
    diags
}

fn codes(src: &str) -> Vec<&'static str> {
    diags(src).iter().map(|d| d.code.as_str()).collect()
}

fn text_of(src: &str, span: nabla_diag::Span) -> &str {
    &src[span.start as usize..span.end as usize]
}

// ----- precedence ---------------------------------------------------------------------

#[test]
fn unary_minus_and_power() {
    assert_eq!(e("-x ** 2"), "(- (** x 2))");
    assert_eq!(e("2 ** -1"), "(** 2 (- 1))");
    assert_eq!(e("a ** b ** c"), "(** a (** b c))");
    assert_eq!(e("2 ** -x ** 2"), "(** 2 (- (** x 2)))");
    assert_eq!(e("-a @ b"), "(@ (- a) b)");
    assert_eq!(e("- -a"), "(- (- a))");
    assert_eq!(e("a * -b"), "(* a (- b))");
}

#[test]
fn binary_levels_and_associativity() {
    assert_eq!(e("a - b - c"), "(- (- a b) c)");
    assert_eq!(e("a / b * c"), "(* (/ a b) c)");
    assert_eq!(e("x // 2 % 3"), "(% (// x 2) 3)");
    assert_eq!(e("a + b * c @ d"), "(+ a (* b (@ c d)))");
    assert_eq!(e("a @ b @ c"), "(@ (@ a b) c)");
    assert_eq!(e("a < b + 1"), "(< a (+ b 1))");
    assert_eq!(e("a + b == c * d"), "(== (+ a b) (* c d))");
    assert_eq!(e("a or b and c"), "(or a (and b c))");
    assert_eq!(e("a and b or c and d"), "(or (and a b) (and c d))");
    assert_eq!(e("a or b or c"), "(or (or a b) c)");
}

#[test]
fn not_binds_below_comparison() {
    assert_eq!(e("not a == b"), "(not (== a b))");
    assert_eq!(e("not a and b"), "(and (not a) b)");
    assert_eq!(e("a or b and not c"), "(or a (and b (not c)))");
    assert_eq!(e("not not a"), "(not (not a))");
    assert_eq!(
        e("(x > 0.0) and not (x > 1.0) or x < -1.5"),
        "(or (and (> x 0.0) (not (> x 1.0))) (< x (- 1.5)))"
    );
}

#[test]
fn postfix_binds_tightest() {
    assert_eq!(e("-x.T"), "(- (. x T))");
    assert_eq!(e("-f(x) ** 2"), "(- (** (call f x) 2))");
    assert_eq!(
        e("f(x)[0].T.sum(axis=0)"),
        "(call (. (. (index (call f x) 0) T) sum) axis=0)"
    );
    assert_eq!(
        e("x.at[idx].add(1.0).at[0].set(-5.0)"),
        "(call (. (index (. (call (. (index (. x at) idx) add) 1.0) at) 0) set) (- 5.0))"
    );
    assert_eq!(e("vmap(f)(x)"), "(call (call vmap f) x)");
}

#[test]
fn tuple_fields_split_floats() {
    assert_eq!(e("t.0"), "(.0 t)");
    assert_eq!(e("t.0.1"), "(.1 (.0 t))");
    assert_eq!(e("t.1.0.x"), "(. (.0 (.1 t)) x)");
    assert_eq!(e("t.0.1.2"), "(.2 (.1 (.0 t)))");
    assert_eq!(e("c.0 / 2.0"), "(/ (.0 c) 2.0)");
    let src = "t.12.3";
    let Ok(expr) = parse_expr(F, src) else {
        panic!("parse failed")
    };
    let ExprKind::TupleField {
        base, index_span, ..
    } = &expr.kind
    else {
        panic!("not a tuple field: {expr:?}")
    };
    assert_eq!(text_of(src, *index_span), "3");
    let ExprKind::TupleField { index_span, .. } = &base.kind else {
        panic!("not a tuple field: {base:?}")
    };
    assert_eq!(text_of(src, *index_span), "12");
    assert_eq!(text_of(src, base.span), "t.12");
    assert!(parse_expr(F, "t.1e3").is_err());
}

#[test]
fn chained_comparison_is_rejected() {
    let d = diags("let ok = a < b < c");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, Code::CHAINED_COMPARISON);
    assert_eq!(d[0].hint.as_deref(), Some("write `(a < b) and (b < c)`"));
    assert_eq!(codes("let ok = a == b != c"), vec!["E0203"]);
    // Parenthesised, the first comparison is an ordinary operand.
    assert_eq!(e("(a < b) < c"), "(< (< a b) c)");
    assert_eq!(e("a < b and b < c"), "(and (< a b) (< b c))");
}

#[test]
fn atoms() {
    assert_eq!(e("()"), "(tuple)");
    assert_eq!(e("(a,)"), "(tuple a)");
    assert_eq!(e("(a, b,)"), "(tuple a b)");
    assert_eq!(e("(a)"), "a");
    assert_eq!(e("((a))"), "a");
    assert_eq!(e("[]"), "[]");
    assert_eq!(e("[[1.0, 2.0], [3.0, 4.0],]"), "[[1.0 2.0] [3.0 4.0]]");
    assert_eq!(e("true or false"), "(or true false)");
    assert_eq!(e("none"), "none");
    assert_eq!(e(r#""a\tb""#), r#""a\tb""#);
    assert_eq!(e("1_000"), "1000");
    assert_eq!(e("{ 1 }"), "{=> 1}");
}

#[test]
fn calls_and_keyword_arguments() {
    assert_eq!(e("f()"), "(call f)");
    assert_eq!(e("f(a, k=v,)"), "(call f a k=v)");
    assert_eq!(e("f(k == v)"), "(call f (== k v))");
    assert_eq!(
        e("vmap(f, in_axes=(none, 0))"),
        "(call vmap f in_axes=(tuple none 0))"
    );
    assert_eq!(
        e("uniform(k, [3, 5], dtype=f32)"),
        "(call uniform k [3 5] dtype=f32)"
    );
    // `var` is a keyword but also stdlib's variance.
    assert_eq!(e("var(x)"), "(call var x)");
    assert_eq!(e("x.var()"), "(call (. x var))");
}

#[test]
fn index_items() {
    assert_eq!(e("x[1:3, ::2]"), "(index x (: 1 3 _) (: _ _ 2))");
    assert_eq!(e("x[-1, 0:5:2]"), "(index x (- 1) (: 0 5 2))");
    assert_eq!(e("x[..., 1]"), "(index x ... 1)");
    assert_eq!(e("x[:, none]"), "(index x (: _ _ _) none)");
    assert_eq!(e("x[:-1]"), "(index x (: _ (- 1) _))");
    assert_eq!(e("x[1:]"), "(index x (: 1 _ _))");
    assert_eq!(e("x[::]"), "(index x (: _ _ _))");
    assert_eq!(e("x[i,]"), "(index x i)");
    assert_eq!(e("x[idx]"), "(index x idx)");
    assert_eq!(e("x[1:n+1]"), "(index x (: 1 (+ n 1) _))");
    assert_eq!(codes("x[]"), vec!["E0201"]);
}

#[test]
fn lambdas() {
    assert_eq!(e("|x, y| x + y"), "(lambda [x y] (+ x y))");
    assert_eq!(e("|| 1"), "(lambda [] 1)");
    assert_eq!(e("|x,| x"), "(lambda [x] x)");
    assert_eq!(
        e("|x: f64[n], s = 1.0| x * s"),
        "(lambda [x:f64[n] s=1.0] (* x s))"
    );
    assert_eq!(e("|x| |y| x * y"), "(lambda [x] (lambda [y] (* x y)))");
    assert_eq!(
        e("scan(|c, x| (c + x, c * x), 0.0, xs)"),
        "(call scan (lambda [c x] (tuple (+ c x) (* c x))) 0.0 xs)"
    );
    // As an operand a lambda extends as far as it can.
    assert_eq!(e("a + |y| y * 2"), "(+ a (lambda [y] (* y 2)))");
}

#[test]
fn if_expressions() {
    assert_eq!(e("if c { a } else { b }"), "(if c {=> a} {=> b})");
    assert_eq!(e("if c { a }"), "(if c {=> a})");
    assert_eq!(
        e("if a { 1 } else if b { 2 } else { 3 }"),
        "(if a {=> 1} (if b {=> 2} {=> 3}))"
    );
    assert_eq!(
        e("if sum(x) > 0.0 { x * 2.0 } else { -x }"),
        "(if (> (call sum x) 0.0) {=> (* x 2.0)} {=> (- x)})"
    );
    assert_eq!(e("2 * if c { a } else { b }"), "(* 2 (if c {=> a} {=> b}))");
    // At the start of an expression `if` is the lowest level: no trailing operator.
    let d = diags("let y = if c { 1 } else { 2 } + 1");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, Code::UNEXPECTED_TOKEN);
    assert!(d[0].hint.as_deref().unwrap_or("").contains("parentheses"));
    assert_eq!(
        e("(if c { 1 } else { 2 }) + 1"),
        "(+ (if c {=> 1} {=> 2}) 1)"
    );
}

#[test]
fn spans_cover_source_text() {
    let src = "(a + b) * f(c)[0].T";
    let Ok(expr) = parse_expr(F, src) else {
        panic!("parse failed")
    };
    assert_eq!(text_of(src, expr.span), src);
    let ExprKind::Binary { lhs, rhs, .. } = &expr.kind else {
        panic!("not binary")
    };
    assert_eq!(text_of(src, lhs.span), "(a + b)");
    assert_eq!(text_of(src, rhs.span), "f(c)[0].T");
    let ExprKind::Field { base, name } = &rhs.kind else {
        panic!("not a field")
    };
    assert_eq!(text_of(src, base.span), "f(c)[0]");
    assert_eq!(text_of(src, name.span), "T");

    let src = "fn f(x: f64[n, 3], y = 1.0) -> f64[n] = x @ w\nlet (a, _) = (1, 2)";
    let (tree, d) = parse(F, src);
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(
        text_of(src, tree.stmts[0].span),
        "fn f(x: f64[n, 3], y = 1.0) -> f64[n] = x @ w"
    );
    let StmtKind::Fn(f) = &tree.stmts[0].kind else {
        panic!("not a fn")
    };
    assert_eq!(text_of(src, f.params[0].span), "x: f64[n, 3]");
    assert_eq!(text_of(src, f.params[1].span), "y = 1.0");
    assert_eq!(
        f.ret.as_ref().map(|r| text_of(src, r.span())),
        Some("f64[n]")
    );
    assert_eq!(text_of(src, f.body.span), "x @ w");
    assert_eq!(text_of(src, tree.stmts[1].span), "let (a, _) = (1, 2)");
    let StmtKind::Let { pat, .. } = &tree.stmts[1].kind else {
        panic!("not a let")
    };
    assert_eq!(text_of(src, pat.span()), "(a, _)");

    let src = "x[1:3, ...]";
    let Ok(expr) = parse_expr(F, src) else {
        panic!("parse failed")
    };
    let ExprKind::Index { items, .. } = &expr.kind else {
        panic!("not an index")
    };
    let IndexItem::Slice { span, .. } = &items[0] else {
        panic!("not a slice")
    };
    assert_eq!(text_of(src, *span), "1:3");
    let src = "{ let a = 1\n  a }";
    let Ok(expr) = parse_expr(F, src) else {
        panic!("parse failed")
    };
    assert_eq!(text_of(src, expr.span), src);
}

// ----- statements ---------------------------------------------------------------------

#[test]
fn fn_items() {
    assert_eq!(
        one("fn name(p1, p2: f32[n, 3], p3 = 1.0) -> f32[n] = p1 + p3"),
        "(fn name [p1 p2:f32[n,3] p3=1.0] -> f32[n] (+ p1 p3))"
    );
    assert_eq!(
        one("fn f(x,) {\n    let s = 2.0 * x\n    mean(s)\n}"),
        "(fn f [x] {(let s (* 2.0 x)); => (call mean s)})"
    );
    assert_eq!(one("fn f() = 1"), "(fn f [] 1)");
    assert_eq!(
        one("fn g(p: (f64[n], f64), s: f64[]) -> (f64, f64) = p"),
        "(fn g [p:(f64[n],f64) s:f64[]] -> (f64,f64) p)"
    );
    assert_eq!(one("fn var(x) = x"), "(fn var [x] x)");
    // A block body may be empty or end in a statement: then it has no tail.
    assert_eq!(one("fn f(x) { let y = x; }"), "(fn f [x] {(let y x)})");
    assert_eq!(one("fn f(x) { x; }"), "(fn f [x] {x})");
    assert_eq!(one("fn f(x) {}"), "(fn f [x] {})");
}

#[test]
fn use_let_var_assign_for() {
    assert_eq!(
        file("use nn\nuse \"lib/util.nbl\""),
        vec!["(use nn)", "(use \"lib/util.nbl\")"]
    );
    assert_eq!(one("let x = 1"), "(let x 1)");
    assert_eq!(one("let _ = f(1)"), "(let _ (call f 1))");
    assert_eq!(one("let (a, (b, _)) = t"), "(let (a (b _)) t)");
    assert_eq!(one("let (a,) = t"), "(let (a) t)");
    assert_eq!(one("let (a) = t"), "(let a t)");
    assert_eq!(one("var w = zeros([3])"), "(var w (call zeros [3]))");
    assert_eq!(one("w = w - 1"), "(= w (- w 1))");
    assert_eq!(
        one("for i in 0..n + 1 { print(i) }"),
        "(for i 0 (+ n 1) {=> (call print i)})"
    );
    assert_eq!(one("print(1)"), "(call print 1)");
    assert_eq!(file("a; b;c"), vec!["a", "b", "c"]);
    assert_eq!(file("\n\n# only comments\n\na\n\n"), vec!["a"]);
}

#[test]
fn script_example_from_the_contract() {
    let src = r#"
use nn                                  # stdlib/nn.nbl
fn loss(w, x, y) {
    let s = 2.0 * y - 1.0
    mean(log1p(exp(-s * (x @ w))))
}
let x = load("x.npy")                   # f64[n, d]
var w = zeros([x.shape[1]])
for i in 0..100 {
    w = w - 0.5 * grad(loss)(w, x, y)
    if i % 10 == 0 { print(i, loss(w, x, y)) }
}
save("w.npy", w)
"#;
    assert_eq!(
        file(src),
        vec![
            "(use nn)",
            "(fn loss [w x y] {(let s (- (* 2.0 y) 1.0)); => (call mean (call log1p (call exp (* (- s) (@ x w)))))})",
            "(let x (call load \"x.npy\"))",
            "(var w (call zeros [(index (. x shape) 1)]))",
            "(for i 0 100 {(= w (- w (* 0.5 (call (call grad loss) w x y)))); => (if (== (% i 10) 0) {=> (call print i (call loss w x y))})})",
            "(call save \"w.npy\" w)",
        ]
    );
}

#[test]
fn lambda_with_multiline_block_inside_call() {
    let src =
        "fn f(x) = fori(0, 5, x, |i, c| {\n    let y = c * 2.0\n    y + f64(i)\n})\nlet z = 1";
    assert_eq!(
        file(src),
        vec![
            "(fn f [x] (call fori 0 5 x (lambda [i c] {(let y (* c 2.0)); => (+ y (call f64 i))})))",
            "(let z 1)"
        ]
    );
    // Newlines inside parentheses around the block are still insignificant.
    let src = "let r = scan(\n  |c, x| {\n    let d = c + x\n    (d, d)\n  },\n  0.0,\n  xs,\n)";
    assert_eq!(
        one(src),
        "(let r (call scan (lambda [c x] {(let d (+ c x)); => (tuple d d)}) 0.0 xs))"
    );
    // A lambda body without braces ends at the end of its line inside a block.
    assert_eq!(
        one("fn f(x, s) { let g = |y| y * s + x\n g(x) + g(2.0) }"),
        "(fn f [x s] {(let g (lambda [y] (+ (* y s) x))); => (+ (call g x) (call g 2.0))})"
    );
}

#[test]
fn line_continuation() {
    assert_eq!(one("let y = a +\n    b"), "(let y (+ a b))");
    assert_eq!(one("let y = a and\n b or\n c"), "(let y (or (and a b) c))");
    assert_eq!(one("let y =\n  1"), "(let y 1)");
    assert_eq!(one("let y = x **\n\n 2"), "(let y (** x 2))");
    assert_eq!(one("let f = |a,\n b|\n a"), "(let f (lambda [a b] a))");
    assert_eq!(one("fn f(x) ->\n f64 = x"), "(fn f [x] -> f64 x)");
    assert_eq!(one("let y = f(a,\n  b\n  ,c)\n"), "(let y (call f a b c))");
    assert_eq!(one("let y = [1,\n 2,\n]"), "(let y [1 2])");
    // A line that starts with an operator does not continue the previous one.
    assert_eq!(file("let y = a\n-b"), vec!["(let y a)", "(- b)"]);
}

#[test]
fn else_may_start_the_next_line() {
    assert_eq!(
        one("if c {\n  a\n}\nelse {\n  b\n}"),
        "(if c {=> a} {=> b})"
    );
    assert_eq!(
        one("let v = if c { 1 }\n\nelse if d { 2 }\nelse\n{ 3 }"),
        "(let v (if c {=> 1} (if d {=> 2} {=> 3})))"
    );
    assert_eq!(file("if c { a }\nb"), vec!["(if c {=> a})", "b"]);
}

#[test]
fn script_only_statements_inside_functions() {
    let d = diags("fn f(x) {\n  var y = x\n  y = y + 1\n  for i in 0..3 { }\n  y\n}");
    let c: Vec<_> = d.iter().map(|d| d.code).collect();
    assert_eq!(
        c,
        vec![
            Code::STATEMENT_IN_FUNCTION,
            Code::STATEMENT_IN_FUNCTION,
            Code::STATEMENT_IN_FUNCTION
        ]
    );
    assert!(d.iter().all(|d| d.hint.is_some()));
    assert_eq!(codes("let g = |x| {\n  var t = x\n  t\n}"), vec!["E0205"]);
    assert_eq!(
        codes("fn f(x) = fori(0, 3, x, |i, c| { c = c + 1\n c })"),
        vec!["E0205"]
    );
    // Script-level `if`/`for` blocks may use them.
    assert_eq!(
        file("var s = 0\nfor i in 0..3 {\n  if i > 0 { s = s + i }\n  var t = s\n}"),
        vec![
            "(var s 0)",
            "(for i 0 3 {(if (> i 0) {(= s (+ s i))}); (var t s)})"
        ]
    );
}

#[test]
fn invalid_assignment_targets() {
    let d = diags("x[0] = 1");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, Code::INVALID_ASSIGN_TARGET);
    assert_eq!(
        d[0].hint.as_deref(),
        Some("arrays are immutable: use `x = x.at[0].set(…)`")
    );
    let d = diags("t.0 = 1");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, Code::INVALID_ASSIGN_TARGET);
    assert!(d[0]
        .hint
        .as_deref()
        .unwrap_or("")
        .contains("arrays are immutable: use `x = x.at[0].set(1)`"));
    assert_eq!(codes("f(x) = 2\nlet a = 1"), vec!["E0204"]);
}

#[test]
fn bad_patterns() {
    assert_eq!(codes("let 3 = x"), vec!["E0206"]);
    assert_eq!(codes("let x.y = 1"), vec!["E0206"]);
    assert_eq!(codes("let f(x) = 1"), vec!["E0206"]);
    assert_eq!(codes("let (a, 1) = t"), vec!["E0206"]);
    assert_eq!(codes("let x: f64 = 1"), vec!["E0201"]);
}

// ----- errors and recovery ------------------------------------------------------------

#[test]
fn three_independent_errors_give_three_diagnostics() {
    let src = "let a = 1 +* 2\nlet b = (2, 3\nlet c = 4 $ 5\nfn ok(x) = x\n";
    let (tree, d) = parse(F, src);
    let c: Vec<_> = d.iter().map(|d| d.code.as_str()).collect();
    // Sorted by position: lexer and parser errors interleave.
    assert_eq!(c, vec!["E0201", "E0202", "E0101"], "{d:#?}");
    // The good statement between the errors survives.
    let names: Vec<_> = tree.stmts.iter().map(stmt).collect();
    assert!(names.contains(&"(fn ok [x] x)".to_string()), "{names:?}");

    let src = "let x = )\nfn f(a) = a +* 2\nlet = 3\nlet ok = 1";
    let (tree, d) = parse(F, src);
    let c: Vec<_> = d.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(c, vec!["E0201", "E0201", "E0206"], "{d:#?}");
    assert_eq!(
        tree.stmts.iter().map(stmt).collect::<Vec<_>>(),
        vec!["(let ok 1)"]
    );
}

#[test]
fn errors_inside_blocks_recover_locally() {
    let src = "fn f(x) {\n  let a = * 2\n  let b = x\n  b\n}\nfn g(y) = y";
    let (tree, d) = parse(F, src);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        tree.stmts.iter().map(stmt).collect::<Vec<_>>(),
        vec!["(fn f [x] {(let b x); => b})", "(fn g [y] y)"]
    );
    let src = "fn f(x) = fori(0, 3, x, |i, c| {\n  let = c\n  c\n})\nlet z = 2";
    let (tree, d) = parse(F, src);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(tree.stmts.len(), 2);
}

#[test]
fn unclosed_delimiters_point_at_the_opener() {
    let src = "let y = f(1, 2\nlet z = 3";
    let (tree, d) = parse(F, src);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, Code::UNCLOSED_DELIMITER);
    let secondary = d[0].labels.iter().find(|l| !l.primary).map(|l| l.span);
    assert_eq!(secondary.map(|s| text_of(src, s)), Some("("));
    assert_eq!(d[0].primary_span().map(|s| text_of(src, s)), Some("let"));
    assert_eq!(
        tree.stmts.iter().map(stmt).collect::<Vec<_>>(),
        vec!["(let z 3)"]
    );

    let src = "fn f(x) {\n  let y = x\n";
    let d = diags(src);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].code, Code::UNCLOSED_DELIMITER);
    let secondary = d[0]
        .labels
        .iter()
        .find(|l| !l.primary)
        .map(|l| l.span.start);
    assert_eq!(secondary, Some(8));
    assert_eq!(
        d[0].primary_span().map(|s| s.start as usize),
        Some(src.len())
    );

    // The stray `}` is skipped with the rest of the broken statement.
    assert_eq!(codes("let a = [1, 2}"), vec!["E0202"]);
    assert_eq!(codes("let a = x[1"), vec!["E0202"]);
    assert_eq!(codes("let a = ((("), vec!["E0202"]);
    assert_eq!(codes("}\nlet a = 1\n)"), vec!["E0201", "E0201"]);
}

#[test]
fn unexpected_tokens_say_what_was_expected() {
    let d = diags("let a = 1 2");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].message, "expected end of statement, found number `2`");
    assert!(d[0].hint.is_some());
    let d = diags("fn f(x) x");
    assert_eq!(d[0].code, Code::UNEXPECTED_TOKEN);
    assert!(d[0].message.contains("`=` or `{`"), "{}", d[0].message);
    let d = diags("if x > 0\n{ 1 }");
    assert!(
        d[0].message.contains("`{` after the `if` condition"),
        "{}",
        d[0].message
    );
    let d = diags("for i in 0:3 { }");
    assert!(d[0].message.contains("`..`"), "{}", d[0].message);
    // A lexer error is not reported a second time by the parser.
    assert_eq!(codes("let a = $"), vec!["E0101"]);
    assert_eq!(codes("let s = \"abc"), vec!["E0102"]);
}

#[test]
fn parse_expr_requires_one_whole_expression() {
    assert_eq!(e("\n [1.0, 2.0]\n"), "[1.0 2.0]");
    assert!(parse_expr(F, "1 +").is_err());
    assert!(parse_expr(F, "1 2").is_err());
    assert!(parse_expr(F, "").is_err());
    assert!(parse_expr(F, "a < b < c").is_err());
    let Err(d) = parse_expr(F, "(1, 2") else {
        panic!("should fail")
    };
    assert_eq!(d[0].code, Code::UNCLOSED_DELIMITER);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // Run on an explicit 2 MiB stack (the default for spawned threads) so the test
    // checks the guarantee rather than whatever stack the harness happens to give.
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(deep_nesting_cases);
    let joined = worker.map(|h| h.join());
    assert!(matches!(joined, Ok(Ok(()))), "deep nesting test failed");
}

fn deep_nesting_cases() {
    let n = 5000;
    let cases = [
        format!("let a = {}1{}", "(".repeat(n), ")".repeat(n)),
        format!("let a = {}1{}", "[".repeat(n), "]".repeat(n)),
        format!("let a = {}1{}", "{".repeat(n), "}".repeat(n)),
        format!("let a = {}1", "f(".repeat(n)),
        format!("let a = {}1", "x[".repeat(n)),
        format!("let a = {}x", "-".repeat(n)),
        format!("let a = {}x", "not ".repeat(n)),
        format!("let a = {}x", "|x| ".repeat(n)),
        format!("let a = x{}", " ** x".repeat(n)),
        format!("let a = {}1", "if c { 1 } else ".repeat(n)),
        format!("let {} = 1", "(".repeat(n)),
        format!("fn f(x: {}) = 1", "(".repeat(n)),
        "fn f() {".repeat(n),
        "(".repeat(n),
        "{".repeat(n),
    ];
    for src in &cases {
        let d = diags(&format!("{src}\nlet ok = 1"));
        assert!(
            !d.is_empty() && d.len() <= 2,
            "{} diagnostics: {d:?}",
            d.len()
        );
        assert!(
            d.iter()
                .any(|d| d.message == "expression nested too deeply"),
            "{d:?}"
        );
    }
    // Nesting well below the limit is fine.
    let ok = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(e(&ok), "1");
}

#[test]
fn hints_explain_common_mistakes() {
    // A trailing operator pulls the next line into the expression.
    let d = diags("let a = 1 +\nlet b = 2");
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].hint.as_deref().unwrap_or("").contains("ends with `+`"),
        "{d:?}"
    );
    let d = diags("else { 1 }");
    assert!(d[0].hint.as_deref().unwrap_or("").contains("`if`"), "{d:?}");
    // Only `var` among the keywords is a valid field name.
    assert_eq!(codes("let a = x.if"), vec!["E0201"]);
    let d = diags("fn f(x) {\n  for i in 0..3 { }\n  x\n}");
    assert!(d[0].hint.as_deref().unwrap_or("").contains("fori"), "{d:?}");
}
