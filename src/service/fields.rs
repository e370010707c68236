//! Custom booking fields (docs/design.md §28): what a resource asks at
//! booking time (party size, licence plate), as a JSON Schema of a small
//! subset of 2020-12 (an object whose properties are strings, numbers,
//! integers, booleans or enums, with `required` and the usual bounds), and
//! a booking's `fields` checked against it by the `jsonschema` crate. A
//! field the schema does not name is refused: berth checks with
//! `additionalProperties: false` whatever the schema says.

use serde_json::{Map, Value};

use super::ServiceError;
use crate::store::StoreError;

/// The largest `fields` object, serialised.
pub const MAX_FIELDS_BYTES: usize = 8 * 1024;
/// At most this many properties in a schema.
const MAX_PROPERTIES: usize = 50;

const SCHEMA_MEMBERS: &[&str] =
    &["$schema", "type", "properties", "required", "additionalProperties", "title", "description"];
const PROPERTY_MEMBERS: &[&str] = &[
    "type",
    "enum",
    "title",
    "description",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];
const TYPES: &[&str] = &["string", "number", "integer", "boolean"];

/// Every way `schema` leaves the subset, as (pointer into it, why); empty
/// when it is one berth checks fields with.
pub fn schema_problems(schema: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let Some(top) = schema.as_object() else {
        return vec![(String::new(), "must be a JSON Schema object".into())];
    };
    for name in top.keys().filter(|name| !SCHEMA_MEMBERS.contains(&name.as_str())) {
        problems.push((format!("/{}", token(name)), "is not part of the schemas berth takes".into()));
    }
    if top.get("type") != Some(&Value::String("object".into())) {
        problems.push(("/type".into(), "must be \"object\"".into()));
    }
    if top.get("additionalProperties").is_some_and(|value| value != &Value::Bool(false)) {
        problems.push(("/additionalProperties".into(), "may only be false".into()));
    }
    let properties = match top.get("properties") {
        Some(Value::Object(properties)) => properties.clone(),
        Some(_) => {
            problems.push(("/properties".into(), "must be an object".into()));
            Map::new()
        }
        None => Map::new(),
    };
    if properties.len() > MAX_PROPERTIES {
        problems.push(("/properties".into(), format!("must have at most {MAX_PROPERTIES} properties")));
    }
    for (name, property) in &properties {
        let at = format!("/properties/{}", token(name));
        let Some(property) = property.as_object() else {
            problems.push((at, "must be an object".into()));
            continue;
        };
        for member in property.keys().filter(|member| !PROPERTY_MEMBERS.contains(&member.as_str())) {
            problems.push((format!("{at}/{}", token(member)), "is not part of the schemas berth takes".into()));
        }
        match (property.get("type"), property.get("enum")) {
            (Some(Value::String(kind)), _) if TYPES.contains(&kind.as_str()) => {}
            (Some(_), _) => problems.push((format!("{at}/type"), format!("must be one of {}", TYPES.join(", ")))),
            (None, Some(Value::Array(values))) if !values.is_empty() && values.iter().all(is_scalar) => {}
            (None, Some(_)) => {
                problems.push((format!("{at}/enum"), "must list strings, numbers or booleans".into()));
            }
            (None, None) => problems.push((at, "needs a `type` or an `enum`".into())),
        }
    }
    match top.get("required") {
        None => {}
        Some(Value::Array(names)) => {
            for (index, name) in names.iter().enumerate() {
                if !name.as_str().is_some_and(|name| properties.contains_key(name)) {
                    problems.push((format!("/required/{index}"), "must name one of the properties".into()));
                }
            }
        }
        Some(_) => problems.push(("/required".into(), "must be a list of property names".into())),
    }
    if problems.is_empty()
        && let Err(err) = jsonschema::draft202012::new(schema)
    {
        problems.push((err.schema_path().as_str().to_owned(), err.to_string()));
    }
    problems
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// RFC 6901: `~` and `/` escaped.
fn token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// `fields` checked against `schema` (a resource's, as stored): the text
/// to store (`None` for no fields), or a 422 for every failing field at
/// `/fields/<name>` (`/fields` for the object as a whole). A resource
/// without a schema takes no fields.
pub fn checked(schema: Option<&str>, fields: Option<&Map<String, Value>>) -> Result<Option<String>, ServiceError> {
    let Some(fields) = fields else {
        // Nothing given: what the schema requires is still required.
        return match schema {
            Some(schema) => checked(Some(schema), Some(&Map::new())).map(|_| None),
            None => Ok(None),
        };
    };
    let Some(schema) = schema else {
        return Err(ServiceError::InvalidAt(vec![("/fields".into(), "the resource asks for no fields".into())]));
    };
    let text = Value::Object(fields.clone()).to_string();
    if text.len() > MAX_FIELDS_BYTES {
        return Err(ServiceError::InvalidAt(vec![(
            "/fields".into(),
            format!("must be at most {MAX_FIELDS_BYTES} bytes as JSON"),
        )]));
    }
    let corrupt =
        |what: &str| ServiceError::Internal(StoreError::Corrupt(format!("a resource's booking_fields {what}")));
    let mut schema: Value = serde_json::from_str(schema).map_err(|_| corrupt("is not JSON"))?;
    if let Some(top) = schema.as_object_mut() {
        top.insert("additionalProperties".into(), Value::Bool(false));
    }
    let validator = jsonschema::draft202012::new(&schema).map_err(|_| corrupt("does not compile"))?;
    let instance = Value::Object(fields.clone());
    let mut problems: Vec<(String, String)> = Vec::new();
    for error in validator.iter_errors(&instance) {
        let at = error.instance_path().as_str().to_owned();
        match error.kind() {
            jsonschema::error::ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                problems.push((format!("/fields/{}", token(name)), "is required".into()));
            }
            jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    problems.push((format!("/fields/{}", token(name)), "is not one of the resource's fields".into()));
                }
            }
            _ => problems.push((format!("/fields{at}"), error.to_string())),
        }
    }
    if problems.is_empty() { Ok(Some(text)) } else { Err(ServiceError::InvalidAt(problems)) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn party() -> Value {
        json!({"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 12},
            "plate": {"type": "string", "maxLength": 10, "pattern": "^[A-Z0-9-]+$"},
            "diet": {"enum": ["none", "vegetarian", "vegan"]},
            "accessible": {"type": "boolean"}}})
    }

    #[test]
    fn schemas_outside_the_subset_are_named_where_they_leave_it() {
        assert!(schema_problems(&party()).is_empty());
        let bad = json!({"type": "object", "$ref": "#/x", "additionalProperties": true, "required": ["nope", 3],
            "properties": {"a": {"type": "array"}, "b": {"enum": []}, "c": {}, "d": {"type": "string", "format": "email"},
                           "e": {"type": "string", "pattern": "("}}});
        let pointers: Vec<String> = schema_problems(&bad).into_iter().map(|(at, _)| at).collect();
        for wanted in
            ["/$ref", "/additionalProperties", "/required/0", "/required/1", "/properties/a/type", "/properties/b/enum"]
        {
            assert!(pointers.iter().any(|p| p == wanted), "{wanted} in {pointers:?}");
        }
        assert!(pointers.iter().any(|p| p == "/properties/c"), "{pointers:?}");
        assert!(pointers.iter().any(|p| p == "/properties/d/format"), "{pointers:?}");
        // A bad regular expression is caught by compiling the schema.
        let regex = json!({"type": "object", "properties": {"e": {"type": "string", "pattern": "("}}});
        assert_eq!(schema_problems(&regex).len(), 1, "{:?}", schema_problems(&regex));
        assert!(!schema_problems(&json!([])).is_empty());
    }

    #[test]
    fn fields_are_checked_one_by_one_at_their_pointers() {
        let schema = party().to_string();
        let fields = |value: Value| value.as_object().cloned().unwrap();
        let ok = checked(Some(&schema), Some(&fields(json!({"size": 4, "diet": "vegan"})))).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&ok.unwrap()).unwrap(), json!({"size": 4, "diet": "vegan"}));
        let Err(ServiceError::InvalidAt(problems)) = checked(
            Some(&schema),
            Some(&fields(json!({"plate": "no spaces", "diet": "meat", "accessible": "yes", "colour": "red"}))),
        ) else {
            panic!("refused")
        };
        let pointers: Vec<&str> = problems.iter().map(|(at, _)| at.as_str()).collect();
        for wanted in ["/fields/size", "/fields/plate", "/fields/diet", "/fields/accessible", "/fields/colour"] {
            assert!(pointers.contains(&wanted), "{wanted} in {pointers:?}");
        }
        assert!(matches!(checked(Some(&schema), None), Err(ServiceError::InvalidAt(_))));
        assert!(matches!(checked(None, Some(&fields(json!({"a": 1})))), Err(ServiceError::InvalidAt(_))));
        assert_eq!(checked(None, None).unwrap(), None);
        let big = fields(json!({"plate": "A".repeat(MAX_FIELDS_BYTES)}));
        assert!(matches!(checked(Some(&schema), Some(&big)), Err(ServiceError::InvalidAt(p)) if p[0].0 == "/fields"));
    }
}
