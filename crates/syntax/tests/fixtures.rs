//! Every valid program we know of (LANGUAGE.md's examples, the JAX oracle cases) parses
//! with zero diagnostics, as does the script the oracle harness wraps around each case.

use nabla_diag::FileId;
use nabla_syntax::ast::StmtKind;
use nabla_syntax::{parse, parse_expr};

const FIXTURE: &str = include_str!("fixtures/valid_sources.txt");

struct Case {
    name: String,
    call: Option<String>,
    source: String,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in FIXTURE.lines() {
        if let Some(name) = line.strip_prefix("### case: ") {
            cases.push(Case {
                name: name.to_string(),
                call: None,
                source: String::new(),
            });
        } else if let Some(call) = line.strip_prefix("### call: ") {
            if let Some(case) = cases.last_mut() {
                case.call = Some(call.to_string());
            }
        } else if let Some(case) = cases.last_mut() {
            case.source.push_str(line);
            case.source.push('\n');
        }
    }
    cases
}

#[test]
fn fixture_file_has_all_cases() {
    let cases = cases();
    // One LANGUAGE.md example plus the 148 oracle cases.
    assert_eq!(cases.len(), 149);
    assert!(cases.iter().all(|c| !c.source.trim().is_empty()));
}

#[test]
fn every_valid_source_parses_cleanly() {
    let mut failures = Vec::new();
    for case in cases() {
        let (tree, diags) = parse(FileId(1), &case.source);
        if !diags.is_empty() {
            failures.push(format!("{}: {diags:?}", case.name));
            continue;
        }
        // Each `fn` line is one function item, so the tree cannot have lost or merged any.
        let fn_lines = case.source.lines().filter(|l| l.starts_with("fn ")).count();
        let fn_items = tree
            .stmts
            .iter()
            .filter(|s| matches!(s.kind, StmtKind::Fn(_)))
            .count();
        if fn_lines != fn_items {
            failures.push(format!(
                "{}: {fn_lines} `fn` lines but {fn_items} fn items",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_oracle_call_and_harness_script_parses_cleanly() {
    let mut failures = Vec::new();
    for case in cases() {
        let Some(call) = &case.call else { continue };
        if let Err(d) = parse_expr(FileId(2), call) {
            failures.push(format!("{} call {call:?}: {d:?}", case.name));
        }
        // The script form of a case described in ../shared/oracle/README.md.
        let script = format!(
            "{}let arg0 = load(\"a0.npy\")\nlet arg1 = (load(\"a1_0.npy\"), key(7))\n\
             let out = {call}(arg0, arg1)\nsave(\"o_0.npy\", (out).0)\n",
            case.source
        );
        let (tree, diags) = parse(FileId(3), &script);
        if !diags.is_empty() {
            failures.push(format!("{} script: {diags:?}", case.name));
        } else if tree.stmts.len() < 4 {
            failures.push(format!(
                "{} script: only {} statements",
                case.name,
                tree.stmts.len()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The project's own Nabla code (stdlib modules and examples) parses cleanly too.
#[test]
fn stdlib_and_examples_parse_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seen = 0;
    let mut failures = Vec::new();
    for dir in ["stdlib", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "nbl") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                failures.push(format!("{}: unreadable", path.display()));
                continue;
            };
            seen += 1;
            let (_, diags) = parse(FileId(4), &text);
            if !diags.is_empty() {
                failures.push(format!("{}: {diags:#?}", path.display()));
            }
        }
    }
    assert!(seen >= 3, "expected the stdlib's .nbl files, found {seen}");
    assert!(failures.is_empty(), "{failures:#?}");
}
