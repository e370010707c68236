//! Strong ETags from row versions, and `If-Match` (RFC 9110 §13.1.1).
//! Weak validators never match: If-Match uses the strong comparison.

use axum::http::{HeaderMap, HeaderValue, header};

use super::problem::{Problem, ProblemType};
use crate::service::Expected;

/// The strong ETag of an object at `version`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

pub fn etag_header(version: i64) -> HeaderValue {
    HeaderValue::from_str(&etag(version)).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// A parsed `If-Match` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    Absent,
    /// `*`: any current representation.
    Any,
    /// The versions named by strong tags. Weak or foreign tags are dropped,
    /// so they can never match.
    Versions(Vec<i64>),
}

impl IfMatch {
    /// Parses the header (RFC 9110: `*` or a comma-separated list of
    /// entity tags, which may themselves contain commas); a syntactically
    /// broken or empty one is a 400.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, Problem> {
        let values: Vec<_> = headers.get_all(header::IF_MATCH).iter().collect();
        if values.is_empty() {
            return Ok(IfMatch::Absent);
        }
        if values.iter().map(|v| v.len()).sum::<usize>() > MAX_IF_MATCH_LENGTH {
            return Err(Problem::malformed(format!("If-Match must be at most {MAX_IF_MATCH_LENGTH} characters.")));
        }
        let mut versions = Vec::new();
        let mut tags = 0;
        for value in values {
            let text = value.to_str().map_err(|_| bad_if_match())?;
            if text.trim() == "*" {
                return Ok(IfMatch::Any);
            }
            for (weak, opaque) in entity_tags(text)? {
                tags += 1;
                if !weak && let Ok(version) = opaque.parse::<i64>() {
                    versions.push(version);
                }
            }
        }
        if tags == 0 {
            return Err(bad_if_match());
        }
        Ok(IfMatch::Versions(versions))
    }

    /// For writes that require `If-Match`: absent is 428, no match is 412.
    pub fn require(&self, current_version: i64) -> Result<(), Problem> {
        match self {
            IfMatch::Absent => {
                Err(Problem::new(ProblemType::PreconditionRequired, "Send If-Match with the ETag you last read.")
                    .with("required_header", "If-Match"))
            }
            _ => self.check(current_version),
        }
    }

    /// The condition for the service to check under the row's lock.
    pub fn expected(&self) -> Expected {
        match self {
            IfMatch::Absent | IfMatch::Any => Expected::Any,
            IfMatch::Versions(versions) => Expected::OneOf(versions.clone()),
        }
    }

    /// For writes where `If-Match` is optional: absent passes.
    pub fn check(&self, current_version: i64) -> Result<(), Problem> {
        let matches = match self {
            IfMatch::Absent | IfMatch::Any => true,
            IfMatch::Versions(versions) => versions.contains(&current_version),
        };
        if matches { Ok(()) } else { Err(precondition_failed(current_version)) }
    }
}

pub fn precondition_failed(current_version: i64) -> Problem {
    Problem::new(
        ProblemType::PreconditionFailed,
        "The object changed since the ETag in If-Match was read; nothing was changed.",
    )
    .with("current_etag", etag(current_version))
}

/// The `(weak, opaque)` entity tags of a list such as `"1", W/"a,b"`.
fn entity_tags(text: &str) -> Result<Vec<(bool, &str)>, Problem> {
    let mut tags = Vec::new();
    let mut rest = text.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        let (weak, quoted) = match rest.strip_prefix("W/") {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let inner = quoted.strip_prefix('"').ok_or_else(bad_if_match)?;
        let end = inner.find('"').ok_or_else(bad_if_match)?;
        let opaque = &inner[..end];
        if !opaque.bytes().all(|b| b == 0x21 || (0x23..=0x7e).contains(&b)) {
            return Err(bad_if_match());
        }
        tags.push((weak, opaque));
        let after = inner[end + 1..].trim_start_matches([' ', '\t']);
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start_matches([' ', '\t']),
            None if after.is_empty() => after,
            None => return Err(bad_if_match()),
        };
    }
    Ok(tags)
}

fn bad_if_match() -> Problem {
    Problem::malformed("If-Match and If-None-Match must be '*' or a list of entity tags such as \"3\".")
}

