//! Record shapes ("schemas"), how they are recognised from the first record's fields, and how a
//! JSON object of each shape becomes a [`Record`].

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::chat::ChatTemplate;
use crate::error::{Error, ErrorKind};
use crate::fields::Fields;
use crate::hh;
use crate::records::{Group, GroupError, Pair, Record, Sft};
use crate::validate;

/// The shape of the records in a file.
///
/// Detection looks at the first record's fields, in this order:
///
/// ```text
/// completions                               → Rewards
/// messages, or a list in prompt/chosen/...  → Conversational
/// chosen + rejected + prompt                → Preference
/// chosen + rejected, chosen = "\n\nHuman:…" → AnthropicHh
/// chosen + rejected                         → ImplicitPrompt
/// prompt + completion, or prompt + chosen   → Sft
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Schema {
    /// `{"prompt", "chosen", "rejected"}` strings: TRL standard, and the official `*/pref`.
    Preference,
    /// `{"chosen", "rejected"}` strings with a shared prefix: TRL implicit prompt. The prompt is
    /// the longest common prefix, moved back by one if it ends in a space (as TRL does).
    ImplicitPrompt,
    /// TRL conversational: `prompt` (optional), `chosen`, `rejected` as lists of
    /// `{"role", "content"}` messages (without `prompt`, the shared leading messages are the
    /// prompt), or `{"messages"}` / `{"prompt", "completion"}` lists for SFT. Rendered through
    /// the chat template.
    Conversational,
    /// `{"chosen", "rejected"}` Anthropic-HH transcripts, split as the official preprocessing.
    AnthropicHh,
    /// `{"prompt", "completions", "rewards"}`: the official `*/rw` K-sample files.
    Rewards,
    /// `{"prompt", "completion"}` (TRL prompt-completion) or `{"prompt", "chosen"}` without
    /// `rejected` (the official `*/sft`).
    Sft,
}

impl Schema {
    /// All schemas, in detection order.
    pub const ALL: [Self; 6] = [
        Self::Rewards,
        Self::Conversational,
        Self::Preference,
        Self::AnthropicHh,
        Self::ImplicitPrompt,
        Self::Sft,
    ];

    /// The name used by [`FromStr`] and `--schema`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Preference => "preference",
            Self::ImplicitPrompt => "implicit-prompt",
            Self::Conversational => "conversational",
            Self::AnthropicHh => "hh",
            Self::Rewards => "rewards",
            Self::Sft => "sft",
        }
    }

    /// Recognises the schema from the fields of a first record; `None` when nothing fits.
    #[must_use]
    pub fn detect(record: &Map<String, Value>) -> Option<Self> {
        let has = |k: &str| record.get(k).is_some_and(|v| !v.is_null());
        let is_list = |k: &str| record.get(k).is_some_and(Value::is_array);
        if has("completions") {
            return Some(Self::Rewards);
        }
        if has("messages")
            || ["prompt", "chosen", "rejected", "completion"]
                .iter()
                .any(|k| is_list(k))
        {
            return Some(Self::Conversational);
        }
        if has("chosen") && has("rejected") {
            if has("prompt") {
                return Some(Self::Preference);
            }
            let hh = record
                .get("chosen")
                .and_then(Value::as_str)
                .is_some_and(hh::looks_like_hh);
            return Some(if hh {
                Self::AnthropicHh
            } else {
                Self::ImplicitPrompt
            });
        }
        if has("prompt") && (has("completion") || has("chosen")) {
            return Some(Self::Sft);
        }
        None
    }

    /// What a record of this shape looks like, for error messages.
    #[must_use]
    pub fn fields(self) -> &'static str {
        match self {
            Self::Preference => "prompt/chosen/rejected",
            Self::ImplicitPrompt => "chosen/rejected",
            Self::Conversational => "message lists",
            Self::AnthropicHh => "chosen/rejected hh transcripts",
            Self::Rewards => "prompt/completions/rewards",
            Self::Sft => "prompt/completion",
        }
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Preference => "preference pairs (prompt/chosen/rejected)",
            Self::ImplicitPrompt => "preference pairs, implicit prompt (chosen/rejected)",
            Self::Conversational => "conversational (message lists, chat template)",
            Self::AnthropicHh => "anthropic-hh transcripts (chosen/rejected)",
            Self::Rewards => "k completions with rewards (prompt/completions/rewards)",
            Self::Sft => "sft (prompt/completion)",
        };
        f.write_str(text)
    }
}

