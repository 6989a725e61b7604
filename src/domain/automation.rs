//! A program's automations: texts the program sends by itself when something happens (or
//! stops happening) in a member's life. Each is off unless configured.

use serde::Serialize;

use super::Period;

/// The configured automations of one program.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Automations {
    /// After an earn leaves the member within `within_points` of the next reward.
    pub near_reward: Option<NearReward>,
    /// `before` an unused reward code expires.
    pub reward_expiring: Option<RewardExpiring>,
    /// `after` without a visit.
    pub win_back: Option<WinBack>,
    /// Steps after joining.
    pub welcome_series: Vec<WelcomeStep>,
    /// In the week of the birthday a member texted (BDAY MM-DD), once a year.
    pub birthday: Option<Birthday>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Birthday {
    /// Credited with the text (not to the holdout).
    pub bonus_points: i64,
    pub text: AutomationText,
}

/// What every automation may set: its own text (else a shipped template) and a holdout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AutomationText {
    /// A template with the campaign variables; `None`: the shipped one.
    pub body: Option<String>,
    pub holdout_percent: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NearReward {
    pub within_points: i64,
    pub text: AutomationText,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RewardExpiring {
    pub before: Period,
    pub text: AutomationText,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WinBack {
    pub after: Period,
    /// Points are multiplied by this on the next purchase within `bonus_valid`.
    pub bonus_multiplier: Option<f64>,
    pub bonus_valid: Period,
    pub text: AutomationText,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WelcomeStep {
    pub after: Period,
    pub body: String,
}

/// An automation's name: its pseudo-campaign (`campaign:auto_<name>`) counts what it sent and
/// what that earned, like a campaign's.
pub const AUTOMATION_NAMES: [&str; 5] = [
    "near_reward",
    "reward_expiring",
    "win_back",
    "welcome_series",
    "birthday",
];

/// What the scripts read of the automations (`P.automations`): durations in milliseconds.
#[derive(Debug, Serialize)]
pub(super) struct ScriptAutomations {
    #[serde(skip_serializing_if = "Option::is_none")]
    near_reward: Option<ScriptNearReward>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reward_expiring: Option<ScriptBefore>,
    #[serde(skip_serializing_if = "Option::is_none")]
    win_back: Option<ScriptWinBack>,
    #[serde(skip_serializing_if = "Option::is_none")]
    welcome_series: Option<ScriptWelcome>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birthday: Option<ScriptBirthday>,
}

#[derive(Debug, Serialize)]
struct ScriptBirthday {
    bonus: i64,
    holdout: f64,
}

#[derive(Debug, Serialize)]
struct ScriptNearReward {
    within: i64,
    holdout: f64,
}

#[derive(Debug, Serialize)]
struct ScriptBefore {
    before_ms: u64,
    holdout: f64,
}

#[derive(Debug, Serialize)]
struct ScriptWinBack {
    after_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    multiplier: Option<f64>,
    valid_ms: u64,
    holdout: f64,
}

#[derive(Debug, Serialize)]
struct ScriptWelcome {
    steps_ms: Vec<u64>,
    holdout: f64,
}

impl Automations {
    pub(super) fn script(&self) -> Option<ScriptAutomations> {
        if self.near_reward.is_none()
            && self.reward_expiring.is_none()
            && self.win_back.is_none()
            && self.welcome_series.is_empty()
            && self.birthday.is_none()
        {
            return None;
        }
        Some(ScriptAutomations {
            near_reward: self.near_reward.as_ref().map(|n| ScriptNearReward {
                within: n.within_points,
                holdout: n.text.holdout_percent,
            }),
            reward_expiring: self.reward_expiring.as_ref().map(|r| ScriptBefore {
                before_ms: r.before.as_millis(),
                holdout: r.text.holdout_percent,
            }),
            win_back: self.win_back.as_ref().map(|w| ScriptWinBack {
                after_ms: w.after.as_millis(),
                multiplier: w.bonus_multiplier,
                valid_ms: w.bonus_valid.as_millis(),
                holdout: w.text.holdout_percent,
            }),
            welcome_series: (!self.welcome_series.is_empty()).then(|| ScriptWelcome {
                steps_ms: self
                    .welcome_series
                    .iter()
                    .map(|s| s.after.as_millis())
                    .collect(),
                holdout: 0.0,
            }),
            birthday: self.birthday.as_ref().map(|b| ScriptBirthday {
                bonus: b.bonus_points,
                holdout: b.text.holdout_percent,
            }),
        })
    }

    /// Each configured automation's name and its own body, if any (welcome steps are
    /// `welcome_series:<n>`, from 1).
    pub fn bodies(&self) -> Vec<(String, Option<&str>)> {
        let mut all = Vec::new();
        if let Some(n) = &self.near_reward {
            all.push(("near_reward".to_owned(), n.text.body.as_deref()));
        }
        if let Some(r) = &self.reward_expiring {
            all.push(("reward_expiring".to_owned(), r.text.body.as_deref()));
        }
        if let Some(w) = &self.win_back {
            all.push(("win_back".to_owned(), w.text.body.as_deref()));
        }
        if let Some(b) = &self.birthday {
            all.push(("birthday".to_owned(), b.text.body.as_deref()));
        }
        for (i, step) in self.welcome_series.iter().enumerate() {
            all.push((
                format!("welcome_series:{}", i + 1),
                Some(step.body.as_str()),
            ));
        }
        all
    }

    /// The names of the configured automations.
    pub fn configured(&self) -> Vec<&'static str> {
        let on = [
            self.near_reward.is_some(),
            self.reward_expiring.is_some(),
            self.win_back.is_some(),
            !self.welcome_series.is_empty(),
            self.birthday.is_some(),
        ];
        AUTOMATION_NAMES
            .into_iter()
            .zip(on)
            .filter_map(|(name, on)| on.then_some(name))
            .collect()
    }
}
