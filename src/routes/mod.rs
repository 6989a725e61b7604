//! HTTP routes, one module per audience: operations, POS, admin, providers.

pub mod admin;
pub mod health;
pub mod openapi;
pub mod pos;
pub mod webhooks;
