//! Resource attributes (docs/design.md §27): a flat map of string, number
//! and boolean values ("surface": "clay", "indoor": true, "seats": 4) that
//! search filters on by equality, values compared as JSON (the string "4"
//! is not the number 4). What a valid map is (keys, sizes) is checked where
//! it arrives (`http::attributes`); its JSON form is `crate::attributes_json`.

use std::collections::BTreeMap;

/// At most this many keys per resource, and filters per search.
pub const MAX_ATTRIBUTES: usize = 32;
/// The longest string value, in characters.
pub const MAX_TEXT_CHARS: usize = 200;

/// One value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributeValue {
    Text(String),
    Number(Number),
    Flag(bool),
}

/// A number as its JSON text (`4`, `2.5`, `1e3`), equal to any other of
/// the same value (`4` and `4.0` are one number, as JSON has one kind).
#[derive(Clone, Debug)]
pub struct Number {
    text: String,
    value: f64,
}

impl Number {
    /// From the text of a JSON number; `None` if it is not a finite one.
    pub fn parse(text: &str) -> Option<Self> {
        let value: f64 = text.parse().ok()?;
        value.is_finite().then(|| Self { text: text.to_owned(), value })
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn value(&self) -> f64 {
        self.value
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        Self { text: value.to_string(), value: value as f64 }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

// Never NaN (`parse` refuses it): equality is an equivalence.
impl Eq for Number {}

/// A resource's attributes, by key.
pub type Attributes = BTreeMap<String, AttributeValue>;

/// One equality filter of a search.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributeFilter {
    pub key: String,
    pub value: AttributeValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_equal_as_json_of_one_type_and_numbers_by_value() {
        let number = |text: &str| AttributeValue::Number(Number::parse(text).unwrap());
        assert_eq!(number("4"), number("4.0"));
        assert_eq!(number("4.0"), AttributeValue::Number(4.into()));
        assert_ne!(number("4"), AttributeValue::Text("4".into()));
        assert_ne!(AttributeValue::Flag(true), AttributeValue::Text("true".into()));
        assert_eq!(number("4").clone(), number("4"));
        assert!(Number::parse("NaN").is_none() && Number::parse("inf").is_none());
    }
}
