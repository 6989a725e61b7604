//! Money and earn multipliers, as exact integers.
//!
//! Points are a liability on the merchant's books, so no float ever touches the arithmetic:
//! amounts are minor units (`1250` is $12.50) and multipliers are hundredths (`1.25` is 125).
//! [`Amount::points`] computes `floor(amount / 100 * per_unit * tender * tier)` in `u128`.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::ParseError;

/// A purchase amount in the currency's smallest unit, from 1 to [`Amount::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(u64);

impl Amount {
    /// $100,000.00: larger single receipts are far more likely a typo than a purchase.
    pub const MAX: u64 = 10_000_000;

    pub fn parse(minor_units: i64) -> Result<Self, ParseError> {
        if minor_units <= 0 {
            return Err(ParseError::new(
                "amount must be a positive integer in minor units (1250 is 12.50)",
            ));
        }
        let value = minor_units as u64;
        if value > Self::MAX {
            return Err(ParseError::new(format!(
                "amount must be at most {} minor units",
                Self::MAX
            )));
        }
        Ok(Self(value))
    }

    pub fn minor_units(self) -> u64 {
        self.0
    }

    /// `floor(amount / 100 * points_per_unit * tender * tier)`, exactly.
    pub fn points(self, points_per_unit: u32, tender: Multiplier, tier: Multiplier) -> i64 {
        let numerator = u128::from(self.0)
            * u128::from(points_per_unit)
            * u128::from(tender.0)
            * u128::from(tier.0);
        let points = numerator / (100 * 100 * 100);
        i64::try_from(points).unwrap_or(i64::MAX)
    }
}

/// An earn multiplier with two decimals of precision (`2`, `1.5`, `1.25`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Multiplier(u32);

impl Multiplier {
    pub const ONE: Self = Self(100);
    /// Highest multiplier accepted in configuration.
    pub const MAX_HUNDREDTHS: u32 = 10_000;

    pub fn from_f64(value: f64) -> Result<Self, ParseError> {
        if !value.is_finite() || value <= 0.0 {
            return Err(ParseError::new(format!(
                "multiplier {value} must be greater than 0"
            )));
        }
        let hundredths = (value * 100.0).round();
        if (hundredths / 100.0 - value).abs() > 1e-9 {
            return Err(ParseError::new(format!(
                "multiplier {value} has more than two decimals"
            )));
        }
        if hundredths > f64::from(Self::MAX_HUNDREDTHS) {
            return Err(ParseError::new(format!(
                "multiplier {value} is larger than {}",
                Self::MAX_HUNDREDTHS / 100
            )));
        }
        Ok(Self(hundredths as u32))
    }

    pub fn hundredths(self) -> u32 {
        self.0
    }
}

impl Default for Multiplier {
    fn default() -> Self {
        Self::ONE
    }
}

impl fmt::Display for Multiplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl<'de> Deserialize<'de> for Multiplier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Self::from_f64(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(v: f64) -> Multiplier {
        Multiplier::from_f64(v).unwrap()
    }

    #[test]
    fn one_point_per_whole_dollar_rounds_down() {
        let one = Multiplier::ONE;
        assert_eq!(Amount::parse(1250).unwrap().points(1, one, one), 12);
        assert_eq!(Amount::parse(99).unwrap().points(1, one, one), 0);
        assert_eq!(Amount::parse(100).unwrap().points(1, one, one), 1);
        assert_eq!(Amount::parse(1999).unwrap().points(1, m(2.0), one), 39);
        assert_eq!(Amount::parse(1000).unwrap().points(1, m(1.5), m(1.25)), 18);
    }

    #[test]
    fn amounts_out_of_range_are_rejected() {
        assert!(Amount::parse(0).is_err());
        assert!(Amount::parse(-5).is_err());
        assert!(Amount::parse(Amount::MAX as i64 + 1).is_err());
    }

    #[test]
    fn multipliers_keep_two_decimals_exactly() {
        assert_eq!(m(1.1).hundredths(), 110);
        assert_eq!(m(2.0).to_string(), "2.00");
        assert!(Multiplier::from_f64(1.234).is_err());
        assert!(Multiplier::from_f64(0.0).is_err());
        assert!(Multiplier::from_f64(f64::NAN).is_err());
    }

    proptest! {
        #[test]
        fn points_match_exact_rational_arithmetic(
            amount in 1i64..=Amount::MAX as i64,
            per_unit in 1u32..=100,
            tender in 1u32..=1000,
            tier in 1u32..=1000,
        ) {
            let points = Amount::parse(amount).unwrap().points(
                per_unit, Multiplier(tender), Multiplier(tier));
            let exact = amount as u128 * per_unit as u128 * tender as u128 * tier as u128;
            prop_assert!(points as u128 * 1_000_000 <= exact);
            prop_assert!((points as u128 + 1) * 1_000_000 > exact);
        }

        #[test]
        fn more_spending_never_earns_fewer_points(a in 1i64..5_000_000, b in 0i64..5_000_000) {
            let one = Multiplier::ONE;
            let small = Amount::parse(a).unwrap().points(1, one, one);
            let large = Amount::parse(a + b).unwrap().points(1, one, one);
            prop_assert!(large >= small);
        }
    }
}
