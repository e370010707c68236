//! A customer: who books.

use chrono::{DateTime, Utc};

use super::ids::CustomerId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub email: String,
    pub name: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a customer.
#[derive(Clone, Debug)]
pub struct NewCustomer {
    pub email: String,
    pub name: String,
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CustomerChanges {
    pub email: Option<String>,
    pub name: Option<String>,
}

impl NewCustomer {
    /// The customer this request creates, at version 1.
    pub fn into_customer(self, id: CustomerId, now: DateTime<Utc>) -> Customer {
        Customer { id, email: self.email, name: self.name, version: 1, created_at: now, updated_at: now }
    }
}

impl Customer {
    /// Applies `changes`, bumping the version and `updated_at`.
    pub fn apply(&mut self, changes: CustomerChanges, now: DateTime<Utc>) {
        if let Some(email) = changes.email {
            self.email = email;
        }
        if let Some(name) = changes.name {
            self.name = name;
        }
        self.version += 1;
        self.updated_at = now;
    }
}
