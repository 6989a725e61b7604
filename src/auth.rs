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

/// A person who signs in to the dashboard with a name and a password (`[[dashboard_users]]`).
#[derive(Debug, Clone)]
pub struct DashboardUser {
    pub name: String,
    pub program: ProgramId,
    /// `Marketing` or `Admin`.
    pub scope: Scope,
    /// An Argon2 PHC string, checked when the configuration is read.
    pub password_hash: String,
}

/// The most memory an Argon2 hash may ask for (KiB): a configured hash cannot make each sign-in
/// take more than 256 MiB.
const MAX_PASSWORD_MEMORY_KIB: u32 = 256 * 1024;

/// Whether `phc` is an Argon2 PHC string this gateway can check passwords against; if not, why.
pub fn check_password_hash(phc: &str) -> Result<(), String> {
    let hash = argon2::PasswordHash::new(phc).map_err(|_| {
        "is not a PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)".to_owned()
    })?;
    if !matches!(hash.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d") {
        return Err(format!("uses {}, not Argon2", hash.algorithm));
    }
    let params = argon2::Params::try_from(&hash)
        .map_err(|e| format!("has parameters Argon2 does not take ({e})"))?;
    if params.m_cost() > MAX_PASSWORD_MEMORY_KIB {
        return Err(format!(
            "asks for {} KiB of memory per sign-in, more than {MAX_PASSWORD_MEMORY_KIB}",
            params.m_cost()
        ));
    }
    if hash.hash.is_none() {
        return Err("has no hash after its salt".to_owned());
    }
    Ok(())
}

/// Whether `password` is the one `phc` was made from. Slow on purpose (tens of milliseconds of
/// CPU): call it off the async runtime.
pub fn verify_password(phc: &str, password: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A new Argon2id PHC string for `password`, with a random salt and OWASP's parameters
/// (19 MiB, 2 passes, 1 lane: the `argon2` crate's defaults).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
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