/// A `--schema` value that names no schema.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown schema {0:?} (expected preference, implicit-prompt, conversational, hh, rewards or sft)"
)]
pub struct UnknownSchema(pub String);

impl FromStr for Schema {
    type Err = UnknownSchema;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| UnknownSchema(s.to_owned()))
    }
}

/// A record, and a warning about it if any.
pub(crate) type Parsed = (Record, Option<Error>);

/// Turns one JSON object into a record of `schema`.
pub(crate) fn parse(
    schema: Schema,
    f: &Fields<'_>,
    chat: Option<&ChatTemplate>,
) -> Result<Parsed, Error> {
    match schema {
        Schema::Preference => {
            let prompt = f.string("prompt")?;
            let (chosen, rejected) = (f.string("chosen")?, f.string("rejected")?);
            validate::completion(f, "chosen", &chosen)?;
            validate::completion(f, "rejected", &rejected)?;
            let warning = validate::identical(f, &chosen, &rejected);
            Ok((
                Record::Pair(Pair {
                    prompt,
                    chosen,
                    rejected,
                }),
                warning,
            ))
        }
        Schema::ImplicitPrompt => {
            let (chosen, rejected) = (f.string("chosen")?, f.string("rejected")?);
            if let Some(w) = validate::identical(f, &chosen, &rejected) {
                return Err(w);
            }
            let cut = implicit_prompt_len(&chosen, &rejected);
            let pair = Pair {
                prompt: chosen[..cut].to_owned(),
                chosen: chosen[cut..].to_owned(),
                rejected: rejected[cut..].to_owned(),
            };
            validate::completion(f, "chosen", &pair.chosen)?;
            validate::completion(f, "rejected", &pair.rejected)?;
            Ok((Record::Pair(pair), None))
        }
        Schema::AnthropicHh => {
            let (chosen, rejected) = (f.string("chosen")?, f.string("rejected")?);
            let (prompt, chosen, rejected) =
                hh::split(&chosen, &rejected).map_err(|(field, kind)| f.error(field, kind))?;
            Ok((
                Record::Pair(Pair {
                    prompt,
                    chosen,
                    rejected,
                }),
                None,
            ))
        }
        Schema::Rewards => {
            let prompt = f.string("prompt")?;
            let completions = f.strings("completions")?;
            let rewards = f.numbers("rewards")?;
            validate::group_shape(f, completions.len(), rewards.len())?;
            for (i, c) in completions.iter().enumerate() {
                validate::completion(f, &format!("completions[{i}]"), c)?;
            }
            let group = Group::new(prompt, completions, rewards).map_err(|e| match e {
                GroupError::TooFew(found) => {
                    f.error("completions", ErrorKind::TooFewCompletions { found })
                }
                GroupError::RewardCount {
                    completions,
                    rewards,
                } => f.error(
                    "rewards",
                    ErrorKind::RewardCount {
                        completions,
                        rewards,
                    },
                ),
                GroupError::NonFinite { index, value } => f.error(
                    format!("rewards[{index}]"),
                    ErrorKind::NonFiniteReward {
                        value: value.to_string(),
                    },
                ),
            })?;
            Ok((Record::Group(group), None))
        }
        Schema::Sft => {
            let prompt = f.string("prompt")?;
            let field = if f.has("completion") || !f.has("chosen") {
                "completion"
            } else {
                "chosen"
            };
            let completion = f.string(field)?;
            validate::completion(f, field, &completion)?;
            Ok((Record::Sft(Sft { prompt, completion }), None))
        }
        Schema::Conversational => conversational(f, chat),
    }
}

/// Byte length of the implicit prompt: the longest common prefix (on char boundaries), less a
/// trailing space so that the completions keep their leading space, as TRL's `extract_prompt`.
fn implicit_prompt_len(a: &str, b: &str) -> usize {
    let mut cut = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            break;
        }
        cut = i + ca.len_utf8();
    }
    if cut > 0 && a.as_bytes()[cut - 1] == b' ' {
        cut -= 1;
    }
    cut
}

