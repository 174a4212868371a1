//! Every validation check, each with its fixture file under `tests/fixtures/errors/`, and the
//! exact message users see.

mod common;

use common::{fixture, messages, read_all, scratch, write_pref_parquet};
use exo_data::{ErrorKind, Location, ReadOptions, Reader, Record};

fn check(name: &str, options: &ReadOptions) -> (usize, Vec<String>) {
    let (ok, errors) = read_all(&fixture(name), options);
    (ok.len(), messages(&errors))
}

#[test]
fn wrong_type_names_file_line_and_field() {
    let (ok, errs) = check("errors/wrong_type.jsonl", &ReadOptions::default());
    assert_eq!(ok, 1);
    assert_eq!(
        errs,
        [
            "errors/wrong_type.jsonl:2: field \"chosen\": expected a string, found null",
            "errors/wrong_type.jsonl:3: field \"rejected\": expected a string, found a number",
        ]
    );
}

#[test]
fn missing_field() {
    let (ok, errs) = check("errors/missing_field.jsonl", &ReadOptions::default());
    assert_eq!(
        (ok, errs),
        (
            1,
            vec!["errors/missing_field.jsonl:2: field \"rejected\": missing".to_owned()]
        )
    );
}

#[test]
fn syntax_error_skips_only_its_line() {
    let (ok, errs) = check("errors/syntax.jsonl", &ReadOptions::default());
    assert_eq!(ok, 2);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("errors/syntax.jsonl:2: invalid json: expected value (column 57)"),
        "{errs:?}"
    );
}

#[test]
fn not_an_object() {
    let (ok, errs) = check("errors/not_object.jsonl", &ReadOptions::default());
    assert_eq!(
        (ok, errs),
        (
            1,
            vec!["errors/not_object.jsonl:2: expected a json object, found an array".to_owned()]
        )
    );
}

#[test]
fn k_mismatch_within_a_file() {
    let (ok, errs) = check("errors/k_mismatch.json", &ReadOptions::default());
    assert_eq!(ok, 1);
    assert_eq!(
        errs,
        [
            "errors/k_mismatch.json:7: field \"completions\": expected 2 completions (as in the first record, line 2), found 3"
        ]
    );
}

#[test]
fn non_finite_rewards_python_literals() {
    let (ok, errs) = check("errors/non_finite.json", &ReadOptions::default());
    assert_eq!(ok, 1);
    assert_eq!(
        errs,
        [
            "errors/non_finite.json:2: field \"rewards[0]\": reward is not finite (NaN)",
            "errors/non_finite.json:3: field \"rewards[1]\": reward is not finite (-Infinity)",
        ]
    );
}

#[test]
fn non_finite_rewards_in_parquet() {
    let path = scratch("nan.parquet");
    common::write_rw_parquet(
        &path,
        &[
            ("p", vec![" a", " b"], vec![1.0, f64::NAN]),
            ("q", vec![" a", " b"], vec![1.0, 0.0]),
        ],
    );
    let (ok, errors) = read_all(&path, &ReadOptions::default());
    assert_eq!(ok.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .ends_with("nan.parquet:row 1: field \"rewards[1]\": reward is not finite (NaN)"),
        "{}",
        errors[0]
    );
}

#[test]
fn null_in_parquet_names_the_row() {
    let path = scratch("null.parquet");
    write_pref_parquet(&path, &[("p", Some(" a"), " b"), ("q", None, " b")], 10);
    let (ok, errors) = read_all(&path, &ReadOptions::default());
    assert_eq!(ok.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .ends_with("null.parquet:row 2: field \"chosen\": expected a string, found null"),
        "{}",
        errors[0]
    );
}

#[test]
fn reward_count_and_too_few_completions() {
    let (_, errs) = check("errors/reward_count.json", &ReadOptions::default());
    assert_eq!(
        errs,
        ["errors/reward_count.json:2: field \"rewards\": 1 rewards for 2 completions"]
    );
    let (_, errs) = check("errors/too_few.json", &ReadOptions::default());
    assert_eq!(
        errs,
        [
            "errors/too_few.json:2: field \"completions\": a group needs at least 2 completions, found 1"
        ]
    );
}

#[test]
fn empty_completions() {
    let (ok, errs) = check("errors/empty_completion.jsonl", &ReadOptions::default());
    assert_eq!(ok, 1);
    assert_eq!(
        errs,
        [
            "errors/empty_completion.jsonl:2: field \"chosen\": empty completion",
            "errors/empty_completion.jsonl:3: field \"rejected\": empty completion",
        ]
    );
}

