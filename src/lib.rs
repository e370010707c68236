//! berth: a booking engine that says no correctly.
//!
//! Layers, one way: `http` -> `service` -> `domain`, with `service` -> `store`
//! -> `entity`. See DESIGN.md for the contract.

pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod http;
pub mod service;
pub mod store;
pub mod telemetry;
