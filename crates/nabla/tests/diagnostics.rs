//! The diagnostics corpus: every program in `tests/diagnostics/` is invalid in one way
//! (a few in several, to show parser recovery). Each one must fail with error
//! diagnostics that have a stable code and a span, never a panic or an internal error,
//! and its rendered diagnostics are snapshot-tested (`snapshots/diagnostics__*.snap`).
//!
//! After changing a message on purpose, regenerate the snapshots with
//! `INSTA_UPDATE=always cargo test -p nabla --test diagnostics` and review the diff.

use std::path::{Path, PathBuf};

use nabla::{Code, Session, Stdout};

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/diagnostics");
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("cannot open the corpus {}: {e}", dir.display()))
}

/// The corpus programs, sorted by name.
fn corpus() -> Vec<(String, String)> {
    let dir = corpus_dir();
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("the corpus folder is readable")
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "nbl"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("a readable corpus file");
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// Runs one program in a fresh session and returns its rendered diagnostics, with the
/// corpus folder's absolute path replaced so snapshots do not depend on the checkout.
fn diagnose(dir: &Path, name: &str, text: &str) -> String {
    let mut s = Session::new();
    s.set_stdout(Stdout::Capture);
    s.set_base_dir(dir);
    let diags = match s.run_source(name, text) {
        Ok(v) => panic!(
            "{name}: ran without an error (value {v:?}, output {:?}); \
             every corpus program must fail",
            s.take_output()
        ),
        Err(d) => d,
    };
    assert!(
        diags.has_errors(),
        "{name}: no error diagnostics: {diags:?}"
    );
    for d in &diags.0 {
        let code = d.code.as_str();
        assert!(
            code.len() == 5 && code.starts_with('E'),
            "{name}: bad code {code}"
        );
        assert_ne!(d.code, Code::INTERNAL, "{name}: internal error: {d:?}");
        assert!(!d.message.is_empty(), "{name}: empty message: {d:?}");
        assert!(
            d.primary_span().is_some(),
            "{name}: a diagnostic without a span: {d:?}"
        );
    }
    let rendered = s.render(&diags);
    assert!(
        rendered.contains(name),
        "{name}: the rendering does not name the file:\n{rendered}"
    );
    let dir_text = dir.display().to_string();
    rendered.replace(&dir_text, "tests/diagnostics")
}

#[test]
fn corpus_is_large_enough() {
    let n = corpus().len();
    assert!(n >= 45, "only {n} programs in tests/diagnostics");
}

#[test]
fn every_program_fails_with_coded_diagnostics() {
    let dir = corpus_dir();
    for (name, text) in corpus() {
        let rendered = diagnose(&dir, &name, &text);
        let stem = name.trim_end_matches(".nbl").to_string();
        insta::with_settings!({
            description => format!("tests/diagnostics/{name}"),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(stem, rendered);
        });
    }
}

/// Static checking never panics either, and whatever it reports carries a code and a
/// span.
#[test]
fn check_source_reports_cleanly() {
    for (name, text) in corpus() {
        let mut s = Session::new();
        let diags = s.check_source(&name, &text);
        for d in &diags.0 {
            assert_ne!(d.code, Code::INTERNAL, "{name}: internal error: {d:?}");
            assert!(
                d.primary_span().is_some(),
                "{name}: a diagnostic without a span: {d:?}"
            );
        }
        let rendered = s.render(&diags);
        assert!(diags.0.is_empty() || rendered.contains(&name), "{rendered}");
    }
}

/// Static errors are found before anything runs: the `print` before the bad assignment
/// must not happen, and `check` reports the same error.
#[test]
fn assignment_to_let_is_reported_before_the_script_runs() {
    let src = "print(\"ran\")\nlet s = 0.0\nfor i in 0..3 { s = s + 1.0 }\n";
    let mut s = Session::new();
    s.set_stdout(Stdout::Capture);
    let err = s
        .run_source("t.nbl", src)
        .expect_err("assigning a let must fail");
    assert!(
        err.0.iter().any(|d| d.code == Code::ASSIGN_TO_LET),
        "{}",
        s.render(&err)
    );
    assert_eq!(s.take_output(), "", "the script ran before the error");
    // Rebinding a `var`, also from a nested block, and shadowing in a block are fine.
    let ok = "var s = 0.0\nfor i in 0..3 { s = s + 1.0 }\nlet t = 1\nif true { var t = 2\n t = 3 }\nprint(s)\n";
    let mut s = Session::new();
    s.set_stdout(Stdout::Capture);
    if let Err(d) = s.run_source("ok.nbl", ok) {
        panic!("{}", s.render(&d));
    }
    assert_eq!(s.take_output().trim(), "3.0");
}