/// Whether `If-None-Match` names the entity tag `opaque` (RFC 9110
/// §13.1.2: `*`, or a tag equal to it by the weak comparison); `false`
/// when absent. Read with `If-Match`'s syntax and bound: malformed, a 400.
pub fn none_match(headers: &HeaderMap, opaque: &str) -> Result<bool, Problem> {
    let values: Vec<_> = headers.get_all(header::IF_NONE_MATCH).iter().collect();
    if values.iter().map(|v| v.len()).sum::<usize>() > MAX_IF_MATCH_LENGTH {
        return Err(Problem::malformed(format!("If-None-Match must be at most {MAX_IF_MATCH_LENGTH} characters.")));
    }
    let mut matched = false;
    for value in values {
        let text = value.to_str().map_err(|_| bad_if_match())?;
        if text.trim() == "*" {
            return Ok(true);
        }
        let tags = entity_tags(text)?;
        if tags.is_empty() {
            return Err(bad_if_match());
        }
        matched |= tags.iter().any(|(_, tag)| *tag == opaque);
    }
    Ok(matched)
}

/// The longest `If-Match` berth reads (some fifty tags).
pub const MAX_IF_MATCH_LENGTH: usize = 1024;

/// What `IfMatch::from_headers` accepts: `*` or a list of entity tags.
pub const IF_MATCH_PATTERN: &str = r#"^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$"#;

/// Gives every `If-Match` (and `If-None-Match`) parameter of the spec the
/// syntax berth accepts, so a generated client (or a fuzzer) knows a
/// malformed one is a 400.
pub struct PreconditionDocs;

impl utoipa::Modify for PreconditionDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ObjectBuilder, RefOr, schema::Type};
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.post, &mut item.patch, &mut item.delete, &mut item.put];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && (parameter.name == "If-Match" || parameter.name == "If-None-Match")
                    {
                        parameter.schema = Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .pattern(Some(IF_MATCH_PATTERN))
                                .max_length(Some(MAX_IF_MATCH_LENGTH))
                                .into(),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> IfMatch {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
        IfMatch::from_headers(&headers).unwrap()
    }

    #[test]
    fn strong_tags_match_their_version_only() {
        assert!(parse("\"3\"").check(3).is_ok());
        assert!(parse("\"2\", \"3\"").check(3).is_ok());
        assert_eq!(parse("\"2\"").check(3).unwrap_err().kind, ProblemType::PreconditionFailed);
    }

    #[test]
    fn weak_tags_never_match() {
        assert!(parse("W/\"3\"").check(3).is_err());
    }

    #[test]
    fn star_matches_anything_and_absent_is_required() {
        assert!(parse("*").require(7).is_ok());
        assert_eq!(IfMatch::Absent.require(1).unwrap_err().kind, ProblemType::PreconditionRequired);
    }

    #[test]
    fn tags_may_contain_commas_and_lists_may_have_spaces() {
        assert!(parse("W/\"a,b\" ,  \"3\"").check(3).is_ok());
        assert!(parse("\"x,y\"").check(3).is_err());
    }

    #[test]
    fn empty_or_unterminated_lists_are_malformed() {
        for bad in ["", " ", "\"3", "\"3\" \"4\"", "W/3"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_MATCH, HeaderValue::from_str(bad).unwrap());
            assert_eq!(IfMatch::from_headers(&headers).unwrap_err().kind, ProblemType::MalformedRequest, "{bad:?}");
        }
    }

    #[test]
    fn unquoted_tags_are_malformed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_static("3"));
        assert_eq!(IfMatch::from_headers(&headers).unwrap_err().kind, ProblemType::MalformedRequest);
    }

    #[test]
    fn lists_longer_than_the_spec_states_are_malformed() {
        let tags = |n: usize| (0..n).map(|i| format!("\"{i:06}\"")).collect::<Vec<_>>().join(",");
        assert!(tags(113).len() <= MAX_IF_MATCH_LENGTH && tags(114).len() > MAX_IF_MATCH_LENGTH);
        assert!(parse(&tags(113)).check(3).is_ok());
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_str(&tags(114)).unwrap());
        assert_eq!(IfMatch::from_headers(&headers).unwrap_err().kind, ProblemType::MalformedRequest);
    }
}
