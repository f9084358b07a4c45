//! Times `dot_general` on the CPU backend: square matrix products (median of 5, in
//! GFLOP/s), and the vector and small cases against calling `gemm` directly, which is
//! how the thresholds in `nabla_cpu::gemm` were chosen.
//!
//! Run with `cargo run --release -p nabla-cpu --example gemm_bench [threads]`.

use std::time::Instant;

use nabla_cpu::gemm::dot_general;
use nabla_ir::{Array, Data};

/// Median and fastest of 5 timed runs (after one warm-up run).
fn timings(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut t: Vec<f64> = (0..5)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[2], t[0])
}

fn median_secs(f: impl FnMut()) -> f64 {
    timings(f).0
}

fn array(shape: &[usize], f32: bool) -> Array {
    let n: usize = shape.iter().product();
    let v = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5);
    let data = if f32 {
        Data::F32(v.map(|x| x as f32).collect())
    } else {
        Data::F64(v.collect())
    };
    Array::new(shape.to_vec(), data).expect("the data has the shape's length")
}

/// `gemm` on plain slices, for comparison with `dot_general`'s own loops.
fn raw_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    b: &[f64],
    c: &mut [f64],
    par: gemm::Parallelism,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: row-major `m × k`, `k × n` and `m × n` blocks inside the checked slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("threads: {threads}");

    println!("\nsquare products (median of 5):");
    for n in [1024, 2048] {
        for f32 in [true, false] {
            let (a, b) = (array(&[n, n], f32), array(&[n, n], f32));
            for t in [1, threads] {
                let (median, best) = timings(|| {
                    dot_general(&a, &b, &[1], &[0], &[], &[], t).expect("valid product");
                });
                let gflops = |s: f64| 2.0 * (n as f64).powi(3) / s / 1e9;
                let ty = if f32 { "f32" } else { "f64" };
                println!(
                    "  {n}² {ty} threads {t}: median {:8.2} ms {:6.1} GFLOP/s (best {:6.1})",
                    median * 1e3,
                    gflops(median),
                    gflops(best)
                );
            }
        }
    }

    println!("\nvector cases, f64 (dot_general vs gemm called directly, 1 thread):");
    let n = 4096;
    let (w, x) = (array(&[n, n], false), array(&[n], false));
    let (wv, xv) = (
        w.to_vec::<f64>().unwrap_or_default(),
        x.to_vec::<f64>().unwrap_or_default(),
    );
    let mut out = vec![0.0; n];
    let flops = 2.0 * (n * n) as f64;
    let report = |name: &str, s: f64, flops: f64| {
        println!(
            "  {name:32} {:8.3} ms  {:6.2} GFLOP/s",
            s * 1e3,
            flops / s / 1e9
        );
    };
    report(
        "W @ x  (dot_general)",
        median_secs(|| drop(dot_general(&w, &x, &[1], &[0], &[], &[], 1))),
        flops,
    );
    report(
        "W @ x  (gemm, n = 1)",
        median_secs(|| raw_gemm(n, 1, n, &wv, &xv, &mut out, gemm::Parallelism::None)),
        flops,
    );
    report(
        "x @ W  (dot_general)",
        median_secs(|| drop(dot_general(&x, &w, &[0], &[0], &[], &[], 1))),
        flops,
    );
    report(
        "x @ W  (gemm, m = 1)",
        median_secs(|| raw_gemm(1, n, n, &xv, &wv, &mut out, gemm::Parallelism::None)),
        flops,
    );
    report(
        &format!("W @ x  (dot_general, {threads} threads)"),
        median_secs(|| drop(dot_general(&w, &x, &[1], &[0], &[], &[], threads))),
        flops,
    );
    let big = n * n;
    let (u, v) = (
        w.reshaped([big]).expect("same size"),
        w.reshaped([big]).expect("same size"),
    );
    let mut one = [0.0];
    report(
        "u · v, k = 2^24 (dot_general)",
        median_secs(|| drop(dot_general(&u, &v, &[0], &[0], &[], &[], 1))),
        2.0 * big as f64,
    );
    report(
        "u · v, k = 2^24 (gemm)",
        median_secs(|| raw_gemm(1, 1, big, &wv, &wv, &mut one, gemm::Parallelism::None)),
        2.0 * big as f64,
    );

    println!("\nsmall batched products, f64, 1 thread (dot_general vs one gemm call per batch):");
    for s in [4, 8, 16, 24] {
        let nb = (1 << 21) / (s * s * s);
        let (a, b) = (array(&[nb, s, s], false), array(&[nb, s, s], false));
        let (av, bv) = (
            a.to_vec::<f64>().unwrap_or_default(),
            b.to_vec::<f64>().unwrap_or_default(),
        );
        let mut c = vec![0.0; nb * s * s];
        let flops = 2.0 * (nb * s * s * s) as f64;
        report(
            &format!("{nb} × {s}³ (dot_general)"),
            median_secs(|| drop(dot_general(&a, &b, &[2], &[1], &[0], &[0], 1))),
            flops,
        );
        let ss = s * s;
        report(
            &format!("{nb} × {s}³ (gemm per batch)"),
            median_secs(|| {
                for i in 0..nb {
                    let r = i * ss..(i + 1) * ss;
                    raw_gemm(
                        s,
                        s,
                        s,
                        &av[r.clone()],
                        &bv[r.clone()],
                        &mut c[r],
                        gemm::Parallelism::None,
                    );
                }
            }),
            flops,
        );
    }
}
