//! The one error type of this crate: which file, which line (or Parquet row), which field, what.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a file an [`Error`] (or an [`Example`](crate::Example)) sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Location {
    /// The file as a whole (it cannot be opened, its format is unknown, ...).
    File,
    /// A 1-based line: the line of a JSONL record, or the line where a JSON-array element starts.
    Line(u64),
    /// A 1-based Parquet row.
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File => Ok(()),
            Self::Line(line) => write!(f, "{line}"),
            Self::Row(row) => write!(f, "row {row}"),
        }
    }
}

/// A file and a place in it: where a record came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file, as the caller named it.
    pub path: Arc<Path>,
    /// The line or row inside it.
    pub location: Location,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::File => write!(f, "{}", self.path.display()),
            location => write!(f, "{}:{location}", self.path.display()),
        }
    }
}

/// What went wrong, without the where (that lives in [`Error`]).
///
/// Messages are lowercase without a trailing period; [`Error`]'s `Display` puts
/// `file:line: field "name": ` in front of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be opened or read.
    #[error("cannot read the file")]
    Io(#[source] std::io::Error),
    /// Neither the extension nor the content names a supported format.
    #[error("unknown format: {0}")]
    UnknownFormat(String),
    /// The bytes are not valid JSON.
    #[error("invalid json: {0}")]
    Syntax(String),
    /// The record is not valid UTF-8.
    #[error("not valid utf-8 (byte {offset} of the record)")]
    NotUtf8 {
        /// 0-based offset of the first invalid byte inside the line or element.
        offset: usize,
    },
    /// A line (JSONL) or array element (JSON) is longer than the configured limit.
    #[error("record is over the size limit of {limit} bytes")]
    TooLong {
        /// The limit, [`ReadOptions::max_record_bytes`](crate::ReadOptions::max_record_bytes).
        limit: usize,
    },
    /// A record is not a JSON object (or a Parquet row could not be turned into one).
    #[error("expected a json object, found {found}")]
    NotAnObject {
        /// What was found instead: `an array`, `null`, ...
        found: &'static str,
    },
    /// A required field is absent.
    #[error("missing")]
    MissingField,
    /// A field holds the wrong kind of value.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the schema needs: `a string`, `a number`, `a list of messages`, ...
        expected: &'static str,
        /// What the record holds: `null`, `a number`, `NaN`, ...
        found: String,
    },
    /// A completion (`chosen`, `rejected`, `completions[i]`, `completion`) is empty or only whitespace.
    #[error("empty completion")]
    EmptyCompletion,
    /// A group has fewer than two completions.
    #[error("a group needs at least 2 completions, found {found}")]
    TooFewCompletions {
        /// How many completions the record has.
        found: usize,
    },
    /// `rewards` and `completions` differ in length.
    #[error("{rewards} rewards for {completions} completions")]
    RewardCount {
        /// Length of `completions`.
        completions: usize,
        /// Length of `rewards`.
        rewards: usize,
    },
    /// A group's K differs from the first group's K in the same file.
    #[error("expected {expected} completions (as in the first record, {first}), found {found}")]
    KMismatch {
        /// K of the first group of the file.
        expected: usize,
        /// K of this record.
        found: usize,
        /// Where the first group is (`line 1`, `row 1`).
        first: String,
    },
    /// A reward is NaN or infinite.
    #[error("reward is not finite ({value})")]
    NonFiniteReward {
        /// How it was written: `NaN`, `Infinity`, `-inf`, ...
        value: String,
    },
    /// Warning: chosen and rejected are the same text, so the pair carries no preference.
    #[error("chosen and rejected are identical")]
    Identical,
    /// An Anthropic-HH transcript that cannot be split into a prompt and two responses.
    #[error("anthropic-hh transcript: {0}")]
    Hh(String),
    /// A conversational record, but no chat template was given.
    #[error(
        "conversational record, but no chat template (give a tokenizer_config.json with a chat_template)"
    )]
    NoChatTemplate,
    /// The chat template failed to render or does not render the prompt as a prefix.
    #[error("chat template: {0}")]
    ChatTemplate(String),
    /// The Parquet file is malformed or uses an unsupported feature.
    #[error("parquet: {0}")]
    Parquet(String),
    /// `tokenizer.json` or `tokenizer_config.json` is malformed, or encoding failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Batching was asked to mix groups of different K.
    #[error("cannot batch groups of {found} completions with groups of {expected}")]
    MixedK {
        /// K of the batch's first group.
        expected: usize,
        /// K of this group.
        found: usize,
    },
}

impl ErrorKind {
    /// `true` for findings that do not stop a record from being used (today: [`ErrorKind::Identical`]).
    #[must_use]
    pub fn is_warning(&self) -> bool {
        matches!(self, Self::Identical)
    }
}

/// An error (or, see [`Error::is_warning`], a warning) about a data file, displayed as
/// `prefs.jsonl:42: field "chosen": expected a string, found null`.
///
/// Parquet locations read `prefs.parquet:row 7: ...`; errors about the whole file omit the
/// location: `prefs.txt: unknown format: ...`.
#[derive(Debug)]
pub struct Error {
    origin: Origin,
    field: Option<String>,
    kind: ErrorKind,
}

impl Error {
    /// A new error at `origin`, about `field` if there is one.
    #[must_use]
    pub fn new(origin: Origin, field: Option<String>, kind: ErrorKind) -> Self {
        Self {
            origin,
            field,
            kind,
        }
    }

    /// An error about the file at `path` as a whole.
    #[must_use]
    pub fn file(path: &Arc<Path>, kind: ErrorKind) -> Self {
        let origin = Origin {
            path: Arc::clone(path),
            location: Location::File,
        };
        Self::new(origin, None, kind)
    }

    /// The file and the line or row.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.origin.path
    }

    /// The line or row.
    #[must_use]
    pub fn location(&self) -> Location {
        self.origin.location
    }

    /// The field, as `chosen`, `rewards[2]` or `prompt[0].content`, if the error is about one.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// `true` when this is a warning: the record is still usable.
    #[must_use]
    pub fn is_warning(&self) -> bool {
        self.kind.is_warning()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}
