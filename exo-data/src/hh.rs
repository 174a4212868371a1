//! Anthropic-HH transcripts (`"\n\nHuman: … \n\nAssistant: …"`) split into a prompt and two
//! responses, as the official EXO preprocessing (`exp/hh_exp/preproc.py`) does:
//!
//! ```text
//! turns    = the text split at "\n\n", a segment starting "Human:", "Humans:" or "Assistant:"
//!            opening a turn (other segments belong to the turn before; "Humans:" reads "Human:")
//! i        = the first turn where chosen and rejected differ; both must be assistant turns
//! prompt   = "\n\n" + shared turns joined by "\n\n" + "\n\nAssistant:"
//! response = that turn after "Assistant:" (so it starts with a space); later turns are dropped
//! ```
//!
//! Differences from the official script, all on inputs it would crash on or mangle: a transcript
//! that differs first in a human turn is an error instead of an assertion failure, and the
//! chosen response is not `lstrip`ped (the script strips only the chosen side).

use crate::error::ErrorKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Human,
    Assistant,
}

/// One turn: its role and its text including the `Human:` / `Assistant:` label.
#[derive(Debug, PartialEq, Eq)]
struct Turn {
    role: Role,
    text: String,
}

/// `true` when `text` looks like an HH transcript: it starts with `\n\nHuman:`.
pub(crate) fn looks_like_hh(text: &str) -> bool {
    text.starts_with("\n\nHuman:") || text.starts_with("\n\nHumans:")
}

fn turns(text: &str) -> Result<Vec<Turn>, String> {
    let mut segments = text.split("\n\n");
    if segments.next() != Some("") {
        return Err("does not start with \"\\n\\nHuman:\"".into());
    }
    let mut turns: Vec<Turn> = Vec::new();
    for seg in segments {
        if let Some(rest) = seg.strip_prefix("Humans:") {
            turns.push(Turn {
                role: Role::Human,
                text: format!("Human:{rest}"),
            });
        } else if seg.starts_with("Human:") {
            turns.push(Turn {
                role: Role::Human,
                text: seg.to_owned(),
            });
        } else if seg.starts_with("Assistant:") {
            turns.push(Turn {
                role: Role::Assistant,
                text: seg.to_owned(),
            });
        } else if let Some(last) = turns.last_mut() {
            last.text.push_str("\n\n");
            last.text.push_str(seg);
        } else {
            return Err("text before the first \"Human:\" turn".into());
        }
    }
    Ok(turns)
}

/// A split that failed, with the field it is about.
pub(crate) type SplitError = (&'static str, ErrorKind);

/// Splits two transcripts into `(prompt, chosen, rejected)`.
///
/// # Errors
///
/// The field (`chosen`, `rejected`) and an [`ErrorKind`]: [`ErrorKind::Hh`] for malformed
/// transcripts, [`ErrorKind::Identical`] (a warning; there is nothing to split) and
/// [`ErrorKind::EmptyCompletion`] for an empty response.
pub(crate) fn split(chosen: &str, rejected: &str) -> Result<(String, String, String), SplitError> {
    let c = turns(chosen).map_err(|m| ("chosen", ErrorKind::Hh(m)))?;
    let r = turns(rejected).map_err(|m| ("rejected", ErrorKind::Hh(m)))?;
    let Some(i) = (0..c.len().max(r.len())).find(|&i| c.get(i) != r.get(i)) else {
        return Err(("rejected", ErrorKind::Identical));
    };
    let (Some(ct), Some(rt)) = (c.get(i), r.get(i)) else {
        let field = if c.len() < r.len() {
            "chosen"
        } else {
            "rejected"
        };
        return Err((
            field,
            ErrorKind::Hh("ends before the transcripts differ".into()),
        ));
    };
    for (field, turn) in [("chosen", ct), ("rejected", rt)] {
        if turn.role != Role::Assistant {
            let msg = format!(
                "the transcripts first differ in turn {}, a human turn",
                i + 1
            );
            return Err((field, ErrorKind::Hh(msg)));
        }
    }
    let response = |t: &Turn| t.text["Assistant:".len()..].to_owned();
    let (chosen, rejected) = (response(ct), response(rt));
    for (field, text) in [("chosen", &chosen), ("rejected", &rejected)] {
        if text.trim().is_empty() {
            return Err((field, ErrorKind::EmptyCompletion));
        }
    }
    let mut prompt = String::new();
    for t in &c[..i] {
        prompt.push_str("\n\n");
        prompt.push_str(&t.text);
    }
    prompt.push_str("\n\nAssistant:");
    Ok((prompt, chosen, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_differing_assistant_turn() {
        let chosen = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Basil?\n\nAssistant: Sun and water.\n\nHuman: ok";
        let rejected = "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Basil?\n\nAssistant: No idea.";
        let (p, c, r) = split(chosen, rejected).unwrap();
        assert_eq!(
            p,
            "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Basil?\n\nAssistant:"
        );
        assert_eq!(c, " Sun and water.");
        assert_eq!(r, " No idea.");
    }

    #[test]
    fn paragraphs_stay_inside_their_turn_and_humans_is_normalised() {
        let chosen = "\n\nHumans: Two\n\nparagraphs\n\nAssistant: A\n\nB";
        let rejected = "\n\nHuman: Two\n\nparagraphs\n\nAssistant: C";
        let (p, c, r) = split(chosen, rejected).unwrap();
        assert_eq!(p, "\n\nHuman: Two\n\nparagraphs\n\nAssistant:");
        assert_eq!((c.as_str(), r.as_str()), (" A\n\nB", " C"));
    }

    #[test]
    fn malformed_transcripts_are_errors_not_panics() {
        let err = |c: &str, r: &str| split(c, r).unwrap_err();
        assert!(matches!(
            err("Human: x", "\n\nHuman: y").1,
            ErrorKind::Hh(_)
        ));
        assert!(matches!(
            err("\n\nHuman: x", "\n\nHuman: y").1,
            ErrorKind::Hh(_)
        ));
        assert!(matches!(
            err("\n\nHuman: x", "\n\nHuman: x").1,
            ErrorKind::Identical
        ));
        assert!(matches!(
            err("\n\nHuman: x", "\n\nHuman: x\n\nAssistant: y").1,
            ErrorKind::Hh(_)
        ));
        let empty = err(
            "\n\nHuman: x\n\nAssistant:  ",
            "\n\nHuman: x\n\nAssistant: y",
        );
        assert_eq!(empty.0, "chosen");
        assert!(matches!(empty.1, ErrorKind::EmptyCompletion));
        assert!(matches!(err("\n\nfoo", "\n\nHuman: x").1, ErrorKind::Hh(_)));
    }
}
