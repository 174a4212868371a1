//! Helpers shared by the integration tests: fixture paths, reading a whole file, and writing
//! small Parquet files with the `parquet` crate's writer (generated in-test, not committed).

// Test helpers: a failed unwrap is a failed test, as inside #[test] functions.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use exo_data::{Error, Example, ReadOptions, Reader, Tokenizer};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh path under the target directory for generated files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exo-data-tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Every item of the file: the usable examples and the errors (warnings included), as text.
pub fn read_all(path: &Path, options: &ReadOptions) -> (Vec<Example>, Vec<Error>) {
    let reader = Reader::open(path, options).unwrap();
    let (mut ok, mut err) = (Vec::new(), Vec::new());
    for item in reader {
        match item {
            Ok(e) => ok.push(e),
            Err(e) => err.push(e),
        }
    }
    (ok, err)
}

/// The error messages with the fixture directory stripped, so they read `errors/x.jsonl:2: ...`.
pub fn messages(errors: &[Error]) -> Vec<String> {
    let root = format!(
        "{}/",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .display()
    );
    errors
        .iter()
        .map(|e| e.to_string().replace(&root, ""))
        .collect()
}

pub fn llama_tokenizer() -> Tokenizer {
    Tokenizer::from_file(fixture("tokenizer/tokenizer.json")).unwrap()
}

pub fn gpt2_tokenizer() -> Tokenizer {
    Tokenizer::from_file(fixture("tokenizer-gpt2/tokenizer.json")).unwrap()
}

pub fn chat_options() -> ReadOptions {
    let template = llama_tokenizer().chat_template().unwrap();
    ReadOptions::default().with_chat_template(Arc::clone(&template))
}

fn bytes(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// `prompt`, `chosen` (nullable), `rejected` string columns, Snappy-compressed, with
/// `rows_per_group` rows per row group.
pub fn write_pref_parquet(path: &Path, rows: &[(&str, Option<&str>, &str)], rows_per_group: usize) {
    let schema = parse_message_type(
        "message schema {
            REQUIRED BYTE_ARRAY prompt (UTF8);
            OPTIONAL BYTE_ARRAY chosen (UTF8);
            REQUIRED BYTE_ARRAY rejected (UTF8);
        }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(
        File::create(path).unwrap(),
        Arc::new(schema),
        Arc::new(props),
    )
    .unwrap();
    for chunk in rows.chunks(rows_per_group.max(1)) {
        let mut group = writer.next_row_group().unwrap();
        // prompt
        let mut col = group.next_column().unwrap().unwrap();
        let values: Vec<_> = chunk.iter().map(|r| bytes(r.0)).collect();
        col.typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        col.close().unwrap();
        // chosen (optional: definition level 0 = null)
        let mut col = group.next_column().unwrap().unwrap();
        let values: Vec<_> = chunk.iter().filter_map(|r| r.1.map(bytes)).collect();
        let defs: Vec<i16> = chunk.iter().map(|r| i16::from(r.1.is_some())).collect();
        col.typed::<ByteArrayType>()
            .write_batch(&values, Some(&defs), None)
            .unwrap();
        col.close().unwrap();
        // rejected
        let mut col = group.next_column().unwrap().unwrap();
        let values: Vec<_> = chunk.iter().map(|r| bytes(r.2)).collect();
        col.typed::<ByteArrayType>()
            .write_batch(&values, None, None)
            .unwrap();
        col.close().unwrap();
        group.close().unwrap();
    }
    writer.close().unwrap();
}

/// `prompt`, `completions: list<string>`, `rewards: list<double>` (standard 3-level lists).
pub fn write_rw_parquet(path: &Path, rows: &[(&str, Vec<&str>, Vec<f64>)]) {
    let schema = parse_message_type(
        "message schema {
            REQUIRED BYTE_ARRAY prompt (UTF8);
            REQUIRED group completions (LIST) {
                REPEATED group list { REQUIRED BYTE_ARRAY element (UTF8); }
            }
            REQUIRED group rewards (LIST) {
                REPEATED group list { REQUIRED DOUBLE element; }
            }
        }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = SerializedFileWriter::new(
        File::create(path).unwrap(),
        Arc::new(schema),
        Arc::new(props),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let levels = |lens: Vec<usize>| {
        let (mut defs, mut reps) = (Vec::new(), Vec::new());
        for n in lens {
            for i in 0..n {
                defs.push(1i16);
                reps.push(i16::from(i > 0));
            }
        }
        (defs, reps)
    };
    let mut col = group.next_column().unwrap().unwrap();
    let values: Vec<_> = rows.iter().map(|r| bytes(r.0)).collect();
    col.typed::<ByteArrayType>()
        .write_batch(&values, None, None)
        .unwrap();
    col.close().unwrap();
    let mut col = group.next_column().unwrap().unwrap();
    let values: Vec<_> = rows
        .iter()
        .flat_map(|r| r.1.iter().map(|s| bytes(s)))
        .collect();
    let (defs, reps) = levels(rows.iter().map(|r| r.1.len()).collect());
    col.typed::<ByteArrayType>()
        .write_batch(&values, Some(&defs), Some(&reps))
        .unwrap();
    col.close().unwrap();
    let mut col = group.next_column().unwrap().unwrap();
    let values: Vec<f64> = rows.iter().flat_map(|r| r.2.iter().copied()).collect();
    let (defs, reps) = levels(rows.iter().map(|r| r.2.len()).collect());
    col.typed::<DoubleType>()
        .write_batch(&values, Some(&defs), Some(&reps))
        .unwrap();
    col.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
}
