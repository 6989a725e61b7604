//! Webhook endpoints of the configuration (`[[webhooks]]`) and the events they may receive.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use secrecy::SecretSlice;

use super::{ParseError, ProgramId};

/// An event the gateway reports to webhook endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    MemberJoined,
    MemberOptedOut,
    MemberOptedIn,
    PointsEarned,
    PointsRedeemed,
    PointsReversed,
    PointsExpired,
    RewardIssued,
    RewardRedeemed,
    CampaignSent,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        Self::MemberJoined,
        Self::MemberOptedOut,
        Self::MemberOptedIn,
        Self::PointsEarned,
        Self::PointsRedeemed,
        Self::PointsReversed,
        Self::PointsExpired,
        Self::RewardIssued,
        Self::RewardRedeemed,
        Self::CampaignSent,
    ];

    /// The name on the wire (`type` of the payload, and in `events` filters).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MemberJoined => "member.joined",
            Self::MemberOptedOut => "member.opted_out",
            Self::MemberOptedIn => "member.opted_in",
            Self::PointsEarned => "points.earned",
            Self::PointsRedeemed => "points.redeemed",
            Self::PointsReversed => "points.reversed",
            Self::PointsExpired => "points.expired",
            Self::RewardIssued => "reward.issued",
            Self::RewardRedeemed => "reward.redeemed",
            Self::CampaignSent => "campaign.sent",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// A receiver of signed events (Standard Webhooks).
#[derive(Debug)]
pub struct WebhookEndpoint {
    /// Names the endpoint's queue in Redis: stable while the configuration keeps it.
    pub id: String,
    pub url: url::Url,
    /// The decoded `whsec_` secret: the HMAC-SHA256 key.
    pub secret: SecretSlice<u8>,
    /// `None`: every event.
    pub events: Option<HashSet<EventType>>,
    /// Payloads carry the member's phone number only when this is set.
    pub include_phone: bool,
    /// `None`: every program.
    pub programs: Option<HashSet<ProgramId>>,
    pub timeout: Duration,
    /// The delay before each retry; dead-lettered after the last one.
    pub retry_schedule: Vec<Duration>,
}

impl WebhookEndpoint {
    pub fn serves(&self, program: &ProgramId) -> bool {
        self.programs.as_ref().is_none_or(|p| p.contains(program))
    }
}

/// The key of a `whsec_<base64>` secret: 24 to 64 random bytes, as the Standard Webhooks
/// specification recommends.
pub fn parse_webhook_secret(raw: &str) -> Result<SecretSlice<u8>, ParseError> {
    let encoded = raw.trim().strip_prefix("whsec_").ok_or_else(|| {
        ParseError::new(
            "must start with whsec_ (make one with `loyalty-gateway keys webhook-secret`)",
        )
    })?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| ParseError::new("after whsec_, must be base64"))?;
    if !(24..=64).contains(&key.len()) {
        return Err(ParseError::new(format!(
            "must hold 24 to 64 bytes after base64 decoding, not {}",
            key.len()
        )));
    }
    Ok(SecretSlice::from(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn every_event_name_parses_back() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
        }
        assert_eq!(EventType::parse("points.earn"), None);
    }

    #[test]
    fn secrets_are_whsec_base64_of_24_to_64_bytes() {
        let key = parse_webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(key.expose_secret().len(), 24);
        assert!(parse_webhook_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(parse_webhook_secret("whsec_not base64!").is_err());
        assert!(parse_webhook_secret("whsec_c2hvcnQ=").is_err());
    }
}
