//! One integration-test binary (one link step) with a module per area.

mod admin;
mod auth;
mod automations;
mod bad_input;
mod binary;
mod campaigns;
mod cluster;
mod config;
mod earn;
mod events;
mod expiry;
mod helpers;
mod import;
mod inbound;
mod local_cluster;
mod members;
mod operations;
mod outage;
mod outbound;
mod redeem;
mod referrals;
mod reverse;
mod schemathesis;
mod shutdown;
mod store;
mod telnyx;
