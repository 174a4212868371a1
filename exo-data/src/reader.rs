//! [`Reader`]: open a file in any supported format and iterate over its records, one at a time.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::chat::ChatTemplate;
use crate::error::{Error, ErrorKind, Location, Origin, Result};
use crate::fields::{Fields, describe};
use crate::formats::json_array::JsonArraySource;
use crate::formats::jsonl::JsonlSource;
use crate::formats::parquet::ParquetSource;
use crate::formats::{Container, Source};
use crate::records::Record;
use crate::schema::{self, Schema};
use crate::validate::KCheck;

/// Default for [`ReadOptions::max_record_bytes`]: 16 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;

/// How many bytes of the file are looked at to detect its container.
const SNIFF_BYTES: usize = 4096;

/// How to read a file. `Default` detects everything.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReadOptions {
    /// Forces the container instead of detecting it ([`Container::detect`]).
    pub container: Option<Container>,
    /// Forces the record shape instead of detecting it from the first record ([`Schema::detect`]).
    pub schema: Option<Schema>,
    /// A JSONL line or a JSON-array element longer than this is an [`ErrorKind::TooLong`]
    /// error (and is never held in memory whole).
    pub max_record_bytes: usize,
    /// Renders conversational records; without it they are [`ErrorKind::NoChatTemplate`] errors.
    pub chat_template: Option<Arc<ChatTemplate>>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            container: None,
            schema: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            chat_template: None,
        }
    }
}

impl ReadOptions {
    /// Forces the container.
    #[must_use]
    pub fn with_container(mut self, container: Container) -> Self {
        self.container = Some(container);
        self
    }

    /// Forces the schema.
    #[must_use]
    pub fn with_schema(mut self, schema: Schema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// Sets the size limit of one record.
    #[must_use]
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Sets the chat template for conversational records.
    #[must_use]
    pub fn with_chat_template(mut self, template: Arc<ChatTemplate>) -> Self {
        self.chat_template = Some(template);
        self
    }
}

/// One record, where it came from, and any warnings about it.
#[derive(Debug)]
pub struct Example {
    /// File and line (or row).
    pub origin: Origin,
    /// The record.
    pub record: Record,
    /// Warnings ([`Error::is_warning`]): the record is usable but suspicious.
    pub warnings: Vec<Error>,
}

/// Streams the records of one file.
///
/// Yields `Ok(Example)` for each usable record and `Err(Error)` for each record that cannot be
/// used (the error says where and why) — reading goes on after such an error, except after an
/// I/O error or a broken JSON-array / Parquet structure, which end the stream. An `Err` whose
/// [`Error::is_warning`] is `true` is a record skipped for a reason that is not a data error
/// (identical chosen and rejected when the prompt must be found from them).
///
/// Memory is bounded by one record (JSON, JSONL) or one row group (Parquet), not by the file.
pub struct Reader {
    source: Source,
    path: Arc<Path>,
    container: Container,
    schema: Option<Schema>,
    chat: Option<Arc<ChatTemplate>>,
    k: KCheck,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("container", &self.container)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// Opens `path` and detects its container (unless forced).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the file cannot be opened, [`ErrorKind::UnknownFormat`] when its
    /// container cannot be detected, [`ErrorKind::Parquet`] when a Parquet footer is unreadable.
    pub fn open(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Self> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let io = |e| Error::file(&path, ErrorKind::Io(e));
        let mut file = File::open(&path).map_err(io)?;
        let container = match options.container {
            Some(c) => c,
            None => {
                let mut head = Vec::new();
                (&mut file)
                    .take(SNIFF_BYTES as u64)
                    .read_to_end(&mut head)
                    .map_err(io)?;
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                Container::detect(&path, &head)
                    .map_err(|m| Error::file(&path, ErrorKind::UnknownFormat(m)))?
            }
        };
        let source = match container {
            Container::Parquet => Source::Parquet(ParquetSource::new(file, Arc::clone(&path))?),
            _ => Self::text_source(container, Box::new(BufReader::new(file)), &path, options),
        };
        Ok(Self::with_source(source, path, container, options))
    }

