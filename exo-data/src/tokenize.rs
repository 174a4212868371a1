//! Tokenisation with a Hugging Face `tokenizer.json`, the way the models expect it:
//!
//! ```text
//! prompt ids     = [BOS if the tokenizer adds one and the text does not already start with it]
//!                  ++ encode(prompt)                       (no special tokens added by encode)
//! completion ids = encode(completion)
//!                  ++ [EOS unless the text already holds it (chat templates often close turns)]
//! row i          = prompt ids ++ completion ids[i]         (joined as ids: no boundary drift)
//! ```
//!
//! The prompt and each completion are encoded separately and joined as ids, so the prompt's
//! ids are exactly a prefix of every row whatever the tokenizer merges across the boundary
//! (peers.md §8: "the prompt/completion token boundary drifts"). BOS appears at most once at the
//! start of the prompt and EOS at most once at the end of each completion (a doubled one, as
//! when a chat template prints `{{ bos_token }}` and the tokenizer adds another, is collapsed).

use std::path::Path;
use std::sync::Arc;

use crate::chat::ChatTemplate;
use crate::config::TokenizerConfig;
use crate::error::{Error, ErrorKind, Origin, Result};
use crate::reader::Example;
use crate::truncate::{Fit, Truncation};

/// The special tokens that decide what the model sees, and where they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpecialTokens {
    /// The BOS id, if the tokenizer has one.
    pub bos: Option<u32>,
    /// Whether prompts start with BOS: `add_bos_token` of `tokenizer_config.json` when
    /// present, else whether the `tokenizer.json` post-processor prepends a token.
    pub add_bos: bool,
    /// The EOS id appended to completions.
    pub eos: u32,
    /// The padding id: `pad_token`, else EOS (as the official code: `pad_token = eos_token`).
    pub pad: u32,
}

/// A Hugging Face tokenizer plus the settings of its `tokenizer_config.json`.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialTokens,
    chat: Option<Arc<ChatTemplate>>,
    path: Arc<Path>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .field("special", &self.special)
            .field("chat_template", &self.chat.is_some())
            .finish_non_exhaustive()
    }
}

/// One record as token ids: the prompt once, and each completion (the rows are
/// `prompt ++ completions[i]`).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizedGroup {
    /// Where the record came from.
    pub origin: Origin,
    /// Prompt ids, BOS included when the tokenizer adds one.
    pub prompt: Vec<u32>,
    /// Completion ids, EOS included (unless truncation cut it), in training order.
    pub completions: Vec<Vec<u32>>,
    /// One reward per completion (`[1, 0]` for pairs); empty for SFT.
    pub rewards: Vec<f64>,
}

impl TokenizedGroup {
    /// K, the number of completions (rows).
    #[must_use]
    pub fn k(&self) -> usize {
        self.completions.len()
    }

    /// The longest row, `prompt + longest completion`, in tokens.
    #[must_use]
    pub fn max_row_len(&self) -> usize {
        self.prompt.len() + self.completions.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// Row `i` as ids: `prompt ++ completions[i]`; `None` when `i ≥ K`.
    #[must_use]
    pub fn row(&self, i: usize) -> Option<Vec<u32>> {
        let c = self.completions.get(i)?;
        let mut row = Vec::with_capacity(self.prompt.len() + c.len());
        row.extend_from_slice(&self.prompt);
        row.extend_from_slice(c);
        Some(row)
    }
}

/// The result of tokenising one record.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// The ids: truncated when [`Encoded::fit`] is [`Fit::Truncated`], untouched otherwise.
    pub group: TokenizedGroup,
    /// Prompt length in tokens before truncation.
    pub prompt_len: usize,
    /// Completion lengths in tokens before truncation.
    pub completion_lens: Vec<usize>,
    /// Whether it fit, was truncated, or is to be dropped.
    pub fit: Fit,
}

fn tok_error(path: &Arc<Path>, msg: impl Into<String>) -> Error {
    Error::file(path, ErrorKind::Tokenizer(msg.into()))
}

impl Tokenizer {
    /// Loads `tokenizer.json`, and the `tokenizer_config.json` next to it if there is one.
    ///
    /// # Errors
    ///
    /// As [`Tokenizer::from_files`].
    pub fn from_file(tokenizer_json: impl AsRef<Path>) -> Result<Self> {
        let path = tokenizer_json.as_ref();
        let config = path.with_file_name("tokenizer_config.json");
        Self::from_files(path, config.is_file().then_some(config.as_path()))
    }

    /// Loads `tokenizer.json` and, if given, `tokenizer_config.json`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tokenizer`] when the tokenizer cannot be loaded, when a special token of
    /// the config is not in the vocabulary, or when no EOS token can be found (neither
    /// `eos_token` in the config nor one appended by the post-processor);
    /// [`ErrorKind::ChatTemplate`] when the chat template does not compile; the errors of
    /// [`TokenizerConfig::from_file`].
    pub fn from_files(tokenizer_json: impl AsRef<Path>, config: Option<&Path>) -> Result<Self> {
        let path: Arc<Path> = Arc::from(tokenizer_json.as_ref());
        let inner =
            tokenizers::Tokenizer::from_file(&path).map_err(|e| tok_error(&path, e.to_string()))?;
        let config = match config {
            Some(c) => TokenizerConfig::from_file(c)?,
            None => TokenizerConfig::default(),
        };
        Self::new(inner, &config, path)
    }

