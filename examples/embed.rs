//! Embedding Nabla in a Rust program: run source, call its functions on arrays built
//! from `Vec`s and `ndarray`, and render a diagnostic. Run it with
//! `cargo run -p nabla --example embed`.

use nabla::ndarray::array;
use nabla::{Array, Output, Session, Stdout};

/// Everything the example prints, returned so the test suite can check it.
pub fn run() -> Result<String, String> {
    let mut out = String::new();
    let mut session = Session::new();
    session.set_stdout(Stdout::Capture);

    // Functions written in Nabla, using the standard library.
    let source = "use stats\n\
                  fn energy(x) = sum(x * x)\n\
                  fn pairwise(a, b) = cdist(a, b)\n";
    session
        .run_source("model.nbl", source)
        .map_err(|d| session.render(&d))?;

    // A plain Vec in, a scalar out.
    let x = Array::from_vec(vec![4], vec![1.0f64, 2.0, 3.0, 4.0]).map_err(|e| e.to_string())?;
    let e = session
        .call("energy", vec![x.into()])
        .map_err(|d| session.render(&d))?;
    let e = e
        .as_array()
        .and_then(|a| a.to_vec::<f64>())
        .ok_or("energy is not f64")?;
    out.push_str(&format!("energy = {}\n", e[0]));

    // ndarray in, ndarray out.
    let a = array![[0.0f64, 0.0], [3.0, 4.0]].into_dyn();
    let b = array![[0.0f64, 0.0], [6.0, 8.0]].into_dyn();
    let d = session
        .call("pairwise", vec![Output::from(a), Output::from(b)])
        .map_err(|d| session.render(&d))?;
    let d = nabla::ndarray::ArrayD::<f64>::try_from(d).map_err(|e| e.to_string())?;
    out.push_str(&format!("distances = {:?}\n", d.iter().collect::<Vec<_>>()));

    // A shape error comes back as a diagnostic, rendered like the CLI renders it.
    let bad = Array::from_vec(vec![2, 3], vec![0.0f64; 6]).map_err(|e| e.to_string())?;
    let ok = Array::from_vec(vec![2, 2], vec![0.0f64; 4]).map_err(|e| e.to_string())?;
    match session.call("pairwise", vec![bad.into(), ok.into()]) {
        Ok(_) => return Err("mismatched widths were accepted".into()),
        Err(diags) => {
            let first = diags.0.first().ok_or("no diagnostic")?;
            out.push_str(&format!(
                "error {}: {}\n",
                first.code.as_str(),
                first.message
            ));
        }
    }
    Ok(out)
}

#[allow(dead_code)] // The test suite includes this file as a module and calls `run`.
fn main() {
    match run() {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
