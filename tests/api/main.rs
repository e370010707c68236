//! The integration suite: the real app over HTTP on a real database (a
//! fresh SQLite file per test, or a fresh PostgreSQL database per test when
//! `TEST_DATABASE_URL` is set).

mod approval;
mod auth;
mod bookings;
mod bundles;
mod calendar;
mod changes;
mod cors;
mod customers;
mod demo;
mod documented;
mod errors;
mod events;
mod fields;
mod groups;
mod health;
mod helpers;
mod idempotency;
mod layering;
mod limits;
mod one_trip;
mod one_trip_plan;
mod openapi;
mod operations;
mod outbox_pages;
mod own_bookings;
mod partial_indexes;
mod policies;
mod preconditions;
mod races;
mod resources;
mod schedules;
mod search;
mod series;
mod slots;
mod timelines;
mod trust;
mod usage;
mod waitlist;
mod webhooks;
mod write_batch;