    /// Wraps an already loaded tokenizer; `path` only names it in errors.
    ///
    /// # Errors
    ///
    /// As [`Tokenizer::from_files`].
    pub fn new(
        inner: tokenizers::Tokenizer,
        config: &TokenizerConfig,
        path: Arc<Path>,
    ) -> Result<Self> {
        let id_of = |field: &str, token: &Option<String>| -> Result<Option<u32>> {
            match token {
                None => Ok(None),
                Some(t) => match inner.token_to_id(t) {
                    Some(id) => Ok(Some(id)),
                    None => Err(tok_error(
                        &path,
                        format!("{field} {t:?} is not in the vocabulary"),
                    )),
                },
            }
        };
        // What the post-processor adds around a sequence: probe with one character.
        let plain = inner
            .encode("a", false)
            .map_err(|e| tok_error(&path, e.to_string()))?;
        let full = inner
            .encode("a", true)
            .map_err(|e| tok_error(&path, e.to_string()))?;
        let (plain, full) = (plain.get_ids(), full.get_ids());
        let at = full
            .windows(plain.len().max(1))
            .position(|w| w == plain)
            .unwrap_or(0);
        let (prefix, suffix) = (&full[..at], &full[(at + plain.len()).min(full.len())..]);

        let mut bos = id_of("bos_token", &config.bos_token)?;
        let add_bos = config.add_bos_token.unwrap_or(prefix.len() == 1);
        if add_bos && config.add_bos_token.is_none() {
            bos = prefix.first().copied();
        }
        if add_bos && bos.is_none() {
            return Err(tok_error(
                &path,
                "add_bos_token is set but there is no bos_token",
            ));
        }
        let eos = match id_of("eos_token", &config.eos_token)? {
            Some(id) => id,
            None => match suffix {
                [id] => *id,
                _ => {
                    return Err(tok_error(
                        &path,
                        "no eos token: set eos_token in tokenizer_config.json",
                    ));
                }
            },
        };
        let pad = id_of("pad_token", &config.pad_token)?.unwrap_or(eos);
        let chat = match &config.chat_template {
            None => None,
            Some(source) => {
                let text = |id: Option<u32>| id.and_then(|i| inner.id_to_token(i));
                let bos_text = config.bos_token.clone().or_else(|| text(bos));
                let eos_text = config.eos_token.clone().or_else(|| text(Some(eos)));
                let template = ChatTemplate::new(source.clone(), bos_text, eos_text)
                    .map_err(|kind| Error::file(&path, kind))?;
                Some(Arc::new(template))
            }
        };
        Ok(Self {
            inner,
            special: SpecialTokens {
                bos,
                add_bos,
                eos,
                pad,
            },
            chat,
            path,
        })
    }

    /// The special tokens in use.
    #[must_use]
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// The chat template of `tokenizer_config.json`, if it has one.
    #[must_use]
    pub fn chat_template(&self) -> Option<Arc<ChatTemplate>> {
        self.chat.clone()
    }

    /// The wrapped `tokenizers` tokenizer.
    #[must_use]
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    fn encode_plain(&self, text: &str) -> std::result::Result<Vec<u32>, ErrorKind> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ErrorKind::Tokenizer(e.to_string()))
    }

    /// Prompt ids: BOS once at the start when the tokenizer adds one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tokenizer`] when encoding fails.
    pub fn encode_prompt(&self, text: &str) -> std::result::Result<Vec<u32>, ErrorKind> {
        let mut ids = self.encode_plain(text)?;
        if let Some(bos) = self.special.bos {
            if self.special.add_bos && ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
            let doubled = ids.iter().take_while(|&&id| id == bos).count();
            if doubled > 1 {
                ids.drain(..doubled - 1);
            }
        }
        Ok(ids)
    }

    /// Completion ids: EOS once at the end, unless the text already contains it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tokenizer`] when encoding fails.
    pub fn encode_completion(&self, text: &str) -> std::result::Result<Vec<u32>, ErrorKind> {
        let eos = self.special.eos;
        let mut ids = self.encode_plain(text)?;
        if !ids.contains(&eos) {
            ids.push(eos);
        }
        while ids.len() >= 2 && ids[ids.len() - 1] == eos && ids[ids.len() - 2] == eos {
            ids.pop();
        }
        Ok(ids)
    }

    /// Tokenises one example and applies `truncation`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tokenizer`] (at the example's origin, with the field) when encoding fails.
    pub fn encode(&self, example: &Example, truncation: &Truncation) -> Result<Encoded> {
        let err = |field: String, kind| Error::new(example.origin.clone(), Some(field), kind);
        let record = &example.record;
        let prompt = self
            .encode_prompt(record.prompt())
            .map_err(|k| err("prompt".into(), k))?;
        let completions = record
            .completions()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                self.encode_completion(c)
                    .map_err(|k| err(format!("completions[{i}]"), k))
            })
            .collect::<Result<Vec<_>>>()?;
        let prompt_len = prompt.len();
        let completion_lens = completions.iter().map(Vec::len).collect();
        let mut group = TokenizedGroup {
            origin: example.origin.clone(),
            prompt,
            completions,
            rewards: record.rewards(),
        };
        let has_bos =
            self.special.bos.is_some() && group.prompt.first() == self.special.bos.as_ref();
        let fit = truncation.apply(&mut group.prompt, &mut group.completions, has_bos);
        Ok(Encoded {
            group,
            prompt_len,
            completion_lens,
            fit,
        })
    }

    /// Text of `ids` with special tokens shown (`<s>`, `</s>`, ...).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Tokenizer`] when decoding fails.
    pub fn decode(&self, ids: &[u32]) -> std::result::Result<String, ErrorKind> {
        self.inner
            .decode(ids, false)
            .map_err(|e| ErrorKind::Tokenizer(e.to_string()))
    }

    /// The token string of each id (`"Ġblue"`, `"</s>"`), for showing exact boundaries.
    #[must_use]
    pub fn tokens(&self, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&id| {
                self.inner
                    .id_to_token(id)
                    .unwrap_or_else(|| format!("<{id}>"))
            })
            .collect()
    }
}
