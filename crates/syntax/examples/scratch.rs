//! scratch
fn main() {
    let src = std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap();
    let mut sm = nabla_diag::SourceMap::new();
    let f = sm.add("t.nbl", src.clone());
    let (tree, d) = nabla_syntax::parse(f, &src);
    println!("{} stmts", tree.stmts.len());
    print!("{}", nabla_diag::render(&sm, &d));
}
