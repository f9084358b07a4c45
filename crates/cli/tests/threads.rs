//! The CPU backend gives the same bits for every thread count: reductions follow the
//! canonical order whatever the split of the work, and matrix products split only
//! their output between threads.

use std::process::Command;

const SCRIPT: &str = "fn f(x) = (sum(x * x), sum(sin(x) * 1e-3, axis=0), max(x), mean(exp(-x * x)))\n\
                      let x = normal(key(3), [300001, 3])\n\
                      let (a, b, c, d) = f(x)\n\
                      print(a, b, c, d)\n\
                      fn g(k) = 4.0 * mean(f64(sum(uniform(k, [2, 200000], lo=-1.0, hi=1.0) ** 2, axis=0) < 1.0))\n\
                      print(g(key(7)))\n";

/// `stats.cdist` (a product read through a transpose, then an elementwise epilogue),
/// checked element by element through a weighted sum, and `x.T @ y` on the matrix path.
const CDIST: &str = "use stats\n\
                     let ks = split(key(11), n=3)\n\
                     let x = uniform(ks[0], [300, 70])\n\
                     let y = uniform(ks[1], [250, 70])\n\
                     fn f(x, y) = stats.cdist(x, y)\n\
                     fn g(x, y) = x.T @ y\n\
                     let w = uniform(ks[2], [300, 250])\n\
                     print(sum(f(x, y) * w), sum(f(x, y)))\n\
                     print(sum(g(x[:250], y) * w[:70, :70]))\n";

#[test]
fn results_are_bitwise_identical_for_every_thread_count() {
    same_bits_for_every_thread_count(SCRIPT, "threads");
}

#[test]
fn cdist_is_bitwise_identical_for_every_thread_count() {
    same_bits_for_every_thread_count(CDIST, "cdist");
}

fn same_bits_for_every_thread_count(script: &str, name: &str) {
    let dir = std::env::temp_dir().join(format!("nabla-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join(format!("{name}.nbl"));
    std::fs::write(&path, script).expect("the script is written");
    let run = |threads: &str, backend: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_nabla"))
            .args(["run", "--backend", backend])
            .arg(&path)
            .env("NABLA_THREADS", threads)
            .output()
            .expect("the nabla binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Transcendental functions may differ from the interpreter's in the last ulp (their
    // bounds are tested elsewhere); across thread counts nothing may differ.
    let reference = run("1", "cpu");
    for threads in ["2", "3", "4", "8"] {
        assert_eq!(run(threads, "cpu"), reference, "NABLA_THREADS={threads}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
