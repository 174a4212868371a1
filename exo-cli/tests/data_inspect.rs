//! End-to-end: `exo data inspect` on the exo-data fixtures.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../exo-data/tests/fixtures")
        .join(name)
}

#[allow(clippy::expect_used)] // test helper: a failure to start exo is a test failure
fn exo(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_exo"))
        .args(args)
        .output()
        .expect("run exo");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn a_clean_file_with_a_tokenizer() {
    let tok = path("tokenizer/tokenizer.json");
    let (code, out, err) = exo(&[
        "data",
        "inspect",
        &path("trl_standard.jsonl"),
        "--tokenizer",
        &tok,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("format:    json lines, preference pairs (prompt/chosen/rejected)"),
        "{out}"
    );
    assert!(
        out.contains("records:   3 usable, 0 with errors, 0 warnings (3 read)"),
        "{out}"
    );
    assert!(out.contains("K:         2 completions per prompt"), "{out}");
    assert!(
        out.contains("tokenizer: bos <s> added once, eos </s> appended once, pad <pad>"),
        "{out}"
    );
    assert!(
        out.contains("p50") && out.contains("prompt + longest compl."),
        "{out}"
    );
    assert!(
        out.contains("0 records would be truncated, 0 dropped"),
        "{out}"
    );
    assert!(
        out.contains("prompt (4 tokens): \"<s>The sky is\""),
        "{out}"
    );
    assert!(out.contains("chosen (3 tokens): \" blue.</s>\""), "{out}");
    assert!(out.contains("errors (0):"), "{out}");
}

#[test]
fn errors_are_listed_with_lines_and_fail_the_exit_code() {
    let file = path("errors/wrong_type.jsonl");
    let (code, out, _) = exo(&["data", "inspect", &file]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("records:   1 usable, 2 with errors"), "{out}");
    assert!(
        out.contains(&format!(
            "  {file}:2: field \"chosen\": expected a string, found null"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  {file}:3: field \"rejected\": expected a string, found a number"
        )),
        "{out}"
    );
    assert!(out.contains("give --tokenizer"), "{out}");
}

#[test]
fn truncation_and_drop_counts() {
    let tok = path("tokenizer/tokenizer.json");
    let file = path("exo/rw/train.json");
    let (code, out, _) = exo(&[
        "data",
        "inspect",
        &file,
        "--tokenizer",
        &tok,
        "--max-length",
        "6",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("K:         3 completions per prompt"), "{out}");
    assert!(out.contains("limits:    max_length 6, max_prompt_length none, keep-end, over-length records: truncate"), "{out}");
    assert!(
        out.contains("1 records would be truncated, 1 dropped"),
        "{out}"
    );
    assert!(
        out.contains("1 dropped: prompt leaves no room for the completion"),
        "{out}"
    );
    let (_, out, _) = exo(&[
        "data",
        "inspect",
        &file,
        "--tokenizer",
        &tok,
        "--max-length",
        "6",
        "--drop-over-length",
    ]);
    assert!(
        out.contains("0 records would be truncated, 2 dropped"),
        "{out}"
    );
}

#[test]
fn conversational_data_uses_the_chat_template_next_to_the_tokenizer() {
    let tok = path("tokenizer/tokenizer.json");
    let (code, out, err) = exo(&[
        "data",
        "inspect",
        &path("trl_conversational.jsonl"),
        "--tokenizer",
        &tok,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("conversational (message lists, chat template)"),
        "{out}"
    );
    // BOS once although the template prints it; EOS once although the template closes the turn.
    assert!(
        out.contains("prompt (") && out.contains("\"<s><|im_start|>user\\nWhat color is the sky?"),
        "{out}"
    );
    assert!(out.contains("\"It is blue.</s>\""), "{out}");
}

#[test]
fn warnings_pass_unless_strict_and_unknown_formats_fail() {
    let file = path("errors/identical.jsonl");
    let (code, out, _) = exo(&["data", "inspect", &file]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chosen and rejected are identical"), "{out}");
    let (code, _, _) = exo(&["data", "inspect", &file, "--strict"]);
    assert_eq!(code, 1);
    let (code, out, err) = exo(&["data", "inspect", &path("errors/unknown_format.csv")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        err.starts_with("exo: error: ")
            && err.contains("unknown_format.csv: unknown format: starts with 'p'"),
        "{err}"
    );
    // Forcing the container turns it into per-line json errors instead.
    let (code, out, _) = exo(&[
        "data",
        "inspect",
        &path("errors/unknown_format.csv"),
        "--container",
        "jsonl",
    ]);
    assert_eq!(code, 1);
    assert!(out.contains("unknown_format.csv:1: invalid json"), "{out}");
}
