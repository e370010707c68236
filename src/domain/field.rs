//! Names a value of a request in domain terms: `start_at`, or
//! `schedule.weekly[1].to`. Rules and services say *which* value is wrong
//! without knowing the wire format; the HTTP layer turns a `Field` into a
//! JSON Pointer (`/schedule/weekly/1/to`).

use std::fmt;

/// One step of a path: a member name or a list index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Name(&'static str),
    Index(usize),
}

/// A path to a value, from the top of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field(Vec<Step>);

impl Field {
    /// A top-level value.
    pub fn named(name: &'static str) -> Self {
        Self(vec![Step::Name(name)])
    }

    /// The member `name` of this value.
    pub fn then(mut self, name: &'static str) -> Self {
        self.0.push(Step::Name(name));
        self
    }

    /// Item `index` of this list.
    pub fn at(mut self, index: usize) -> Self {
        self.0.push(Step::Index(index));
        self
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }
}

/// A value that is not acceptable, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: Field,
    pub detail: String,
}

impl Invalid {
    pub fn new(field: impl Into<Field>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), detail: detail.into() }
    }
}

impl From<&'static str> for Field {
    fn from(name: &'static str) -> Self {
        Self::named(name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Name(name) if i == 0 => f.write_str(name)?,
                Step::Name(name) => write!(f, ".{name}")?,
                Step::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_code() {
        assert_eq!(Field::named("schedule").then("weekly").at(1).then("to").to_string(), "schedule.weekly[1].to");
        assert_eq!(Field::from("start_at").to_string(), "start_at");
    }
}
