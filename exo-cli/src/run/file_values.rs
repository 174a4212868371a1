//! How a flag's value is read from a `--config` TOML file and written into one: serde adapters
//! for the fields of the commands' argument structs (`#[serde(with = "…")]`).
//!
//! A flag whose value clap checks with a rule of [`super::values`] (`--beta-pi`, `--lr`,
//! `--batch-prompts`, `--model`, …) reads its file value through **the same rule**: the TOML
//! scalar (a number, a string or a boolean) is handed to the flag's parser, so `beta_pi = 0` in a
//! file fails with the message `--beta-pi 0` gives. Each rule has three adapters, for a field of
//! the type itself, of an `Option` of it and of a `Vec` of it. Choices (`clap::ValueEnum`) are
//! spelt as on the command line ([`value_enum`]), other text types by their `FromStr`/`Display`
//! ([`text`]).

use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;

use exo_core::hyper::{Beta, Epsilon, Finite, LabelSmoothing, NonNegative};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::hub::model_location;
use super::values::{
    LoraTargets, adamw, at_least_one, hyper, lora_alpha, lora_dropout, lora_rank, lora_targets,
    sampling,
};

/// A TOML scalar as the text a flag's parser reads: numbers as Rust writes them (the shortest
/// text that reads back to the same `f64`), strings as they are.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Text(s) => s,
        }
    }
}

fn through<'de, D: Deserializer<'de>, T>(
    d: D,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    let text = Scalar::deserialize(d)?.text();
    parse(&text).map_err(D::Error::custom)
}

/// Declares the serde adapters of one flag rule: `$name` (a field of the type), `$name::opt`
/// (an `Option`) and `$name::vec` (a list, a TOML array).
macro_rules! rules {
    ($($name:ident: $ty:ty = $parser:expr, |$v:ident| $write:expr;)+) => {$(
        #[doc = concat!("Reads a file value with the rule `", stringify!($parser), "`.")]
        // Every rule gets all three adapters; a field of each shape may not exist (yet).
        #[allow(dead_code)]
        pub mod $name {
            use super::*;

            fn write($v: &$ty) -> impl Serialize + '_ {
                $write
            }

            /// Reads the value through the flag's rule.
            ///
            /// # Errors
            /// If the value is not a scalar or breaks the rule.
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                through(d, $parser)
            }

            /// Writes the value as the scalar the rule reads back.
            ///
            /// # Errors
            /// The serializer's.
            pub fn serialize<S: Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                write(v).serialize(s)
            }

            /// The adapters for an `Option` (absent from the file: `None`).
            pub mod opt {
                use super::*;

                /// Reads a present value through the flag's rule.
                ///
                /// # Errors
                /// If the value is not a scalar or breaks the rule.
                pub fn deserialize<'de, D: Deserializer<'de>>(
                    d: D,
                ) -> Result<Option<$ty>, D::Error> {
                    super::deserialize(d).map(Some)
                }

                /// Writes a present value (a `None` field is skipped: see the call sites).
                ///
                /// # Errors
                /// The serializer's.
                pub fn serialize<S: Serializer>(v: &Option<$ty>, s: S) -> Result<S::Ok, S::Error> {
                    v.as_ref().map(|v| write(v)).serialize(s)
                }
            }

            /// The adapters for a list.
            pub mod vec {
                use super::*;

                #[derive(Deserialize)]
                struct One(#[serde(with = "super")] $ty);

                /// Reads each element through the flag's rule.
                ///
                /// # Errors
                /// If the value is not a list of scalars or an element breaks the rule.
                pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<$ty>, D::Error> {
                    Ok(Vec::<One>::deserialize(d)?.into_iter().map(|One(v)| v).collect())
                }

                /// Writes the list.
                ///
                /// # Errors
                /// The serializer's.
                pub fn serialize<S: Serializer>(v: &[$ty], s: S) -> Result<S::Ok, S::Error> {
                    s.collect_seq(v.iter().map(|v| write(v)))
                }
            }
        }
    )+};
}

