//! The line-editing REPL: each line runs in one persistent session; a line that fails
//! reports its diagnostics and leaves the session as it was.

use std::process::ExitCode;

use nabla::Session;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".nabla_history"))
}

/// Whether brackets are still open, so the statement continues on the next line.
fn incomplete(text: &str) -> bool {
    let mut depth = 0i32;
    let mut in_str = false;
    let mut prev = ' ';
    for c in text.chars() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '(' | '[' | '{' if !in_str => depth += 1,
            ')' | ']' | '}' if !in_str => depth -= 1,
            _ => {}
        }
        prev = c;
    }
    depth > 0
}

pub fn run() -> ExitCode {
    let mut editor = match DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(p) = history_path() {
        let _ = editor.load_history(&p);
    }
    let mut session = Session::new();
    println!(
        "Nabla {} — type statements; Ctrl-D to quit.",
        env!("CARGO_PKG_VERSION")
    );
    let mut n = 0;
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { ">>> " } else { "... " };
        match editor.readline(prompt) {
            Ok(line) => {
                buffer.push_str(&line);
                buffer.push('\n');
                if incomplete(&buffer) {
                    continue;
                }
                let text = std::mem::take(&mut buffer);
                if text.trim().is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(text.trim_end());
                n += 1;
                match session.run_source(&format!("<repl:{n}>"), &text) {
                    Ok(Some(v)) if !matches!(v, nabla::Value::None) => {
                        println!("{}", session.format_value(&v));
                    }
                    Ok(_) => {}
                    Err(d) => eprint!("{}", session.render(&d)),
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: {e}");
                break;
            }
        }
    }
    if let Some(p) = history_path() {
        let _ = editor.save_history(&p);
    }
    ExitCode::SUCCESS
}
