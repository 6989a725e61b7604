//! HTTP routes, one module per audience: operations, POS.

pub mod health;
pub mod openapi;
pub mod pos;
