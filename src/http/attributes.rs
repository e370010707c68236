//! Resource attributes on the wire (docs/design.md §27): the `attributes`
//! object of a resource, checked where it arrives (keys, value types,
//! sizes; a PATCH merges per RFC 7396), and the `attr.<key>=<value>`
//! filters of a query string (`Filtered`), each at its own pointer.

use axum::{extract::FromRequestParts, http::request::Parts};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, OneOfBuilder, RefOr, Type, schema::Schema},
};
use validator::Validate;

use super::{
    extract::parse_query,
    problem::{FieldError, Problem},
};
use crate::domain::attributes::{AttributeFilter, AttributeValue, Attributes, MAX_ATTRIBUTES, MAX_TEXT_CHARS};

/// The longest key (`^[a-z][a-z0-9_]{0,62}$`).
const MAX_KEY_LENGTH: usize = 63;
const KEY_PATTERN: &str = "^[a-z][a-z0-9_]{0,62}$";

/// Whether `key` is a valid attribute key.
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    key.len() <= MAX_KEY_LENGTH
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// RFC 6901: `~` and `/` escaped.
fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// A resource's attributes as JSON: string, number or boolean values.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttributesDto(pub Map<String, Value>);

impl PartialSchema for AttributesDto {
    fn schema() -> RefOr<Schema> {
        let value = OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(MAX_TEXT_CHARS))
                    .pattern(Some("^[^\\u0000]*$")),
            )
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "What search filters on: at most 32 keys matching `^[a-z][a-z0-9_]{0,62}$`, each a string (at \
most 200 characters), a number or a boolean.",
            ))
            .max_properties(Some(MAX_ATTRIBUTES))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(KEY_PATTERN))
                    .max_length(Some(MAX_KEY_LENGTH)),
            ))
            .additional_properties(Some(RefOr::T(Schema::OneOf(value.build()))))
            .examples([serde_json::json!({"surface": "clay", "indoor": true, "seats": 4})])
            .into()
    }
}

impl ToSchema for AttributesDto {}

