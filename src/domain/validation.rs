//! Field validation errors, `{"field": ["message", ...]}`, collected so that
//! every problem of a request is reported at once, as Django REST Framework
//! does.

use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .0
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(messages) = entry {
            messages.push(Value::String(message.into()));
        }
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `field` has an error.
    pub fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// The messages recorded under `field`, in order.
    pub fn messages(&self, field: &str) -> Vec<&str> {
        self.0
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// `Err` with these errors if there are any.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The errors as the JSON object a response carries.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

impl fmt::Display for FieldErrors {
    /// `field: message message; other: message`, for the command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            let messages = messages
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str);
            write!(
                f,
                "{}{field}: {}",
                if first { "" } else { "; " },
                messages.collect::<Vec<_>>().join(" ")
            )?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_errors_collect_messages_per_field() {
        let mut errors = FieldErrors::new();
        errors.add("password", "one");
        errors.add("password", "two");
        errors.add("client", "three");
        assert_eq!(
            errors.to_json(),
            json!({"password": ["one", "two"], "client": ["three"]})
        );
        assert_eq!(errors.to_string(), "password: one two; client: three");
        assert_eq!(errors.messages("password"), ["one", "two"]);
        assert!(errors.messages("username").is_empty());
    }
}
