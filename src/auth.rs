//! API keys: the key decides the program, its scopes and the locations it may act at.
//!
//! Keys are stored as SHA-256 hashes. A presented key is hashed and compared with every
//! configured hash in constant time, and the loop does not stop at a match, so response time
//! says nothing about how close a guess was. The HTTP side (401, 403) is in
//! `routes::extract::ApiKey`.

use std::collections::HashSet;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{LocationId, ProgramId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Pos,
    Marketing,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pos" => Some(Self::Pos),
            "marketing" => Some(Self::Marketing),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pos => "pos",
            Self::Marketing => "marketing",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiKeyEntry {
    pub name: String,
    pub sha256: [u8; 32],
    pub program: ProgramId,
    pub scopes: HashSet<Scope>,
    /// `None`: every location of the program.
    pub locations: Option<HashSet<LocationId>>,
}

/// Finds the configured key whose hash matches `presented`, in constant time per entry.
pub fn find_key<'a>(keys: &'a [Arc<ApiKeyEntry>], presented: &str) -> Option<&'a Arc<ApiKeyEntry>> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for entry in keys {
        if bool::from(entry.sha256.ct_eq(&digest)) {
            found = Some(entry);
        }
    }
    found
}
