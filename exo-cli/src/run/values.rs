//! The value parsers of the flags that are hyper-parameters. Each applies the rule of the library
//! type the value is for (exo-core's [`exo_core::hyper`] types for the objectives, exo-lm's
//! [`AdamWConfig::validate`] for the optimiser and [`SampleConfig::validate`] for sampling), so
//! every rule lives once and a bad value fails
//! while the command line is parsed, before any file is read. clap names the flag; the message
//! is the rule: `invalid value '0' for '--beta-pi <BETA_PI>': must be finite and > 0`.

use exo_lm::SampleConfig;
use exo_lm::lora::{LoraConfig, LoraTarget};
use exo_lm::optim::AdamWConfig;

/// A parser for a value of an exo-core hyper-parameter type (`Beta::new`, `Epsilon::new`, …).
pub fn hyper<T: 'static>(
    rule: fn(&'static str, f64) -> exo_core::Result<T>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text| {
        rule("value", number(text)?).map_err(|e| match e {
            exo_core::Error::HyperParameter { requirement, .. } => format!("must be {requirement}"),
            other => other.to_string(),
        })
    }
}

/// A parser for one field of AdamW, checked by exo-lm's [`AdamWConfig::validate`] with the other
/// fields at their (valid) defaults.
pub fn adamw(
    set: fn(&mut AdamWConfig, f64),
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    lm_rule(set, AdamWConfig::validate)
}

/// A parser for one float field of sampling, checked by exo-lm's [`SampleConfig::validate`].
pub fn sampling(
    set: fn(&mut SampleConfig, f64),
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    lm_rule(set, SampleConfig::validate)
}

/// A count of at least 1 (batch sizes, steps, top-k, seeds).
pub fn at_least_one<N>() -> impl Fn(&str) -> Result<N, String> + Clone + Send + Sync + 'static
where
    N: std::str::FromStr + PartialOrd + From<u8> + Clone + Send + Sync + 'static,
{
    |text| match text.trim().parse::<N>() {
        Ok(n) if n >= N::from(1) => Ok(n),
        Ok(_) => Err("must be at least 1".to_owned()),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// LoRA's rank, checked by exo-lm's [`LoraConfig::new`].
///
/// # Errors
/// If the text is not a whole number or breaks the rule.
pub fn lora_rank(text: &str) -> Result<usize, String> {
    let r = text
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    LoraConfig::new(r, 8.0, vec![LoraTarget::QProj])
        .map(|_| r)
        .map_err(|e| e.to_string())
}

/// LoRA's α, checked by exo-lm's [`LoraConfig::new`].
///
/// # Errors
/// If the text is not a number or breaks the rule.
pub fn lora_alpha(text: &str) -> Result<f64, String> {
    let alpha = number(text)?;
    LoraConfig::new(1, alpha, vec![LoraTarget::QProj])
        .map(|_| alpha)
        .map_err(|e| e.to_string())
}

/// LoRA's dropout probability, checked by exo-lm's [`LoraConfig::with_dropout`].
///
/// # Errors
/// If the text is not a number or breaks the rule.
pub fn lora_dropout(text: &str) -> Result<f64, String> {
    let p = number(text)?;
    LoraConfig::new(1, 1.0, vec![LoraTarget::QProj])
        .and_then(|c| c.with_dropout(p))
        .map(|_| p)
        .map_err(|e| e.to_string())
}

/// LoRA's target modules (exo-lm's [`LoraTarget::parse_list`]).
///
/// # Errors
/// If a name is unknown or the list is empty.
pub fn lora_targets(text: &str) -> Result<LoraTargets, String> {
    LoraTarget::parse_list(text)
        .map(LoraTargets)
        .map_err(|e| e.to_string())
}

/// The modules of `--lora-targets` (one flag value, a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoraTargets(pub Vec<LoraTarget>);

impl std::fmt::Display for LoraTargets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|t| t.name()).collect();
        f.write_str(&names.join(","))
    }
}

fn lm_rule<C: Default + 'static>(
    set: fn(&mut C, f64),
    validate: fn(&C) -> exo_lm::Result<()>,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |text| {
        let value = number(text)?;
        let mut config = C::default();
        set(&mut config, value);
        validate(&config).map(|()| value).map_err(|e| match e {
            exo_lm::LmError::HyperParameter { requirement, .. } => format!("must be {requirement}"),
            other => other.to_string(),
        })
    }
}

fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("`{text}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use exo_core::hyper::{Beta, Epsilon};

    #[test]
    fn hyper_parameters_follow_the_library_rules() {
        let beta = hyper(Beta::new);
        assert_eq!(beta("0.5").map(Beta::get), Ok(0.5));
        assert_eq!(beta("0").err().as_deref(), Some("must be finite and > 0"));
        assert_eq!(beta("x").err().as_deref(), Some("`x` is not a number"));
        let eps = hyper(Epsilon::new);
        assert!(eps("0.001").is_ok());
        assert_eq!(
            eps("0.5").err().as_deref(),
            Some("must be in the open interval (0, 0.5)")
        );
        let lr = adamw(|c, v| c.lr = v);
        assert_eq!(lr("1e-4"), Ok(1e-4));
        assert!(lr("0").is_err() && lr("-1").is_err() && lr("inf").is_err());
        let beta2 = adamw(|c, v| c.beta2 = v);
        assert_eq!(beta2("1").err().as_deref(), Some("must be in [0, 1)"));
        let top_p = sampling(|c, v| c.top_p = Some(v));
        assert!(top_p("1").is_ok() && top_p("0").is_err());
        let count = at_least_one::<u64>();
        assert_eq!(count("3"), Ok(3));
        assert_eq!(count("0").err().as_deref(), Some("must be at least 1"));
        assert!(count("-1").is_err() && count("1.5").is_err());
    }
}
