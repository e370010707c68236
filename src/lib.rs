//! berth: a booking engine that says no correctly.
//!
//! Layers, one way: `http` -> `service` -> `domain`, with `service` -> `store`
//! -> `entity` (docs/design.md §8). docs/design.md is the design; the README
//! says how to run and use it.

#[cfg(not(target_env = "msvc"))]
mod allocator;
pub mod app;
pub mod attributes_json;
pub mod auth;
pub mod config;
pub mod domain;
pub mod http;
pub mod service;
pub mod store;
pub mod telemetry;
