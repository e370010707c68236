//! The runtime half of the contract: every problem a test receives through
//! `TestApp::send_as` (the shared client nearly every test uses) is one its
//! operation documents, with exactly the members its type's schema
//! declares, nested objects included: the suite checks it on real refusals.

use std::{collections::HashMap, sync::OnceLock};

use serde_json::{Value, json};

use crate::helpers::{Reply, spec, spec_operation};

/// Panics unless a problem reply's status and type are documented for its
/// operation and its body validates against the type's schema, closed to
/// undeclared members.
#[track_caller]
pub fn assert_documented(reply: &Reply) {
    let is_problem = reply.header("content-type") == Some("application/problem+json");
    if !is_problem {
        return;
    }
    let Some(operation) = spec_operation(&reply.method, &reply.path) else {
        // No route: the router's 404 and 405 are not an operation's.
        return;
    };
    let (method, path, status) = (&reply.method, &reply.path, reply.status.as_u16());
    let content = &operation["responses"][status.to_string()]["content"]["application/problem+json"];
    assert!(content.is_object(), "{method} {path} answered {status}, which it does not document: {}", reply.text);
    let code = reply.body["code"].as_str().unwrap_or_else(|| panic!("problem without a code: {}", reply.text));
    assert!(
        content["examples"][code].is_object(),
        "{method} {path} answered {status} `{code}`, a type it does not document: {}",
        reply.text
    );
    let errors: Vec<String> =
        validator(code).iter_errors(&reply.body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {path}: `{code}` does not match its schema: {errors:?}\n{}", reply.text);
}

/// The validator of a problem type's schema, closed: a member the schema
/// does not declare is an error.
pub fn validator(code: &str) -> &'static jsonschema::Validator {
    static VALIDATORS: OnceLock<HashMap<String, jsonschema::Validator>> = OnceLock::new();
    let validators = VALIDATORS.get_or_init(|| {
        // Every object schema closed, the types' own and the nested ones
        // their `$ref`s point to: no undeclared member anywhere.
        let components = closed_components();
        components["schemas"]
            .as_object()
            .expect("schemas")
            .iter()
            .filter_map(|(name, schema)| {
                let code = schema["properties"]["code"]["const"].as_str()?;
                let mut closed = schema.clone();
                closed["components"] = components.clone();
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&closed)
                    .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"));
                Some((code.to_owned(), validator))
            })
            .collect()
    });
    validators.get(code).unwrap_or_else(|| panic!("no schema has code `{code}`"))
}

/// The spec's components with every object schema closed to members it
/// does not declare.
fn closed_components() -> Value {
    let mut components = spec()["components"].clone();
    for schema in components["schemas"].as_object_mut().expect("schemas").values_mut() {
        if schema.get("properties").is_some() && schema.get("additionalProperties").is_none() {
            schema["additionalProperties"] = json!(false);
        }
    }
    components
}

/// A value as the validator sees it, for tests of the check itself.
pub fn problems_of(value: &Value) -> Vec<String> {
    let code = value["code"].as_str().unwrap_or_default();
    validator(code).iter_errors(value).map(|e| e.to_string()).collect()
}

/// Panics unless one message of an event stream (its fields `event`, `id`,
/// `data` as an SSE parser reads them) matches the schema the operation
/// documents for its stream, and its `data` the JSON schema named there,
/// closed to undeclared members.
#[track_caller]
pub fn assert_stream_message(path: &str, message: &Value) {
    let operation = spec_operation(&reqwest::Method::GET, path).expect("a documented stream");
    let schema = &operation["responses"]["200"]["content"]["text/event-stream"]["schema"];
    let errors = errors_of(schema, message, false);
    assert!(errors.is_empty(), "{path}: message {message} does not match the stream's schema: {errors:?}");
    if let Some(data) = message["data"].as_str() {
        let data: Value = serde_json::from_str(data).expect("data is JSON");
        let errors = errors_of(&schema["properties"]["data"]["contentSchema"], &data, true);
        assert!(errors.is_empty(), "{path}: data {data} does not match its schema: {errors:?}");
    }
}

/// `value`'s errors against a schema of the spec (`$ref`s resolved in it).
fn errors_of(schema: &Value, value: &Value, closed: bool) -> Vec<String> {
    let components = &spec()["components"];
    let mut root = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => components["schemas"][reference.trim_start_matches("#/components/schemas/")].clone(),
        None => schema.clone(),
    };
    if closed {
        root["additionalProperties"] = json!(false);
    }
    root["components"] = components.clone();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .expect("a valid schema");
    validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

#[test]
fn the_check_refuses_a_missing_member_an_undeclared_one_and_a_mistyped_one() {
    let example = berth::http::problem::ProblemType::CapacityExceeded.example();
    assert!(problems_of(&example).is_empty(), "{:?}", problems_of(&example));
    let mut missing = example.clone();
    missing.as_object_mut().unwrap().remove("available");
    assert!(!problems_of(&missing).is_empty());
    let mut undeclared = example.clone();
    undeclared["cutoff_at"] = json!("2027-03-28T07:00:00Z");
    assert!(!problems_of(&undeclared).is_empty());
    let mut nested = example.clone();
    nested["alternatives"][0]["quantity"] = json!(1);
    assert!(!problems_of(&nested).is_empty());
    let mut mistyped = example.clone();
    mistyped["available"] = json!("2");
    assert!(!problems_of(&mistyped).is_empty());
    let mut wrong_status = example;
    wrong_status["status"] = json!(422);
    assert!(!problems_of(&wrong_status).is_empty());
}
