//! Parquet rows (Hugging Face exports) turned into JSON objects with the same column names, so
//! one set of schema rules serves every container. Rows are read through the `parquet` crate's
//! record API, one row group at a time: memory is bounded by a row group, not by the file.
//!
//! The record API can panic on malformed files; every call into it runs under
//! [`std::panic::catch_unwind`] and a panic becomes an [`ErrorKind::Parquet`] that ends the file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::{Field, Row};
use serde_json::{Map, Number, Value};

use super::json::NON_FINITE_MARK;
use crate::error::{Error, ErrorKind, Location, Origin};

/// Nesting deeper than this is refused (messages are two levels deep).
const MAX_DEPTH: usize = 32;

/// Yields `(row, object)` for each row.
pub(crate) struct ParquetSource {
    rows: Option<RowIter<'static>>,
    path: Arc<Path>,
    row: u64,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "the reader panicked".to_owned()
    }
}

impl ParquetSource {
    /// Opens the file's footer and schema.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Parquet`] when the footer or metadata cannot be read.
    pub(crate) fn new<R: ChunkReader + 'static>(reader: R, path: Arc<Path>) -> Result<Self, Error> {
        let opened = catch_unwind(AssertUnwindSafe(|| {
            SerializedFileReader::new(reader).map(|r| {
                let boxed: Box<dyn FileReader> = Box::new(r);
                RowIter::from_file_into(boxed)
            })
        }));
        match opened {
            Ok(Ok(rows)) => Ok(Self {
                rows: Some(rows),
                path,
                row: 0,
            }),
            Ok(Err(e)) => Err(Error::file(&path, ErrorKind::Parquet(e.to_string()))),
            Err(p) => Err(Error::file(
                &path,
                ErrorKind::Parquet(panic_message(p.as_ref())),
            )),
        }
    }

    fn error(&self, field: Option<String>, kind: ErrorKind) -> Error {
        let origin = Origin {
            path: Arc::clone(&self.path),
            location: Location::Row(self.row),
        };
        Error::new(origin, field, kind)
    }
}

impl Iterator for ParquetSource {
    type Item = Result<(Location, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let rows = self.rows.as_mut()?;
        let next = catch_unwind(AssertUnwindSafe(|| rows.next()));
        self.row += 1;
        match next {
            Ok(None) => {
                self.rows = None;
                None
            }
            Ok(Some(Ok(row))) => Some(match row_to_json(&row) {
                Ok(v) => Ok((Location::Row(self.row), v)),
                Err((field, kind)) => Err(self.error(Some(field), kind)),
            }),
            Ok(Some(Err(e))) => {
                // The record API does not resynchronise after a decoding error.
                self.rows = None;
                Some(Err(self.error(None, ErrorKind::Parquet(e.to_string()))))
            }
            Err(p) => {
                self.rows = None;
                Some(Err(
                    self.error(None, ErrorKind::Parquet(panic_message(p.as_ref())))
                ))
            }
        }
    }
}

type FieldError = (String, ErrorKind);

fn row_to_json(row: &Row) -> Result<Value, FieldError> {
    group_to_json(row, "", 0)
}

fn group_to_json(row: &Row, prefix: &str, depth: usize) -> Result<Value, FieldError> {
    let mut map = Map::new();
    for (name, field) in row.get_column_iter() {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let value = field_to_json(field, &path, depth + 1)?;
        map.insert(name.clone(), value);
    }
    Ok(Value::Object(map))
}

fn float(x: f64, text: impl FnOnce() -> String) -> Value {
    match Number::from_f64(x) {
        Some(n) => Value::Number(n),
        None => Value::String(format!("{NON_FINITE_MARK}{}", text())),
    }
}

fn field_to_json(field: &Field, path: &str, depth: usize) -> Result<Value, FieldError> {
    if depth > MAX_DEPTH {
        let kind = ErrorKind::Parquet(format!("nesting deeper than {MAX_DEPTH} levels"));
        return Err((path.to_owned(), kind));
    }
    Ok(match field {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Bool(*b),
        Field::Byte(x) => Value::from(*x),
        Field::Short(x) => Value::from(*x),
        Field::Int(x) | Field::Date(x) | Field::TimeMillis(x) => Value::from(*x),
        Field::Long(x)
        | Field::TimeMicros(x)
        | Field::TimestampMillis(x)
        | Field::TimestampMicros(x) => Value::from(*x),
        Field::UByte(x) => Value::from(*x),
        Field::UShort(x) => Value::from(*x),
        Field::UInt(x) => Value::from(*x),
        Field::ULong(x) => Value::from(*x),
        Field::Float16(x) => float(f64::from(*x), || x.to_string()),
        Field::Float(x) => float(f64::from(*x), || x.to_string()),
        Field::Double(x) => float(*x, || x.to_string()),
        Field::Decimal(_) => {
            let kind = ErrorKind::WrongType {
                expected: "a string, number or list",
                found: "a parquet decimal".into(),
            };
            return Err((path.to_owned(), kind));
        }
        Field::Str(s) => Value::String(s.clone()),
        Field::Bytes(b) => match std::str::from_utf8(b.data()) {
            Ok(s) => Value::String(s.to_owned()),
            Err(e) => {
                return Err((
                    path.to_owned(),
                    ErrorKind::NotUtf8 {
                        offset: e.valid_up_to(),
                    },
                ));
            }
        },
        Field::Group(row) => group_to_json(row, path, depth)?,
        Field::ListInternal(list) => {
            let mut items = Vec::with_capacity(list.len());
            for (i, item) in list.elements().iter().enumerate() {
                items.push(field_to_json(item, &format!("{path}[{i}]"), depth + 1)?);
            }
            Value::Array(items)
        }
        Field::MapInternal(map) => {
            let mut out = Map::new();
            for (k, v) in map.entries() {
                let key = match k {
                    Field::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                let value = field_to_json(v, &format!("{path}.{key}"), depth + 1)?;
                out.insert(key, value);
            }
            Value::Object(out)
        }
    })
}