/// The text of a completion's messages, to check it is not empty.
fn message_text(messages: &[Value]) -> String {
    messages
        .iter()
        .map(|m| match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect()
}

fn conversational(f: &Fields<'_>, chat: Option<&ChatTemplate>) -> Result<Parsed, Error> {
    let chat = chat.ok_or_else(|| Error::new(f.origin.clone(), None, ErrorKind::NoChatTemplate))?;
    let render = |prompt: &[Value], completion: &[Value], field: &str| {
        if message_text(completion).trim().is_empty() {
            return Err(f.error(field, ErrorKind::EmptyCompletion));
        }
        chat.render_split(prompt, completion)
            .map_err(|kind| f.error(field, kind))
    };
    if f.has("chosen") || f.has("rejected") {
        let (mut chosen, mut rejected) = (f.messages("chosen")?, f.messages("rejected")?);
        let prompt = if f.has("prompt") {
            let warning = validate::identical(f, &chosen, &rejected);
            let prompt = f.messages("prompt")?;
            let (p, c) = render(&prompt, &chosen, "chosen")?;
            let (_, r) = render(&prompt, &rejected, "rejected")?;
            return Ok((
                Record::Pair(Pair {
                    prompt: p,
                    chosen: c,
                    rejected: r,
                }),
                warning,
            ));
        } else {
            if let Some(w) = validate::identical(f, &chosen, &rejected) {
                return Err(w);
            }
            let shared = chosen
                .iter()
                .zip(&rejected)
                .take_while(|(a, b)| a == b)
                .count();
            let prompt: Vec<Value> = chosen.drain(..shared).collect();
            rejected.drain(..shared);
            prompt
        };
        let (p, c) = render(&prompt, &chosen, "chosen")?;
        let (_, r) = render(&prompt, &rejected, "rejected")?;
        return Ok((
            Record::Pair(Pair {
                prompt: p,
                chosen: c,
                rejected: r,
            }),
            None,
        ));
    }
    let (prompt, completion, field) = if f.has("messages") {
        let mut messages = f.messages("messages")?;
        let last = messages.pop();
        let is_assistant = last
            .as_ref()
            .and_then(|m| m.get("role"))
            .and_then(Value::as_str)
            == Some("assistant");
        let Some(last) = last.filter(|_| is_assistant) else {
            let kind = ErrorKind::WrongType {
                expected: "a conversation ending with an assistant message",
                found: "none at the end".into(),
            };
            return Err(f.error("messages", kind));
        };
        (messages, vec![last], "messages")
    } else {
        (
            f.messages("prompt")?,
            f.messages("completion")?,
            "completion",
        )
    };
    let (prompt, completion) = render(&prompt, &completion, field)?;
    Ok((Record::Sft(Sft { prompt, completion }), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_prompt_keeps_the_space_with_the_completion() {
        let (a, b) = ("The sky is blue.", "The sky is green.");
        let cut = implicit_prompt_len(a, b);
        assert_eq!(
            (&a[..cut], &a[cut..], &b[cut..]),
            ("The sky is", " blue.", " green.")
        );
        assert_eq!(implicit_prompt_len("ab", "cd"), 0);
        // Multi-byte characters: the cut stays on a char boundary.
        let (a, b) = ("é x", "é y");
        assert_eq!(&a[..implicit_prompt_len(a, b)], "é");
        let (a, b) = ("aé", "aè");
        assert_eq!(&a[..implicit_prompt_len(a, b)], "a");
    }

    #[test]
    fn detection_order() {
        let detect = |s: &str| {
            Schema::detect(
                serde_json::from_str::<Value>(s)
                    .unwrap()
                    .as_object()
                    .unwrap(),
            )
        };
        assert_eq!(
            detect(r#"{"prompt": "p", "completions": ["a"], "rewards": [1]}"#),
            Some(Schema::Rewards)
        );
        assert_eq!(
            detect(r#"{"prompt": "p", "chosen": "a", "rejected": "b"}"#),
            Some(Schema::Preference)
        );
        assert_eq!(
            detect(r#"{"chosen": "p a", "rejected": "p b"}"#),
            Some(Schema::ImplicitPrompt)
        );
        assert_eq!(
            detect(r#"{"chosen": "\n\nHuman: a", "rejected": "x"}"#),
            Some(Schema::AnthropicHh)
        );
        assert_eq!(
            detect(r#"{"chosen": [], "rejected": []}"#),
            Some(Schema::Conversational)
        );
        assert_eq!(detect(r#"{"messages": []}"#), Some(Schema::Conversational));
        assert_eq!(
            detect(r#"{"prompt": "p", "chosen": "a"}"#),
            Some(Schema::Sft)
        );
        assert_eq!(
            detect(r#"{"prompt": "p", "completion": "a"}"#),
            Some(Schema::Sft)
        );
        assert_eq!(detect(r#"{"text": "p"}"#), None);
        for s in Schema::ALL {
            assert_eq!(s.name().parse::<Schema>(), Ok(s));
        }
        assert!("nope".parse::<Schema>().is_err());
    }
}
