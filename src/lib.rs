//! loyalty-gateway: an SMS-first customer loyalty gateway. The phone number is the card.
//!
//! Map of the crate:
//! - [`configuration`]: the TOML file and `LOYALTY__…` overrides, validated into [`configuration::Settings`].
//! - [`domain`]: values parsed once at the edge (phone numbers, amounts, receipts, codes).
//! - [`ledger`]: members, balances, history and idempotency in Redis; every change is one Lua
//!   script that also enqueues the text it causes (transactional outbox).
//! - [`inbound`], [`commands`]: provider webhooks, their signatures, and the SMS keyword engine.
//! - [`outbound`]: the outbox stream, send-time rules, providers, throttling and retries.
//! - [`routes`], [`auth`], [`extract`], [`error`]: the HTTP API and its problem+json errors.
//! - [`templates`], [`segments`]: what texts say, and what they cost in SMS segments.
//! - [`startup`]: wires it all into an [`startup::Application`]; [`cli`] is the binary's interface.
//! - [`store`], [`embedded`]: the Redis connection, and a local `redis-server` when none answers.

#[macro_use]
mod macros;

pub mod auth;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod configuration;
pub mod domain;
pub mod embedded;
pub mod error;
pub mod extract;
pub mod inbound;
pub mod ledger;
pub mod metrics;
pub mod outbound;
pub mod routes;
pub mod segments;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod templates;
