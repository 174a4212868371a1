//! Chat templates (the Jinja `chat_template` of `tokenizer_config.json`) rendered with
//! minijinja, configured like transformers' `apply_chat_template`: `trim_blocks`,
//! `lstrip_blocks`, loop controls, `raise_exception`, and Python string methods (`.strip()`,
//! `.startswith()`, ...) through minijinja-contrib's `pycompat`.

use std::fmt;

use minijinja::{Environment, context};
use serde_json::Value;

use crate::error::ErrorKind;

const NAME: &str = "chat_template";
/// Upper bound on template instructions per render: a template cannot loop forever.
const FUEL: u64 = 50_000_000;

/// A compiled chat template plus the `bos_token` / `eos_token` strings it may print.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

fn raise_exception(message: String) -> Result<String, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        message,
    ))
}

/// serde_json to minijinja, recursively (serde_json's parser caps the depth at 128).
fn to_jinja(v: &Value) -> minijinja::Value {
    match v {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => minijinja::Value::from(i),
            (None, Some(x)) => minijinja::Value::from(x),
            (None, None) => minijinja::Value::from(n.to_string()),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => items.iter().map(to_jinja).collect(),
        Value::Object(map) => {
            minijinja::Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), to_jinja(v))))
        }
    }
}

/// A minijinja error with its chain of causes, on one line.
fn describe(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

impl ChatTemplate {
    /// Compiles `template`; `bos_token` / `eos_token` are what `{{ bos_token }}` and
    /// `{{ eos_token }}` print (empty when `None`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ChatTemplate`] with minijinja's message when the template does not parse.
    pub fn new(
        template: impl Into<String>,
        bos_token: Option<String>,
        eos_token: Option<String>,
    ) -> Result<Self, ErrorKind> {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| ErrorKind::ChatTemplate(describe(&e)))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(NAME, template.into())
            .map_err(|e| ErrorKind::ChatTemplate(describe(&e)))?;
        Ok(Self {
            env,
            bos_token: bos_token.unwrap_or_default(),
            eos_token: eos_token.unwrap_or_default(),
        })
    }

    /// Renders `messages` (a list of `{"role", "content", ...}` objects), with
    /// `add_generation_prompt` as in transformers.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ChatTemplate`] when rendering fails (including `raise_exception` calls).
    pub fn render(
        &self,
        messages: &[Value],
        add_generation_prompt: bool,
    ) -> Result<String, ErrorKind> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| ErrorKind::ChatTemplate(describe(&e)))?;
        let messages: minijinja::Value = messages.iter().map(to_jinja).collect();
        let ctx = context! {
            messages => messages,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
            add_generation_prompt => add_generation_prompt,
        };
        template
            .render(ctx)
            .map_err(|e| ErrorKind::ChatTemplate(describe(&e)))
    }

    /// Renders a prompt and one continuation of it, and returns `(prompt, completion)` where
    /// `prompt` is rendered with the generation prompt and `completion` is the rest of the
    /// full conversation after it (TRL's `prompt_chosen[len(prompt):]`, but checked).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ChatTemplate`] when rendering fails or when the rendered prompt is not a
    /// prefix of the rendered conversation (the template would move the boundary).
    pub fn render_split(
        &self,
        prompt: &[Value],
        completion: &[Value],
    ) -> Result<(String, String), ErrorKind> {
        let prompt_text = self.render(prompt, true)?;
        let mut all = prompt.to_vec();
        all.extend_from_slice(completion);
        let full = self.render(&all, false)?;
        match full.strip_prefix(&prompt_text) {
            Some(rest) => Ok((prompt_text, rest.to_owned())),
            None => Err(ErrorKind::ChatTemplate(
                "the rendered prompt is not a prefix of the rendered conversation".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    fn msgs(v: &str) -> Vec<Value> {
        serde_json::from_str(v).unwrap()
    }

    #[test]
    fn renders_prompt_and_completion_split_at_the_generation_prompt() {
        let t = ChatTemplate::new(CHATML, Some("<s>".into()), Some("</s>".into())).unwrap();
        let (p, c) = t
            .render_split(
                &msgs(r#"[{"role": "user", "content": "Sky?"}]"#),
                &msgs(r#"[{"role": "assistant", "content": " Blue. "}]"#),
            )
            .unwrap();
        assert_eq!(
            p,
            "<s><|im_start|>user\nSky?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(c, "Blue.<|im_end|>\n");
    }

    #[test]
    fn python_string_methods_and_raise_exception_work() {
        let t = ChatTemplate::new(
            "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}{{ messages[0].content.strip().upper() }}",
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            t.render(&msgs(r#"[{"role": "user", "content": " hi "}]"#), false)
                .unwrap(),
            "HI"
        );
        let err = t
            .render(&msgs(r#"[{"role": "system", "content": "x"}]"#), false)
            .unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");
    }

    #[test]
    fn a_template_that_moves_the_boundary_is_refused() {
        // Renders the generation prompt differently from a finished assistant turn.
        let t = ChatTemplate::new(
            "{% for m in messages %}[{{ m.role }}] {{ m.content }} {% endfor %}{% if add_generation_prompt %}[assistant]>{% endif %}",
            None,
            None,
        )
        .unwrap();
        let err = t
            .render_split(
                &msgs(r#"[{"role": "user", "content": "a"}]"#),
                &msgs(r#"[{"role": "assistant", "content": "b"}]"#),
            )
            .unwrap_err();
        assert!(err.to_string().contains("not a prefix"), "{err}");
        assert!(ChatTemplate::new("{% if %}", None, None).is_err());
    }
}