rules! {
    model_dir: PathBuf = model_location, |v| v;
    beta: Beta = hyper(Beta::new), |v| v.get();
    epsilon: Epsilon = hyper(Epsilon::new), |v| v.get();
    label_smoothing: LabelSmoothing = hyper(LabelSmoothing::new), |v| v.get();
    non_negative: NonNegative = hyper(NonNegative::new), |v| v.get();
    finite: Finite = hyper(Finite::new), |v| v.get();
    count: usize = at_least_one::<usize>(), |v| v;
    count_u32: u32 = at_least_one::<u32>(), |v| v;
    count_u64: u64 = at_least_one::<u64>(), |v| v;
    lr: f64 = adamw(|c, v| c.lr = v), |v| v;
    adam_beta1: f64 = adamw(|c, v| c.beta1 = v), |v| v;
    adam_beta2: f64 = adamw(|c, v| c.beta2 = v), |v| v;
    adam_eps: f64 = adamw(|c, v| c.eps = v), |v| v;
    weight_decay: f64 = adamw(|c, v| c.weight_decay = v), |v| v;
    temperature: f64 = sampling(|c, v| c.temperature = v), |v| v;
    top_p: f64 = sampling(|c, v| c.top_p = Some(v)), |v| v;
    lora_r: usize = lora_rank, |v| v;
    lora_a: f64 = lora_alpha, |v| v;
    lora_p: f64 = lora_dropout, |v| v;
    lora_modules: LoraTargets = lora_targets, |v| v.to_string();
}

/// A choice (`clap::ValueEnum`), spelt as on the command line (`cosine`, `keep-end`, …).
pub mod value_enum {
    use super::*;

    /// Reads a choice by its command-line name.
    ///
    /// # Errors
    /// If the value is not one of the names.
    pub fn deserialize<'de, D: Deserializer<'de>, T: clap::ValueEnum>(d: D) -> Result<T, D::Error> {
        through(d, |s| T::from_str(s, false))
    }

    /// Writes a choice's command-line name.
    ///
    /// # Errors
    /// The serializer's, or a choice with no name (clap's `skip`).
    pub fn serialize<S: Serializer, T: clap::ValueEnum>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        match v.to_possible_value() {
            Some(p) => s.serialize_str(p.get_name()),
            None => Err(serde::ser::Error::custom("a choice with no name")),
        }
    }

    /// The adapters for an `Option` of a choice.
    pub mod opt {
        use super::*;

        /// Reads a present choice.
        ///
        /// # Errors
        /// If the value is not one of the names.
        pub fn deserialize<'de, D: Deserializer<'de>, T: clap::ValueEnum>(
            d: D,
        ) -> Result<Option<T>, D::Error> {
            super::deserialize(d).map(Some)
        }

        /// Writes a present choice.
        ///
        /// # Errors
        /// The serializer's.
        pub fn serialize<S: Serializer, T: clap::ValueEnum>(
            v: &Option<T>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(v) => super::serialize(v, s),
                None => s.serialize_none(),
            }
        }
    }
}

/// A value with its own `FromStr` and `Display` (`--truncation`, `--device`).
pub mod text {
    use super::*;

    /// Reads the value with its `FromStr`.
    ///
    /// # Errors
    /// If the text does not parse.
    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: Display,
    {
        through(d, |s| s.parse::<T>().map_err(|e| e.to_string()))
    }

    /// Writes the value with its `Display`.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer, T: Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fields {
        #[serde(with = "beta")]
        beta: Beta,
        #[serde(default, with = "lr::opt", skip_serializing_if = "Option::is_none")]
        lr: Option<f64>,
        #[serde(default, with = "count::vec")]
        counts: Vec<usize>,
        #[serde(with = "text")]
        truncation: exo_data::TruncationMode,
    }

    #[test]
    fn file_values_follow_their_flags_rules_and_read_back_what_they_write() {
        let read = |text: &str| toml::from_str::<Fields>(text).map_err(|e| e.to_string());
        let fields = read("beta = 1\nlr = 1e-4\ncounts = [1, 2]\ntruncation = \"keep-start\"");
        let Ok(fields) = fields else {
            panic!("{fields:?}");
        };
        assert_eq!(fields.beta.get(), 1.0);
        assert_eq!(fields.lr, Some(1e-4));
        assert_eq!(fields.counts, [1, 2]);
        let written = toml::to_string(&fields).map_err(|e| e.to_string());
        assert_eq!(written.as_deref().map(read), Ok(Ok(fields)));
        let none = read("beta = 0.5\ntruncation = \"keep-end\"");
        assert_eq!(none.map(|f| (f.lr, f.counts)), Ok((None, vec![])));

        for (text, message) in [
            (
                "beta = 0\ntruncation = \"keep-end\"",
                "must be finite and > 0",
            ),
            (
                "beta = \"x\"\ntruncation = \"keep-end\"",
                "`x` is not a number",
            ),
            (
                "beta = 1\nlr = -1\ntruncation = \"keep-end\"",
                "must be finite and > 0",
            ),
            (
                "beta = 1\ncounts = [0]\ntruncation = \"keep-end\"",
                "must be at least 1",
            ),
            ("beta = 1\ntruncation = \"middle\"", "middle"),
        ] {
            let err = read(text).err().unwrap_or_default();
            assert!(err.contains(message), "{text}: {err}");
        }
    }
}
