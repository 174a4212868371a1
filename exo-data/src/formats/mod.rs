//! Containers (how records are laid out in the file) and their detection. Each container is a
//! streaming source of `(location, JSON object)` items; [`crate::Reader`] turns those into
//! records.

pub(crate) mod json;
pub(crate) mod json_array;
pub(crate) mod jsonl;
pub(crate) mod parquet;

use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

use crate::error::{Error, Location};

/// How the records are laid out in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Container {
    /// JSON Lines: one JSON object per line (`.jsonl`, `.ndjson`, and `.json` files that start
    /// with `{`).
    Jsonl,
    /// One JSON array of objects (the official EXO `train.json` / `test.json`).
    JsonArray,
    /// Apache Parquet, one record per row (Hugging Face exports).
    Parquet,
}

impl Container {
    /// All containers.
    pub const ALL: [Self; 3] = [Self::Jsonl, Self::JsonArray, Self::Parquet];

    /// The name used by [`FromStr`] and `--container`: `jsonl`, `json`, `parquet`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::JsonArray => "json",
            Self::Parquet => "parquet",
        }
    }

    /// Detection from the file name and its first bytes (`head`; a few KiB are enough):
    ///
    /// ```text
    /// starts with PAR1                        → Parquet
    /// starts with 1f 8b (gzip)                → error: decompress first
    /// extension .parquet                      → error: not a parquet file
    /// first non-blank byte '['                → JsonArray
    /// first non-blank byte '{'                → Jsonl
    /// blank, extension .jsonl/.ndjson/.json   → Jsonl (no records)
    /// anything else                           → error
    /// ```
    ///
    /// # Errors
    ///
    /// A message for [`ErrorKind::UnknownFormat`](crate::ErrorKind::UnknownFormat).
    pub fn detect(path: &Path, head: &[u8]) -> Result<Self, String> {
        if head.starts_with(b"PAR1") {
            return Ok(Self::Parquet);
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            return Err("gzip-compressed; decompress it first".into());
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if ext == "parquet" {
            return Err("a .parquet file without the PAR1 magic bytes".into());
        }
        let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        match text.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Ok(Self::JsonArray),
            Some(b'{') => Ok(Self::Jsonl),
            None if matches!(ext.as_str(), "jsonl" | "ndjson" | "json") => Ok(Self::Jsonl),
            None => Err(format!(
                "no content to recognise and no known extension ({:?})",
                ext
            )),
            Some(&b) => Err(format!(
                "starts with {:?}, not '[' (json array), '{{' (json lines) or PAR1 (parquet)",
                char::from(b)
            )),
        }
    }
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Jsonl => "json lines",
            Self::JsonArray => "json array",
            Self::Parquet => "parquet",
        })
    }
}

/// A `--container` value that names no container.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown container {0:?} (expected jsonl, json or parquet)")]
pub struct UnknownContainer(pub String);

impl FromStr for Container {
    type Err = UnknownContainer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownContainer(s.to_owned()))
    }
}

/// Any container's stream of `(location, value)`.
pub(crate) enum Source {
    Jsonl(jsonl::JsonlSource<Box<dyn BufRead + Send>>),
    JsonArray(json_array::JsonArraySource<Box<dyn BufRead + Send>>),
    Parquet(parquet::ParquetSource),
}

impl Iterator for Source {
    type Item = Result<(Location, Value), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Jsonl(s) => s.next(),
            Self::JsonArray(s) => s.next(),
            Self::Parquet(s) => s.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_by_content_then_extension() {
        let d = |name: &str, head: &[u8]| Container::detect(Path::new(name), head);
        assert_eq!(d("x.bin", b"PAR1\0\0"), Ok(Container::Parquet));
        assert_eq!(d("train.json", b"\n  [\n {"), Ok(Container::JsonArray));
        assert_eq!(d("train.json", b"{\"a\": 1}\n{"), Ok(Container::Jsonl));
        assert_eq!(d("x.txt", b"\xEF\xBB\xBF{"), Ok(Container::Jsonl));
        assert_eq!(d("empty.jsonl", b""), Ok(Container::Jsonl));
        assert!(d("x.parquet", b"{}").unwrap_err().contains("PAR1"));
        assert!(
            d("x.jsonl.gz", b"\x1f\x8b\x08")
                .unwrap_err()
                .contains("gzip")
        );
        assert!(
            d("x.csv", b"a,b\n")
                .unwrap_err()
                .contains("starts with 'a'")
        );
        assert!(d("x.txt", b"  ").is_err());
        for c in Container::ALL {
            assert_eq!(c.name().parse::<Container>(), Ok(c));
        }
    }
}
