//! qrpos: a point-of-sale QR payment terminal. `ARCHITECTURE.md` is the map; in data-flow
//! order: `scan` (image → QR text → payload) → `terminal` (the sale, step by step, using
//! `sale`, the pure domain) → `backend` (HTTP clients) → `store` (the durable journal).
//! `forwarder` sends what was accepted offline; `sandbox` is the local mock of the payment
//! backend.

pub mod backend;
pub mod camera;
pub mod checkout;
pub mod clock;
pub mod config;
pub mod crash_point;
pub mod customer_app;
pub mod doctor;
pub mod forwarder;
#[cfg(feature = "host")]
pub mod host;
pub mod protocol;
pub mod sale;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod scan;
pub mod service;
pub mod setup;
pub mod signal;
pub mod store;
pub mod terminal;
#[cfg(feature = "ui")]
pub mod ui;
