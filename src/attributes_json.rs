//! The JSON form of resource attributes (docs/design.md §27), one
//! conversion for the two layers that speak JSON: the wire
//! (`http::attributes`) and the stored column (`store::resources`).

use serde_json::Value;

use crate::domain::attributes::{AttributeValue, Attributes, Number};

/// As a JSON value.
pub fn value_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Text(text) => Value::String(text.clone()),
        AttributeValue::Number(number) => {
            serde_json::from_str::<serde_json::Number>(number.as_str()).map_or(Value::Null, Value::Number)
        }
        AttributeValue::Flag(flag) => Value::Bool(*flag),
    }
}

/// From a JSON value, if it is a string, a number or a boolean.
pub fn value_from_json(value: &Value) -> Option<AttributeValue> {
    match value {
        Value::String(text) => Some(AttributeValue::Text(text.clone())),
        Value::Number(number) => Number::parse(&number.to_string()).map(AttributeValue::Number),
        Value::Bool(flag) => Some(AttributeValue::Flag(*flag)),
        _ => None,
    }
}

/// A filter's value as written in a query string, read as JSON: `true`
/// and `false` the booleans, `4` or `2.5` a number, `"4"` (quoted) the
/// string 4; anything else the string as written.
pub fn value_from_query(raw: &str) -> AttributeValue {
    serde_json::from_str::<Value>(raw)
        .ok()
        .as_ref()
        .and_then(value_from_json)
        .unwrap_or_else(|| AttributeValue::Text(raw.to_owned()))
}

/// As one JSON object.
pub fn to_json(attributes: &Attributes) -> Value {
    Value::Object(attributes.iter().map(|(key, value)| (key.clone(), value_to_json(value))).collect())
}

/// From a JSON object; `None` if it is not one of string, number and
/// boolean values.
pub fn from_json(value: &Value) -> Option<Attributes> {
    value.as_object()?.iter().map(|(key, value)| Some((key.clone(), value_from_json(value)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_read_as_json() {
        assert_eq!(value_from_query("true"), AttributeValue::Flag(true));
        assert_eq!(value_from_query("4"), AttributeValue::Number(4.into()));
        assert_eq!(value_from_query("\"4\""), AttributeValue::Text("4".into()));
        assert_eq!(value_from_query("clay"), AttributeValue::Text("clay".into()));
        assert_eq!(value_from_query("null"), AttributeValue::Text("null".into()));
        assert_eq!(value_from_query("[1]"), AttributeValue::Text("[1]".into()));
    }

    #[test]
    fn attributes_read_back_as_written() {
        let json = serde_json::json!({"seats": 4, "ratio": 2.5, "surface": "clay", "indoor": true});
        let attributes = from_json(&json).unwrap();
        assert_eq!(to_json(&attributes), json);
        assert!(from_json(&serde_json::json!({"nested": {"a": 1}})).is_none());
    }
}
