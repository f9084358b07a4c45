//! `randint` against JAX's values (JAX 0.10.2, 64-bit types enabled, partitionable
//! threefry), on the interpreter and the compiled backend: the 32-bit algorithm for
//! i32 and the 64-bit one for i64, spans beyond 2^32 and up to 2^64 - 1 included.

use nabla::{Backend, Session, Stdout};

/// The integers a script prints, on `backend`.
fn printed(backend: Backend, src: &str) -> Vec<i64> {
    let mut s = Session::with_backend(backend).expect("both backends are built in");
    s.set_stdout(Stdout::Capture);
    if let Err(d) = s.run_source("t.nbl", src) {
        panic!("{}", s.render(&d));
    }
    s.take_output()
        .split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .filter_map(|w| w.parse::<i64>().ok())
        .collect()
}

/// (call, JAX's `jax.random.randint(PRNGKey(seed), shape, lo, hi, dtype)` flattened).
const CASES: &[(&str, &[i64])] = &[
    (
        "randint(key(1), [6], 0, 1099511627776, dtype=i64)",
        &[
            689946539100,
            833367205485,
            223238317267,
            87864724349,
            527470925530,
            863407479909,
        ],
    ),
    (
        "randint(key(1), [6], 0, 5000000000, dtype=i64)",
        &[
            1176949340, 3698938477, 471858899, 201211261, 1331623642, 4753982565,
        ],
    ),
    (
        "randint(key(1), [6], -3, 3, dtype=i64)",
        &[1, -2, 0, 0, -3, -2],
    ),
    (
        // The whole i64 range: a span of 2^64 - 1, above 2^63.
        "randint(key(7), [2, 3], -9223372036854775807 - 1, 9223372036854775807, dtype=i64)",
        &[
            -3665446470981240635,
            -2306596331235500099,
            4868884872125321602,
            2138368898218409155,
            -1481486239166798653,
            -3808750829681874390,
        ],
    ),
    (
        // A span of 3 · 2^62, above 2^63: a quarter of the words exceed it.
        "randint(key(5), [8], -9223372036854775807 - 1, 4611686018427387904, dtype=i64)",
        &[
            -5598737921219132793,
            -677194450128623748,
            -1670085502682766622,
            -9190626598371800123,
            3947466511453190876,
            -6540591559524394860,
            3894904016994585354,
            -1307132493956517071,
        ],
    ),
    (
        "randint(key(7), [5], 10, 3, dtype=i64)",
        &[10, 10, 10, 10, 10],
    ),
    (
        // The default dtype is i64.
        "randint(key(11), [4], 0, 4611686018427400249)",
        &[
            1228949295767499146,
            2780079190791549791,
            1787689766960042845,
            3679194076896621132,
        ],
    ),
    (
        "randint(key(3), [6], 0, 100, dtype=i32)",
        &[95, 39, 5, 54, 16, 72],
    ),
    (
        "randint(key(3), [6], -5, 5, dtype=i32)",
        &[0, 4, 0, -1, 1, -3],
    ),
];

#[test]
fn randint_gives_jax_s_values_on_both_backends() {
    for backend in [Backend::Interp, Backend::Cpu] {
        for &(call, want) in CASES {
            let got = printed(backend, &format!("print({call})\n"));
            assert_eq!(got, want, "{call} on {backend:?}");
        }
    }
}