#[test]
fn identical_chosen_and_rejected_is_a_warning() {
    let (ok, errors) = read_all(&fixture("errors/identical.jsonl"), &ReadOptions::default());
    // Line 1 has an explicit prompt: kept, with a warning.
    assert_eq!(ok.len(), 1);
    assert_eq!(
        messages(&ok[0].warnings),
        ["errors/identical.jsonl:1: field \"rejected\": chosen and rejected are identical"]
    );
    assert!(ok[0].warnings[0].is_warning());
    assert!(errors.is_empty());
    // With an implicit prompt there is nothing to split: skipped, still as a warning.
    let (ok, errors) = read_all(
        &fixture("errors/identical_implicit.jsonl"),
        &ReadOptions::default(),
    );
    assert_eq!(ok.len(), 1);
    assert_eq!(
        messages(&errors),
        [
            "errors/identical_implicit.jsonl:1: field \"rejected\": chosen and rejected are identical"
        ]
    );
    assert!(errors[0].is_warning());
}

#[test]
fn non_utf8() {
    let (ok, errs) = check("errors/non_utf8.jsonl", &ReadOptions::default());
    assert_eq!(
        (ok, errs),
        (
            1,
            vec!["errors/non_utf8.jsonl:2: not valid utf-8 (byte 15 of the record)".to_owned()]
        )
    );
}

#[test]
fn a_line_over_the_size_limit() {
    let options = ReadOptions::default().with_max_record_bytes(200);
    let (ok, errs) = check("errors/too_long.jsonl", &options);
    assert_eq!(
        (ok, errs),
        (
            2,
            vec!["errors/too_long.jsonl:2: record is over the size limit of 200 bytes".to_owned()]
        )
    );
    // The same limit applies to JSON-array elements.
    let options = ReadOptions::default().with_max_record_bytes(40);
    let (ok, errs) = check("exo/rw/train.json", &options);
    assert_eq!(ok, 0);
    assert_eq!(
        errs[0],
        "exo/rw/train.json:2: record is over the size limit of 40 bytes"
    );
}

#[test]
fn unknown_format_and_unknown_shape() {
    let err = Reader::open(
        fixture("errors/unknown_format.csv"),
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        messages(&[err]),
        [
            "errors/unknown_format.csv: unknown format: starts with 'p', not '[' (json array), '{' (json lines) or PAR1 (parquet)"
        ]
    );
    let (_, errs) = check("errors/unknown_shape.jsonl", &ReadOptions::default());
    assert_eq!(
        errs,
        [
            "errors/unknown_shape.jsonl:1: unknown format: no known record shape in fields [instruction (a string), output (a string)]; expected prompt/chosen/rejected, chosen/rejected, prompt/completions/rewards, prompt/completion or messages"
        ]
    );
    let missing = Reader::open(fixture("errors/nope.jsonl"), &ReadOptions::default()).unwrap_err();
    assert!(matches!(missing.kind(), ErrorKind::Io(_)));
    assert_eq!(missing.location(), Location::File);
}

#[test]
fn hh_transcripts_that_cannot_be_split() {
    let (ok, errors) = read_all(&fixture("errors/hh_bad.jsonl"), &ReadOptions::default());
    assert!(ok.is_empty());
    assert_eq!(
        messages(&errors),
        [
            "errors/hh_bad.jsonl:1: field \"chosen\": anthropic-hh transcript: the transcripts first differ in turn 1, a human turn",
            "errors/hh_bad.jsonl:2: field \"rejected\": chosen and rejected are identical",
            "errors/hh_bad.jsonl:3: field \"chosen\": empty completion",
        ]
    );
}

#[test]
fn broken_array_punctuation_ends_the_file() {
    let (ok, errs) = check("errors/broken_array.json", &ReadOptions::default());
    assert_eq!(
        (ok, errs),
        (
            1,
            vec![
                "errors/broken_array.json:3: invalid json: expected ',' or ']' after an element"
                    .to_owned()
            ]
        )
    );
}

#[test]
fn conversational_records_need_a_chat_template() {
    let (ok, errs) = check("trl_conversational.jsonl", &ReadOptions::default());
    assert_eq!(ok, 0);
    assert_eq!(
        errs[0],
        "trl_conversational.jsonl:1: conversational record, but no chat template (give a tokenizer_config.json with a chat_template)"
    );
}

#[test]
fn a_bad_record_does_not_hide_the_good_ones() {
    let (ok, _) = read_all(&fixture("errors/wrong_type.jsonl"), &ReadOptions::default());
    assert!(matches!(&ok[0].record, Record::Pair(p) if p.chosen == " blue."));
}
