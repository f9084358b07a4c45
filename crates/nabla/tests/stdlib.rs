//! The standard library's numerical choices, checked through the language: the Gram
//! form of `stats.cdist` against the difference form, and where it loses accuracy.

use nabla::{Session, Stdout};

fn run(src: &str) -> Vec<f64> {
    let mut s = Session::new();
    s.set_stdout(Stdout::Capture);
    if let Err(d) = s.run_source("t.nbl", src) {
        panic!("{}", s.render(&d));
    }
    s.take_output()
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect()
}

#[test]
fn cdist_gram_form_agrees_with_the_difference_form() {
    let got = run("use stats\n\
         let ks = split(key(7), n=2)\n\
         let x = normal(ks[0], [40, 13])\n\
         let y = normal(ks[1], [31, 13])\n\
         let a = stats.cdist(x, y)\n\
         let b = stats.cdist_exact(x, y)\n\
         print(max(abs(a - b) / b))\n\
         print(min(stats.cdist(x, x)))\n\
         print(sum(f64(stats.cdist(x, x) < 0.0)))\n");
    assert!(got[0] < 1e-13, "relative difference {}", got[0]);
    // Coincident points: clamped, never NaN or negative.
    assert!(got[1] >= 0.0 && got[1] < 1e-6, "{}", got[1]);
    assert_eq!(got[2], 0.0);
}