impl AttributesDto {
    pub fn of(attributes: &Attributes) -> Self {
        match crate::attributes_json::to_json(attributes) {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// The domain map, or every key and value that breaks the rules.
    pub fn into_domain(self) -> Result<Attributes, Problem> {
        checked(&self.0)
    }
}

/// The largest integer every database compares exactly (2^53 - 1):
/// numbers beyond it would match on one database and not on the other.
const MAX_EXACT: f64 = 9_007_199_254_740_991.0;

/// Why a value cannot be stored or searched for, if it cannot: a string
/// too long or holding NUL (which PostgreSQL's `jsonb` refuses), a number
/// no database compares exactly.
fn wrong_value(value: &AttributeValue) -> Option<String> {
    match value {
        AttributeValue::Text(text) if text.chars().count() > MAX_TEXT_CHARS => {
            Some(format!("must be at most {MAX_TEXT_CHARS} characters"))
        }
        AttributeValue::Text(text) if text.contains('\0') => Some("must not contain NUL characters".into()),
        AttributeValue::Number(number) if number.value().abs() > MAX_EXACT => {
            Some("must be a number between -9007199254740991 and 9007199254740991".into())
        }
        _ => None,
    }
}

/// `map` as attributes, or a 422 naming every wrong key or value at
/// `/attributes/<key>`.
fn checked(map: &Map<String, Value>) -> Result<Attributes, Problem> {
    let mut errors = Vec::new();
    let mut found = Attributes::new();
    for (key, value) in map {
        let pointer = format!("/attributes/{}", pointer_token(key));
        if !valid_key(key) {
            errors.push(FieldError { pointer, detail: format!("a key must match {KEY_PATTERN}") });
            continue;
        }
        match crate::attributes_json::value_from_json(value) {
            Some(value) => match wrong_value(&value) {
                Some(detail) => errors.push(FieldError { pointer, detail }),
                None => {
                    found.insert(key.clone(), value);
                }
            },
            None => errors.push(FieldError { pointer, detail: "must be a string, a number or a boolean".into() }),
        }
    }
    if map.len() > MAX_ATTRIBUTES {
        errors.push(FieldError {
            pointer: "/attributes".into(),
            detail: format!("must have at most {MAX_ATTRIBUTES} keys"),
        });
    }
    if errors.is_empty() { Ok(found) } else { Err(Problem::validation(errors)) }
}

/// A PATCH's `attributes` onto `current` (RFC 7396: a key set to `null`
/// is removed, the others set; `null` for the whole removes every key).
pub fn patched(current: &Attributes, patch: Value) -> Result<Attributes, Problem> {
    let patch = match patch {
        Value::Null => return Ok(Attributes::new()),
        Value::Object(patch) => patch,
        _ => {
            return Err(Problem::validation(vec![FieldError {
                pointer: "/attributes".into(),
                detail: "must be an object or null".into(),
            }]));
        }
    };
    let mut merged = AttributesDto::of(current).0;
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    checked(&merged)
}

/// One `name=value` of a query string.
type Pair = (String, String);

/// A query string's `attr.<key>=<value>` equality filters, and its other
/// parameters as `T` (read and checked as `ApiQuery` reads them).
pub struct Filtered<T> {
    pub query: T,
    pub filters: Vec<AttributeFilter>,
}

impl<T, S> FromRequestParts<S> for Filtered<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        let (wanted, rest): (Vec<Pair>, Vec<Pair>) = form_urlencoded::parse(raw.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .partition(|(name, _)| name.starts_with("attr.") || name == "attr");
        let filters = filters(&wanted)?;
        let rest = form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish();
        Ok(Filtered { query: parse_query(&rest)?, filters })
    }
}

/// The filters of `pairs` (every one named `attr.…`), or a 422 at each
/// wrong one: a key that breaks the pattern, an operator (only equality
/// is offered), a key given twice, more than 32.
fn filters(pairs: &[Pair]) -> Result<Vec<AttributeFilter>, Problem> {
    let mut errors = Vec::new();
    let mut found: Vec<AttributeFilter> = Vec::new();
    for (name, value) in pairs {
        let pointer = format!("/{}", pointer_token(name));
        let key = name.strip_prefix("attr.").unwrap_or("");
        if let Some((base, operator)) = key.strip_suffix(']').and_then(|k| k.split_once('['))
            && valid_key(base)
        {
            errors.push(FieldError {
                pointer,
                detail: format!("unknown operator `{operator}`: only equality is offered (`attr.{base}=value`)"),
            });
        } else if !valid_key(key) {
            errors.push(FieldError { pointer, detail: format!("must be attr.<key>, the key matching {KEY_PATTERN}") });
        } else if found.iter().any(|f| f.key == key) {
            errors.push(FieldError { pointer, detail: "is given twice".into() });
        } else if found.len() == MAX_ATTRIBUTES {
            errors.push(FieldError { pointer, detail: format!("at most {MAX_ATTRIBUTES} attribute filters") });
        } else {
            let value = crate::attributes_json::value_from_query(value);
            match wrong_value(&value) {
                Some(detail) => errors.push(FieldError { pointer, detail }),
                None => found.push(AttributeFilter { key: key.to_owned(), value }),
            }
        }
    }
    if errors.is_empty() { Ok(found) } else { Err(Problem::validation(errors)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_pattern() {
        for good in ["a", "surface", "seats_4", &"k".repeat(63)] {
            assert!(valid_key(good), "{good}");
        }
        for bad in ["", "A", "4seats", "with-dash", "é", &"k".repeat(64), "a.b"] {
            assert!(!valid_key(bad), "{bad}");
        }
    }

    #[test]
    fn filters_name_what_is_wrong_at_its_parameter() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
        };
        let ok = filters(&pairs(&[("attr.surface", "clay"), ("attr.seats", "4")])).unwrap();
        assert_eq!(ok[1].value, AttributeValue::Number(4.into()));
        let wrong = |list: &[(&str, &str)]| {
            let problem = filters(&pairs(list)).unwrap_err();
            problem.body("", None)["errors"][0]["pointer"].as_str().unwrap().to_owned()
        };
        assert_eq!(wrong(&[("attr.seats[gt]", "4")]), "/attr.seats[gt]");
        assert_eq!(wrong(&[("attr.Seats", "4")]), "/attr.Seats");
        assert_eq!(wrong(&[("attr", "4")]), "/attr");
        assert_eq!(wrong(&[("attr.a", "1"), ("attr.a", "2")]), "/attr.a");
        assert_eq!(wrong(&[("attr.a", "x\0y")]), "/attr.a");
        assert_eq!(wrong(&[("attr.a", "9007199254740993")]), "/attr.a");
        assert_eq!(wrong(&[("attr.a", &"x".repeat(201))]), "/attr.a");
        assert!(filters(&pairs(&[("attr.a", "9007199254740991")])).is_ok());
        let many: Vec<(String, String)> = (0..33).map(|i| (format!("attr.k{i}"), "1".to_owned())).collect();
        let problem = filters(&many).unwrap_err();
        assert_eq!(problem.body("", None)["errors"][0]["pointer"], "/attr.k32");
    }
}
