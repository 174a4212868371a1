//! Typed access to the fields of one JSON record, with errors that name the file, the line and
//! the field.

use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Origin};
use crate::formats::json::non_finite_literal;

/// How a value is described in "expected ..., found ..." messages.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(s) => match non_finite_literal(s) {
            Some(lit) => lit.to_owned(),
            None => "a string".into(),
        },
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// One record and where it came from.
pub(crate) struct Fields<'a> {
    pub(crate) map: &'a Map<String, Value>,
    pub(crate) origin: &'a Origin,
}

impl<'a> Fields<'a> {
    pub(crate) fn error(&self, field: impl Into<String>, kind: ErrorKind) -> Error {
        Error::new(self.origin.clone(), Some(field.into()), kind)
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|v| !v.is_null())
    }

    pub(crate) fn get(&self, name: &str) -> Result<&'a Value, Error> {
        self.map
            .get(name)
            .ok_or_else(|| self.error(name, ErrorKind::MissingField))
    }

    pub(crate) fn wrong(
        &self,
        field: impl Into<String>,
        expected: &'static str,
        v: &Value,
    ) -> Error {
        self.error(
            field,
            ErrorKind::WrongType {
                expected,
                found: describe(v),
            },
        )
    }

    pub(crate) fn string(&self, name: &str) -> Result<String, Error> {
        let v = self.get(name)?;
        match v.as_str() {
            Some(s) if non_finite_literal(s).is_none() => Ok(s.to_owned()),
            _ => Err(self.wrong(name, "a string", v)),
        }
    }

    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>, Error> {
        let v = self.get(name)?;
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong(name, "a list of strings", v))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.as_str() {
                Some(s) if non_finite_literal(s).is_none() => Ok(s.to_owned()),
                _ => Err(self.wrong(format!("{name}[{i}]"), "a string", item)),
            })
            .collect()
    }

    /// A list of numbers; NaN and infinities are [`ErrorKind::NonFiniteReward`].
    pub(crate) fn numbers(&self, name: &str) -> Result<Vec<f64>, Error> {
        let v = self.get(name)?;
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong(name, "a list of numbers", v))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let field = format!("{name}[{i}]");
                match item {
                    Value::Number(n) => match n.as_f64() {
                        Some(x) if x.is_finite() => Ok(x),
                        _ => Err(self.error(
                            field,
                            ErrorKind::NonFiniteReward {
                                value: n.to_string(),
                            },
                        )),
                    },
                    Value::String(s) => match non_finite_literal(s) {
                        Some(lit) => Err(self.error(
                            field,
                            ErrorKind::NonFiniteReward {
                                value: lit.to_owned(),
                            },
                        )),
                        None => Err(self.wrong(field, "a number", item)),
                    },
                    other => Err(self.wrong(field, "a number", other)),
                }
            })
            .collect()
    }

    /// A list of chat messages: objects with a string `role` (content is passed through).
    pub(crate) fn messages(&self, name: &str) -> Result<Vec<Value>, Error> {
        let v = self.get(name)?;
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong(name, "a list of messages", v))?;
        for (i, m) in items.iter().enumerate() {
            let Some(obj) = m.as_object() else {
                return Err(self.wrong(format!("{name}[{i}]"), "a message object", m));
            };
            match obj.get("role") {
                Some(Value::String(_)) => {}
                Some(other) => {
                    return Err(self.wrong(format!("{name}[{i}].role"), "a string", other));
                }
                None => {
                    return Err(self.error(format!("{name}[{i}].role"), ErrorKind::MissingField));
                }
            }
        }
        Ok(items.clone())
    }
}
