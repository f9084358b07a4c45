//! Runs the JAX oracle cases (`tests/oracle/jax_cases.json`) end to end through
//! `nabla run`: arguments go in as `.npy` files read with `load`, results come back
//! through `save`, and are compared with JAX's results by the same rule as the
//! embedding-API test (`crates/nabla/tests/oracle.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use nabla::Output;
use serde_json::Value as Json;

#[path = "../../nabla/tests/oracle_support/mod.rs"]
mod oracle_support;
use oracle_support::{cases, judge, seed, to_array, to_output};

/// Each case is a process; a few at a time keep the test quick without starving a
/// small machine.
const THREADS: usize = 4;

/// Writes the arrays of an argument into `dir` and returns the script expression that
/// rebuilds it: `load("a0.npy")`, `(load("a0_0.npy"), load("a0_1.npy"))` or `key(7)`.
fn arg_expr(v: &Json, stem: &str, dir: &Path) -> String {
    if let Some(items) = v.get("tuple") {
        let items = items.as_array().expect("a tuple value holds a list");
        let parts: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, item)| arg_expr(item, &format!("{stem}_{i}"), dir))
            .collect();
        // A one-element tuple needs its trailing comma.
        return match parts.len() {
            1 => format!("({},)", parts[0]),
            _ => format!("({})", parts.join(", ")),
        };
    }
    if v.get("key").is_some() {
        return format!("key({})", seed(v));
    }
    let file = format!("{stem}.npy");
    nabla::io::write_npy(&dir.join(&file), &to_array(v))
        .unwrap_or_else(|e| panic!("cannot write {file}: {e}"));
    format!("load(\"{file}\")")
}

/// One `save` per leaf of the expected value: `out` to `o.npy` when it is an array,
/// `out.1` to `o_1.npy`, `out.0.1` to `o_0_1.npy` and so on inside tuples.
fn save_stmts(want: &Output, expr: &str, stem: &str, stmts: &mut Vec<String>) {
    match want {
        Output::Array(_) => stmts.push(format!("save(\"{stem}.npy\", {expr})")),
        Output::Tuple(items) => {
            for (i, item) in items.iter().enumerate() {
                save_stmts(item, &format!("{expr}.{i}"), &format!("{stem}_{i}"), stmts);
            }
        }
    }
}

/// Reads back what [`save_stmts`] saved, shaped like the expected value.
fn read_saved(want: &Output, stem: &str, dir: &Path) -> Result<Output, String> {
    match want {
        Output::Array(_) => nabla::io::read_npy(&dir.join(format!("{stem}.npy")))
            .map(Output::Array)
            .map_err(|e| format!("reading {stem}.npy: {e}")),
        Output::Tuple(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| read_saved(item, &format!("{stem}_{i}"), dir))
            .collect::<Result<Vec<_>, _>>()
            .map(Output::Tuple),
    }
}

/// A scratch directory for one case, removed when dropped (also when the case fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(case: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("nabla-oracle-cli-{}-{case}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Leftovers in the temp directory are harmless; a failure here must not hide
        // the case's own result.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: Option<i32>,
    stderr: String,
    got: Result<Output, String>,
}

/// Writes the case's script and arguments, runs `nabla run case.nbl` and reads back
/// the saved results.
fn run_case(case: &Json, name: &str, want: &Output) -> Run {
    let scratch = Scratch::new(name);
    let dir = &scratch.0;
    let args: Vec<String> = case["args"]
        .as_array()
        .expect("args is a list")
        .iter()
        .enumerate()
        .map(|(i, a)| arg_expr(a, &format!("a{i}"), dir))
        .collect();
    let mut script = format!("{}\n", case["source"].as_str().expect("source is text"));
    let mut params = Vec::new();
    for (i, a) in args.iter().enumerate() {
        script.push_str(&format!("let arg{i} = {a}\n"));
        params.push(format!("arg{i}"));
    }
    let call = case["call"].as_str().expect("call is text");
    script.push_str(&format!("let out = {call}({})\n", params.join(", ")));
    let mut saves = Vec::new();
    save_stmts(want, "out", "o", &mut saves);
    for s in saves {
        script.push_str(&s);
        script.push('\n');
    }
    std::fs::write(dir.join("case.nbl"), &script).expect("the scratch directory is writable");

    let out = Command::new(env!("CARGO_BIN_EXE_nabla"))
        .args(["run", "case.nbl"])
        .current_dir(dir)
        .output()
        .expect("the nabla binary runs");
    let code = out.status.code();
    let got = if code == Some(0) {
        read_saved(want, "o", dir)
    } else {
        Err("not run".into())
    };
    Run {
        code,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        got,
    }
}

enum Outcome {
    Passed,
    Failed(String),
}

fn check_case(case: &Json) -> Outcome {
    let name = case["name"].as_str().expect("a case has a name");
    let want = to_output(&case["expect"]);
    let run = run_case(case, name, &want);

    if run.code != Some(0) {
        return Outcome::Failed(format!("{name}: exit {:?}:\n{}", run.code, run.stderr));
    }
    let got = match run.got {
        Ok(g) => g,
        Err(e) => return Outcome::Failed(format!("{name}: {e}")),
    };
    let tol = case["tol"].as_f64().expect("a case has a numeric tol");
    let result = judge(name, &got, &want, tol);
    match result {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(e),
    }
}

#[test]
fn every_oracle_case_runs_through_nabla_run_with_npy_files() {
    let cases = cases();
    let chunk = cases.len().div_ceil(THREADS).max(1);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let workers: Vec<_> = cases
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(check_case).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker thread panicked"))
            .collect()
    });

    let passed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Passed))
        .count();
    let failures: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(e) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed ({passed} passed):\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
    assert!(passed >= 148, "only {passed} cases passed");
}
