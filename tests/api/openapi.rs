//! The committed spec matches the code, and the spec documents every error
//! as a problem with examples, with every `$ref` resolving.

use serde_json::Value;

use crate::helpers::spec;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn the_committed_spec_matches_the_code() {
    let generated = berth::http::openapi().to_pretty_json().expect("spec serialises");
    assert!(
        generated.trim() == COMMITTED.trim(),
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn every_operation_documents_its_errors_as_problems_with_examples() {
    let mut operations = 0;
    for (path, item) in spec()["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let id = format!("{method} {path}");
            assert!(operation["operationId"].is_string(), "{id} has no operationId");
            assert!(operation["summary"].is_string(), "{id} has no summary");
            let security = operation["security"].as_array().unwrap_or_else(|| panic!("{id} declares no security"));
            let public = security.iter().any(|req| req.as_object().is_some_and(|r| r.is_empty()));
            let bearer = security.iter().any(|req| req.get(berth::http::BEARER).is_some());
            assert!(public || bearer, "{id}: security is neither public nor bearer");
            let responses = operation["responses"].as_object().unwrap();
            if bearer {
                assert!(responses.contains_key("401"), "{id} accepts tokens but does not document 401");
            }
            if path.starts_with("/v1/") {
                assert!(responses.contains_key("429"), "{id} is rate limited but does not document 429");
            }
            assert!(responses.contains_key("500") && responses.contains_key("503"), "{id} lacks 500/503");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content =
                        response["content"].as_object().unwrap_or_else(|| panic!("{id} {status}: no content"));
                    assert_eq!(content.keys().collect::<Vec<_>>(), ["application/problem+json"], "{id} {status}");
                    let media = &content["application/problem+json"];
                    let examples = media["examples"].as_object().unwrap();
                    assert!(!examples.is_empty(), "{id} {status}: no examples");
                    let mut documented: Vec<&str> = examples.keys().map(String::as_str).collect();
                    documented.sort_unstable();
                    assert_eq!(types_of(&media["schema"]), documented, "{id} {status}: the body is not their union");
                    for (slug, example) in examples {
                        assert_eq!(example["value"]["status"].as_u64().unwrap().to_string(), *status, "{id} {slug}");
                        assert!(example["value"]["type"].as_str().unwrap().ends_with(slug.as_str()), "{id} {slug}");
                        assert_eq!(example["value"]["code"], slug.as_str(), "{id} {slug}");
                        let errors = crate::documented::problems_of(&example["value"]);
                        assert!(errors.is_empty(), "{id} {slug}: the example does not match its type: {errors:?}");
                    }
                }
            }
        }
    }
    assert!(operations >= 14, "only {operations} operations");
}

/// The problem codes an error response's schema admits: one type's
/// schema, or a union of types discriminated by `code` whose mapping names
/// each exactly.
fn types_of(schema: &Value) -> Vec<&'static str> {
    let code_of = |reference: &Value| {
        let name = reference.as_str().and_then(|r| r.strip_prefix("#/components/schemas/")).expect("a component");
        spec()["components"]["schemas"][name]["properties"]["code"]["const"].as_str().expect("a problem type")
    };
    let mut codes: Vec<&str> = match schema["oneOf"].as_array() {
        None => vec![code_of(&schema["$ref"])],
        Some(union) => {
            assert_eq!(schema["discriminator"]["propertyName"], "code");
            let mapping = schema["discriminator"]["mapping"].as_object().expect("a mapping");
            assert_eq!(mapping.len(), union.len());
            for (code, reference) in mapping {
                assert_eq!(code_of(reference), code, "the mapping of {code} names another type");
            }
            union.iter().map(|item| code_of(&item["$ref"])).collect()
        }
    };
    codes.sort_unstable();
    codes
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$ref" {
                    out.extend(inner.as_str());
                } else {
                    collect_refs(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_ref_resolves() {
    let spec = spec();
    let mut refs = Vec::new();
    collect_refs(spec, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("external ref {reference}"));
        assert!(spec.pointer(pointer).is_some(), "{reference} does not resolve");
    }
}

/// A field the server fills in when it is absent must not be required: a
/// generated client would force callers to send it (found by the
/// TypeScript example's type check).
#[test]
fn fields_with_defaults_are_optional() {
    for (name, schema) in spec()["components"]["schemas"].as_object().unwrap() {
        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if property.get("default").is_some() {
                assert!(!required.contains(&field.as_str()), "{name}.{field} has a default but is required");
            }
        }
    }
}

/// For every bounded field of the create-resource body, the spec's limit is
/// accepted by the API and one step past it is refused at that field.
#[tokio::test]
async fn schema_limits_agree_with_validation() {
    let app = crate::helpers::TestApp::spawn().await;
    let properties = spec()["components"]["schemas"]["CreateResourceRequest"]["properties"].as_object().unwrap();
    let mut checked = 0;
    for (n, (field, schema)) in properties.iter().enumerate() {
        let body = |value: Value| {
            let mut body = serde_json::json!({"name": format!("Limit {n} {}", uuid::Uuid::now_v7()), "capacity": 1});
            body[field.as_str()] = value;
            body
        };
        let mut probe = |inside: Value, outside: Value| {
            checked += 1;
            (body(inside), body(outside))
        };
        let mut cases = Vec::new();
        if let Some(max) = schema["maximum"].as_i64() {
            cases.push(probe(max.into(), (max + 1).into()));
        }
        if let Some(min) = schema["minimum"].as_i64() {
            cases.push(probe(min.into(), (min - 1).into()));
        }
        // `time_zone` takes IANA names only; that every one fits its
        // maxLength is a unit test in `http::resources::dto`.
        if let Some(max) = schema["maxLength"].as_u64().filter(|_| field != "time_zone") {
            let text = |len: u64| Value::String("x".repeat(len as usize));
            cases.push(probe(text(max), text(max + 1)));
        }
        for (inside, outside) in cases {
            app.post_json("/v1/resources", &inside).await.assert_status(201);
            let refused = app.post_json("/v1/resources", &outside).await;
            let problem = refused.assert_problem(422, "validation-error");
            assert_eq!(problem["errors"][0]["pointer"], format!("/{field}"), "{outside}");
        }
    }
    assert!(checked >= 7, "only {checked} limits checked");
}
