//! The CPU backend gives the same bits for every thread count: reductions follow the
//! canonical order whatever the split of the work.

use std::process::Command;

const SCRIPT: &str = "fn f(x) = (sum(x * x), sum(sin(x) * 1e-3, axis=0), max(x), mean(exp(-x * x)))\n\
                      let x = normal(key(3), [300001, 3])\n\
                      let (a, b, c, d) = f(x)\n\
                      print(a, b, c, d)\n\
                      fn g(k) = 4.0 * mean(f64(sum(uniform(k, [2, 200000], lo=-1.0, hi=1.0) ** 2, axis=0) < 1.0))\n\
                      print(g(key(7)))\n";

#[test]
fn results_are_bitwise_identical_for_every_thread_count() {
    let dir = std::env::temp_dir().join(format!("nabla-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join("threads.nbl");
    std::fs::write(&path, SCRIPT).expect("the script is written");
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
