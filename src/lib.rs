//! loyalty-gateway: an SMS-first customer loyalty gateway. The phone number is the card.
//!
//! Map of the crate, from the bottom up (each layer uses only the ones above it in this list):
//! - [`domain`]: values parsed once at the edge (phone numbers, amounts, receipts, codes) and
//!   the program model ([`domain::Program`]).
//! - [`configuration`]: the TOML file and `LOYALTY__…` overrides, validated into
//!   [`configuration::Settings`]; [`auth`]: API keys and their scopes.
//! - [`store`]: the Redis connection, the key layout, and the typed Lua script calls;
//!   [`embedded`]: a local `redis-server` when none answers.
//! - [`ledger`]: members, balances, history and idempotency; every change is one script that
//!   also enqueues the text it causes (transactional outbox).
//! - [`commands`]: the SMS keyword engine; [`inbound`]: provider webhook signatures.
//! - [`outbound`]: the outbox stream, send-time rules, providers, throttling and retries;
//!   [`templates`], [`segments`]: what texts say, and what they cost in SMS segments.
//! - [`events`]: events out, the signed webhooks the scripts queue with each change.
//! - [`import`], [`export`]: members in and out of CSV (and history as JSON lines).
//! - [`routes`], [`error`]: the HTTP API (its `AppState` is HTTP's alone) and its problem+json
//!   errors; [`web`]: the pages for browsers (the public join form).
//! - [`verify`]: the ledger audited against itself (`loyalty-gateway verify`).
//! - [`startup`]: wires it all into an [`startup::Application`]; [`cli`] is the binary's interface.
// Module docs link the private parts they explain: read them with
// `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

pub mod auth;
pub mod campaigns;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod configuration;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod events;
pub mod export;
pub mod import;
pub mod inbound;
pub mod ledger;
pub mod metrics;
pub mod outbound;
pub mod routes;
pub mod segments;
pub mod startup;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod verify;
pub mod web;
