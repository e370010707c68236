//! A group (pool) of resources: "any one of these", and how the engine
//! picks one for a booking (docs/design.md §14).
//!
//! `first_fit` tries the members in their order; `least_used` tries first
//! the member with the fewest units booked over the day of the booking (in
//! that member's time zone), ties in member order. Either way the first
//! member for which every rule passes is taken, inside the transaction
//! that decides.

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;

use super::{
    field::{Field, Invalid},
    ids::{GroupId, ResourceId},
    schedule::{instant, local_date},
    time_range::TimeRange,
};

/// The most members a group may have.
pub const MAX_MEMBERS: usize = 50;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Assignment {
    /// The members in order.
    #[default]
    FirstFit,
    /// The member with the fewest units booked that day first.
    LeastUsed,
}

impl Assignment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FirstFit => "first_fit",
            Self::LeastUsed => "least_used",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::FirstFit, Self::LeastUsed].into_iter().find(|a| a.as_str() == text)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    /// In order; never empty, no resource twice.
    pub members: Vec<ResourceId>,
    pub assignment: Assignment,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a group.
#[derive(Clone, Debug)]
pub struct NewGroup {
    pub name: String,
    pub members: Vec<ResourceId>,
    pub assignment: Assignment,
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub members: Option<Vec<ResourceId>>,
    pub assignment: Option<Assignment>,
}

/// What is wrong with a member list: empty, too long, a resource twice.
pub fn member_problems(members: &[ResourceId]) -> Vec<Invalid> {
    let field = Field::named("resource_ids");
    let mut problems = Vec::new();
    if members.is_empty() || members.len() > MAX_MEMBERS {
        problems.push(Invalid::new(field.clone(), format!("must list 1 to {MAX_MEMBERS} resources")));
    }
    for (index, member) in members.iter().enumerate() {
        if members[..index].contains(member) {
            problems.push(Invalid::new(field.clone().at(index), "lists this resource twice"));
        }
    }
    problems
}

impl NewGroup {
    pub fn into_group(self, id: GroupId, now: DateTime<Utc>) -> Group {
        Group {
            id,
            name: self.name,
            members: self.members,
            assignment: self.assignment,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Group {
    /// Applies `changes` and bumps the version.
    pub fn apply(&mut self, changes: GroupChanges, now: DateTime<Utc>) {
        if let Some(name) = changes.name {
            self.name = name;
        }
        if let Some(members) = changes.members {
            self.members = members;
        }
        if let Some(assignment) = changes.assignment {
            self.assignment = assignment;
        }
        self.version += 1;
        self.updated_at = now;
    }

    /// The order in which to try the members: by `assignment`, where
    /// `units_that_day(member)` is what `least_used` compares.
    pub fn trial_order(&self, units_that_day: impl Fn(ResourceId) -> i64) -> Vec<ResourceId> {
        let mut order = self.members.clone();
        if self.assignment == Assignment::LeastUsed {
            // A stable sort: ties keep member order.
            order.sort_by_key(|member| units_that_day(*member));
        }
        order
    }
}

/// The local day (midnight to midnight in `zone`) that `at` falls on:
/// what `least_used` counts a member's units over.
pub fn local_day(zone: Tz, at: DateTime<Utc>) -> Option<TimeRange> {
    let date = local_date(zone, at);
    let next = date.checked_add_days(Days::new(1))?;
    TimeRange::new(
        instant(zone, date.and_time(chrono::NaiveTime::MIN)),
        instant(zone, next.and_time(chrono::NaiveTime::MIN)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(assignment: Assignment, members: usize) -> Group {
        let members = (0..members).map(|_| ResourceId::generate()).collect();
        NewGroup { name: "Courts".into(), members, assignment }.into_group(GroupId::generate(), Utc::now())
    }

    #[test]
    fn first_fit_keeps_member_order_and_least_used_sorts_by_use_with_ties_in_order() {
        let first_fit = group(Assignment::FirstFit, 3);
        assert_eq!(first_fit.trial_order(|_| 0), first_fit.members);
        let least_used = group(Assignment::LeastUsed, 4);
        let [a, b, c, d] = least_used.members[..] else { panic!() };
        let used = |m: ResourceId| {
            if m == a {
                5
            } else if m == b {
                2
            } else if m == c {
                9
            } else {
                2
            }
        };
        assert_eq!(least_used.trial_order(used), vec![b, d, a, c]);
    }

    #[test]
    fn a_local_day_runs_from_midnight_to_midnight_in_its_zone() {
        let at = "2027-03-28T12:00:00Z".parse().unwrap();
        let day = local_day(chrono_tz::Europe::Berlin, at).unwrap();
        assert_eq!(day.start(), "2027-03-27T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        // The day the clocks go forward has 23 hours.
        assert_eq!(day.end(), "2027-03-28T22:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn member_lists_are_one_to_fifty_distinct_resources() {
        assert_eq!(member_problems(&[]).len(), 1);
        let one = ResourceId::generate();
        assert!(member_problems(&[one]).is_empty());
        let twice = member_problems(&[one, ResourceId::generate(), one]);
        assert_eq!(twice.len(), 1);
        assert_eq!(twice[0].field, Field::named("resource_ids").at(2));
        let many: Vec<_> = (0..=MAX_MEMBERS).map(|_| ResourceId::generate()).collect();
        assert_eq!(member_problems(&many).len(), 1);
    }
}