    /// Reads in-memory `bytes` as if they were the file `name` (used by tests and fuzzing).
    ///
    /// # Errors
    ///
    /// As [`Reader::open`], without the I/O errors.
    pub fn from_bytes(
        name: impl AsRef<Path>,
        bytes: Vec<u8>,
        options: &ReadOptions,
    ) -> Result<Self> {
        let path: Arc<Path> = Arc::from(name.as_ref());
        let container = match options.container {
            Some(c) => c,
            None => {
                let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
                Container::detect(&path, head)
                    .map_err(|m| Error::file(&path, ErrorKind::UnknownFormat(m)))?
            }
        };
        let source = match container {
            Container::Parquet => Source::Parquet(ParquetSource::new(
                bytes::Bytes::from(bytes),
                Arc::clone(&path),
            )?),
            _ => Self::text_source(container, Box::new(Cursor::new(bytes)), &path, options),
        };
        Ok(Self::with_source(source, path, container, options))
    }

    /// Reads a stream (a pipe, stdin) named `name`, whose container must be given: there is
    /// nothing to sniff without consuming it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownFormat`] for [`Container::Parquet`], which needs random access (a
    /// file or [`Reader::from_bytes`]).
    pub fn from_reader(
        name: impl AsRef<Path>,
        reader: impl std::io::BufRead + Send + 'static,
        container: Container,
        options: &ReadOptions,
    ) -> Result<Self> {
        let path: Arc<Path> = Arc::from(name.as_ref());
        if container == Container::Parquet {
            let msg = "parquet needs a file or bytes, not a stream".to_owned();
            return Err(Error::file(&path, ErrorKind::UnknownFormat(msg)));
        }
        let source = Self::text_source(container, Box::new(reader), &path, options);
        Ok(Self::with_source(source, path, container, options))
    }

    fn text_source(
        container: Container,
        reader: Box<dyn std::io::BufRead + Send>,
        path: &Arc<Path>,
        options: &ReadOptions,
    ) -> Source {
        let limit = options.max_record_bytes;
        match container {
            Container::JsonArray => {
                Source::JsonArray(JsonArraySource::new(reader, Arc::clone(path), limit))
            }
            _ => Source::Jsonl(JsonlSource::new(reader, Arc::clone(path), limit)),
        }
    }

    fn with_source(
        source: Source,
        path: Arc<Path>,
        container: Container,
        options: &ReadOptions,
    ) -> Self {
        Self {
            source,
            path,
            container,
            schema: options.schema,
            chat: options.chat_template.clone(),
            k: KCheck::default(),
        }
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container, detected or forced.
    #[must_use]
    pub fn container(&self) -> Container {
        self.container
    }

    /// The record shape: forced, or detected from the first record that has a known shape
    /// (`None` until then).
    #[must_use]
    pub fn schema(&self) -> Option<Schema> {
        self.schema
    }

    /// K (completions per record) of the first record read, if any.
    #[must_use]
    pub fn k(&self) -> Option<usize> {
        self.k.k()
    }

    fn record(&mut self, location: Location, value: &Value) -> Result<Example> {
        let origin = Origin {
            path: Arc::clone(&self.path),
            location,
        };
        let Some(map) = value.as_object() else {
            let found = match value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(Error::new(origin, None, ErrorKind::NotAnObject { found }));
        };
        let schema = match self.schema {
            Some(s) => s,
            None => match Schema::detect(map) {
                Some(s) => {
                    self.schema = Some(s);
                    s
                }
                None => {
                    let keys: Vec<_> = map
                        .iter()
                        .map(|(k, v)| format!("{k} ({})", describe(v)))
                        .collect();
                    let msg = format!(
                        "no known record shape in fields [{}]; expected prompt/chosen/rejected, \
                         chosen/rejected, prompt/completions/rewards, prompt/completion or messages",
                        keys.join(", ")
                    );
                    return Err(Error::new(origin, None, ErrorKind::UnknownFormat(msg)));
                }
            },
        };
        let fields = Fields {
            map,
            origin: &origin,
        };
        let (record, warning) = schema::parse(schema, &fields, self.chat.as_deref())?;
        self.k.check(record.k(), &origin)?;
        Ok(Example {
            origin,
            record,
            warnings: warning.into_iter().collect(),
        })
    }
}

impl Iterator for Reader {
    type Item = Result<Example>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.source.next()? {
            Ok((location, value)) => self.record(location, &value),
            Err(e) => Err(e),
        })
    }
}
