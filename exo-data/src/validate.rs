//! Record-level checks shared by every reader. Each check returns the [`Error`] to report;
//! the reader decides whether the record is skipped (errors) or kept (warnings).
//!
//! | check                               | kind                               | record  |
//! | ----------------------------------- | ---------------------------------- | ------- |
//! | completion empty or only whitespace | [`ErrorKind::EmptyCompletion`]     | skipped |
//! | chosen == rejected                  | [`ErrorKind::Identical`] (warning) | kept¹   |
//! | K differs from the file's first K   | [`ErrorKind::KMismatch`]           | skipped |
//! | fewer than 2 completions            | [`ErrorKind::TooFewCompletions`]   | skipped |
//! | `len(rewards) != len(completions)`  | [`ErrorKind::RewardCount`]         | skipped |
//! | reward NaN or infinite              | [`ErrorKind::NonFiniteReward`]     | skipped |
//!
//! ¹ skipped when the prompt has to be found from the two texts (implicit prompt, HH), since
//! there is then nothing to split. Syntax, UTF-8, size and type checks live in the readers.

use crate::error::{Error, ErrorKind, Location, Origin};
use crate::fields::Fields;

/// [`ErrorKind::EmptyCompletion`] when `text` is empty or only whitespace.
pub(crate) fn completion(f: &Fields<'_>, field: &str, text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        Err(f.error(field, ErrorKind::EmptyCompletion))
    } else {
        Ok(())
    }
}

/// The [`ErrorKind::Identical`] warning when chosen and rejected are equal.
pub(crate) fn identical<T: PartialEq>(f: &Fields<'_>, chosen: &T, rejected: &T) -> Option<Error> {
    (chosen == rejected).then(|| f.error("rejected", ErrorKind::Identical))
}

/// Group shape: at least two completions, one reward each.
pub(crate) fn group_shape(f: &Fields<'_>, completions: usize, rewards: usize) -> Result<(), Error> {
    if completions < 2 {
        return Err(f.error(
            "completions",
            ErrorKind::TooFewCompletions { found: completions },
        ));
    }
    if rewards != completions {
        return Err(f.error(
            "rewards",
            ErrorKind::RewardCount {
                completions,
                rewards,
            },
        ));
    }
    Ok(())
}

/// Remembers the first group's K and refuses any other K later in the same file (the official
/// code takes K from the first record and cannot batch a different one).
#[derive(Debug, Default)]
pub(crate) struct KCheck {
    first: Option<(usize, Location)>,
}

impl KCheck {
    pub(crate) fn check(&mut self, k: usize, origin: &Origin) -> Result<(), Error> {
        match self.first {
            None => {
                self.first = Some((k, origin.location));
                Ok(())
            }
            Some((expected, _)) if expected == k => Ok(()),
            Some((expected, location)) => {
                let first = match location {
                    Location::Row(r) => format!("row {r}"),
                    Location::Line(l) => format!("line {l}"),
                    Location::File => "the file".into(),
                };
                let kind = ErrorKind::KMismatch {
                    expected,
                    found: k,
                    first,
                };
                Err(Error::new(origin.clone(), Some("completions".into()), kind))
            }
        }
    }

    /// The K of the first group seen, if any.
    pub(crate) fn k(&self) -> Option<usize> {
        self.first.map(|(k, _)| k)
    }
}
