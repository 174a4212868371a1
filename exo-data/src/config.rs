//! The parts of a Hugging Face `tokenizer_config.json` that decide what the model sees: special
//! tokens, whether BOS/EOS are added, and the chat template.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// Settings read from `tokenizer_config.json` (every field optional, as in the wild).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenizerConfig {
    /// `bos_token` (a string or an `{"content": ...}` object); `None` when absent or null.
    pub bos_token: Option<String>,
    /// `eos_token`.
    pub eos_token: Option<String>,
    /// `pad_token`.
    pub pad_token: Option<String>,
    /// `add_bos_token` (Llama-style tokenizers); `None` when absent.
    pub add_bos_token: Option<bool>,
    /// `add_eos_token`; `None` when absent.
    pub add_eos_token: Option<bool>,
    /// `chat_template`: the string, or from a list of named templates the one named `default`;
    /// else the content of a `chat_template.jinja` file next to the config.
    pub chat_template: Option<String>,
}

fn token(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

impl TokenizerConfig {
    /// Reads `path` (a `tokenizer_config.json`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the file cannot be read, [`ErrorKind::Syntax`] when it is not
    /// JSON, [`ErrorKind::WrongType`] (field `chat_template`) when the template is neither a
    /// string nor a list with a `default` entry.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let bytes = std::fs::read(&path).map_err(|e| Error::file(&path, ErrorKind::Io(e)))?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::file(&path, ErrorKind::Syntax(e.to_string())))?;
        let mut config = Self::from_json(&value).map_err(|kind| {
            let origin = Error::file(&path, ErrorKind::MissingField).origin().clone();
            Error::new(origin, Some("chat_template".into()), kind)
        })?;
        if config.chat_template.is_none() {
            let jinja: PathBuf = path.with_file_name("chat_template.jinja");
            if jinja.is_file() {
                let text = std::fs::read_to_string(&jinja)
                    .map_err(|e| Error::file(&Arc::from(jinja.as_path()), ErrorKind::Io(e)))?;
                config.chat_template = Some(text);
            }
        }
        Ok(config)
    }

    /// Reads the settings from a parsed `tokenizer_config.json`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WrongType`] when `chat_template` is neither a string nor a list of
    /// `{"name", "template"}` objects with one named `default`.
    pub fn from_json(value: &Value) -> std::result::Result<Self, ErrorKind> {
        let chat_template = match value.get("chat_template") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => {
                let default = list
                    .iter()
                    .find(|t| t.get("name") == Some(&Value::from("default")));
                match default
                    .and_then(|t| t.get("template"))
                    .and_then(Value::as_str)
                {
                    Some(s) => Some(s.to_owned()),
                    None => {
                        return Err(ErrorKind::WrongType {
                            expected: "a list of templates with one named \"default\"",
                            found: "none named \"default\"".into(),
                        });
                    }
                }
            }
            Some(_) => {
                return Err(ErrorKind::WrongType {
                    expected: "a string or a list of named templates",
                    found: "another value".into(),
                });
            }
        };
        Ok(Self {
            bos_token: token(value.get("bos_token")),
            eos_token: token(value.get("eos_token")),
            pad_token: token(value.get("pad_token")),
            add_bos_token: value.get("add_bos_token").and_then(Value::as_bool),
            add_eos_token: value.get("add_eos_token").and_then(Value::as_bool),
            chat_template,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_may_be_strings_objects_or_null() {
        let v: Value = serde_json::from_str(
            r#"{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>",
                "pad_token": null, "add_bos_token": true,
                "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "y"}]}"#,
        )
        .unwrap();
        let c = TokenizerConfig::from_json(&v).unwrap();
        assert_eq!(c.bos_token.as_deref(), Some("<s>"));
        assert_eq!(c.eos_token.as_deref(), Some("</s>"));
        assert_eq!(c.pad_token, None);
        assert_eq!(c.add_bos_token, Some(true));
        assert_eq!(c.add_eos_token, None);
        assert_eq!(c.chat_template.as_deref(), Some("y"));
    }

    #[test]
    fn a_template_list_without_default_is_an_error() {
        let v: Value =
            serde_json::from_str(r#"{"chat_template": [{"name": "a", "template": "x"}]}"#).unwrap();
        assert!(matches!(
            TokenizerConfig::from_json(&v),
            Err(ErrorKind::WrongType { .. })
        ));
    }
}
