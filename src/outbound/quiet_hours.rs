//! Quiet hours for marketing texts: 08:00-21:00 in the recipient's local time (TCPA, 47 CFR
//! 64.1200(c)(1)), narrower in the states whose laws say so.
//!
//! The recipient's time zone is inferred from the number: the area code for the North American
//! Numbering Plan, the country for single-zone countries, else the program's time zone. Where an
//! area code spans several zones (Florida's panhandle, the Dakotas...), every one of them must
//! be inside the window: a text may go out late, never at night.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use crate::domain::PhoneNumber;

/// Where a recipient is, as far as the number tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub zones: Vec<Tz>,
    /// US state or Canadian province (two letters), for state-specific windows.
    pub state: Option<&'static str>,
}

/// Sending window in minutes after local midnight, `[start, end)`.
fn window(state: Option<&str>, weekday: Weekday) -> (u32, u32) {
    let weekend = matches!(weekday, Weekday::Sat | Weekday::Sun);
    match state {
        Some("FL" | "MD" | "MS" | "NJ" | "OK") => (8 * 60, 20 * 60),
        Some("CT") => (9 * 60, 20 * 60),
        Some("TX") if weekday == Weekday::Sun => (12 * 60, 21 * 60),
        Some("TX") => (9 * 60, 21 * 60),
        Some("RI") if weekend => (10 * 60, 17 * 60),
        Some("RI") => (9 * 60, 18 * 60),
        _ => (8 * 60, 21 * 60),
    }
}

fn allowed_in(zone: Tz, state: Option<&str>, at: DateTime<Utc>) -> bool {
    let local = at.with_timezone(&zone);
    let minute = local.hour() * 60 + local.minute();
    let (start, end) = window(state, local.weekday());
    (start..end).contains(&minute)
}

/// The next window start in `zone` strictly after `at`.
fn next_start(zone: Tz, state: Option<&str>, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = at.with_timezone(&zone);
    for days in 0..8 {
        let date = local.date_naive() + Duration::days(days);
        let (start, _) = window(state, date.weekday());
        let naive = date
            .and_hms_opt(start / 60, start % 60, 0)
            .expect("valid time");
        // On a DST gap the earliest valid instant after it is as good.
        let candidate = zone
            .from_local_datetime(&naive)
            .earliest()
            .unwrap_or_else(|| zone.from_utc_datetime(&(naive + Duration::hours(1))))
            .with_timezone(&Utc);
        if candidate > at {
            return candidate;
        }
    }
    at + Duration::hours(24)
}

/// A wall-clock time written `HH:MM` (24 h), as a campaign's `send_at_local` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(NaiveTime);

impl LocalTime {
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 5 {
            return None;
        }
        NaiveTime::parse_from_str(text, "%H:%M").ok().map(Self)
    }
}

/// The first instant at or after `from` when the clock in `zone` reads `time` (on a DST gap,
/// the first instant after it).
fn next_wall_clock(zone: Tz, time: LocalTime, from: DateTime<Utc>) -> DateTime<Utc> {
    let local = from.with_timezone(&zone);
    for days in 0..3 {
        let naive = (local.date_naive() + Duration::days(days)).and_time(time.0);
        let candidate = zone
            .from_local_datetime(&naive)
            .earliest()
            .unwrap_or_else(|| zone.from_utc_datetime(&(naive + Duration::hours(1))))
            .with_timezone(&Utc);
        if candidate >= from {
            return candidate;
        }
    }
    from + Duration::hours(24)
}

impl Recipient {
    /// When a text asked for at `time` local, from `from` on, may go: the first such instant,
    /// or where the number's area spans zones, the latest of theirs (never early anywhere).
    pub fn at_local(&self, time: LocalTime, from: DateTime<Utc>) -> DateTime<Utc> {
        self.zones
            .iter()
            .map(|zone| next_wall_clock(*zone, time, from))
            .max()
            .unwrap_or(from)
    }

    /// `None` when a marketing text may go now, else the earliest moment it may.
    pub fn next_allowed(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut at = now;
        for _ in 0..16 {
            let blocked: Vec<Tz> = self
                .zones
                .iter()
                .copied()
                .filter(|z| !allowed_in(*z, self.state, at))
                .collect();
            if blocked.is_empty() {
                return (at != now).then_some(at);
            }
            at = blocked
                .iter()
                .map(|z| next_start(*z, self.state, at))
                .max()
                .expect("non-empty");
        }
        Some(at)
    }
}

pub fn recipient(phone: &PhoneNumber, program_zone: Tz) -> Recipient {
    if let Some(code) = phone.nanp_area_code().and_then(|c| c.parse::<u16>().ok()) {
        if let Some((state, zones)) = NANP.get(&code) {
            return Recipient {
                zones: zones.clone(),
                state: Some(state),
            };
        }
        return Recipient {
            zones: vec![program_zone],
            state: None,
        };
    }
    let zone = SINGLE_ZONE_COUNTRIES
        .iter()
        .find(|(prefix, _)| phone.as_str()[1..].starts_with(prefix))
        .map(|(_, zone)| *zone)
        .unwrap_or(program_zone);
    Recipient {
        zones: vec![zone],
        state: None,
    }
}

use chrono_tz::America as Am;

const EASTERN: &[Tz] = &[Am::New_York];
const CENTRAL: &[Tz] = &[Am::Chicago];
const MOUNTAIN: &[Tz] = &[Am::Denver];
const PACIFIC: &[Tz] = &[Am::Los_Angeles];

/// (state, zones, area codes). Later rows override earlier ones for split area codes.
const AREA_CODES: &[(&str, &[Tz], &str)] = &[
    ("AL", CENTRAL, "205 251 256 334 659 938"),
    ("AK", &[Am::Anchorage], "907"),
    ("AZ", &[Am::Phoenix], "480 520 602 623 928"),
    ("AR", CENTRAL, "327 479 501 870"),
    ("CA", PACIFIC, "209 213 279 310 323 341 350 369 408 415 424 442 510 530 559 562 619 626 628 650 657 661 669 707 714 747 760 805 818 820 831 840 858 909 916 925 949 951"),
    ("CO", MOUNTAIN, "303 719 720 970 983"),
    ("CT", EASTERN, "203 475 860 959"),
    ("DE", EASTERN, "302"),
    ("DC", EASTERN, "202 771"),
    ("FL", EASTERN, "239 305 321 324 352 386 407 561 645 656 689 727 728 754 772 786 813 863 904 941 954"),
    ("FL", &[Am::New_York, Am::Chicago], "448 850"),
    ("GA", EASTERN, "229 404 470 478 678 706 762 770 912 943"),
    ("HI", &[chrono_tz::Pacific::Honolulu], "808"),
    ("ID", &[Am::Boise, Am::Los_Angeles], "208 986"),
    ("IL", CENTRAL, "217 224 309 312 331 447 464 618 630 708 730 773 779 815 847 861 872"),
    ("IN", &[Am::Indiana::Indianapolis], "260 317 463 574 765"),
    ("IN", CENTRAL, "219"),
    ("IN", &[Am::Indiana::Indianapolis, Am::Chicago], "812 930"),
    ("IA", CENTRAL, "319 515 563 641 712"),
    ("KS", CENTRAL, "316 913"),
    ("KS", &[Am::Chicago, Am::Denver], "620 785"),
    ("KY", EASTERN, "502 606 859"),
    ("KY", &[Am::Chicago, Am::New_York], "270 364"),
    ("LA", CENTRAL, "225 318 337 504 985"),
    ("ME", EASTERN, "207"),
    ("MD", EASTERN, "227 240 301 410 443 667"),
    ("MA", EASTERN, "339 351 413 508 617 774 781 857 978"),
    ("MI", &[Am::Detroit], "231 248 269 313 517 586 616 679 734 810 947 989"),
    ("MI", &[Am::Detroit, Am::Menominee], "906"),
    ("MN", CENTRAL, "218 320 507 612 651 763 924 952"),
    ("MS", CENTRAL, "228 601 662 769"),
    ("MO", CENTRAL, "235 314 417 557 573 636 660 816 975"),
    ("MT", MOUNTAIN, "406"),
    ("NE", CENTRAL, "402 531"),
    ("NE", &[Am::Chicago, Am::Denver], "308"),
    ("NV", PACIFIC, "702 725 775"),
    ("NH", EASTERN, "603"),
    ("NJ", EASTERN, "201 551 609 640 732 848 856 862 908 973"),
    ("NM", MOUNTAIN, "505 575"),
    ("NY", EASTERN, "212 315 329 332 347 363 516 518 585 607 624 631 646 680 716 718 838 845 914 917 929 934"),
    ("NC", EASTERN, "252 336 472 704 743 828 910 919 980 984"),
    ("ND", &[Am::Chicago, Am::Denver], "701"),
    ("OH", EASTERN, "216 220 234 283 326 330 380 419 436 440 513 567 614 740 937"),
    ("OK", CENTRAL, "405 539 572 580 918"),
    ("OR", PACIFIC, "503 971"),
    ("OR", &[Am::Los_Angeles, Am::Boise], "458 541"),
    ("PA", EASTERN, "215 223 267 272 412 445 484 570 582 610 717 724 814 835 878"),
    ("RI", EASTERN, "401"),
    ("SC", EASTERN, "803 821 839 843 854 864"),
    ("SD", &[Am::Chicago, Am::Denver], "605"),
    ("TN", EASTERN, "423 865"),
    ("TN", CENTRAL, "615 629 731 901 931"),
    ("TX", CENTRAL, "210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 936 940 945 956 972 979"),
    ("TX", MOUNTAIN, "915"),
    ("UT", MOUNTAIN, "385 435 801"),
    ("VT", EASTERN, "802"),
    ("VA", EASTERN, "276 434 540 571 686 703 757 804 826 948"),
    ("WA", PACIFIC, "206 253 360 425 509 564"),
    ("WV", EASTERN, "304 681"),
    ("WI", CENTRAL, "262 274 353 414 534 608 715 920"),
    ("WY", MOUNTAIN, "307"),
    ("PR", &[Am::Puerto_Rico], "787 939"),
    ("VI", &[Am::St_Thomas], "340"),
    ("GU", &[chrono_tz::Pacific::Guam], "671"),
    ("MP", &[chrono_tz::Pacific::Saipan], "670"),
    ("AS", &[chrono_tz::Pacific::Pago_Pago], "684"),
    // Canada.
    ("ON", &[Am::Toronto], "226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 905"),
    ("ON", &[Am::Toronto, Am::Winnipeg], "807"),
    ("QC", &[Am::Toronto], "263 354 367 418 438 450 468 514 579 581 819 873"),
    ("BC", &[Am::Vancouver], "236 250 257 604 672 778"),
    ("AB", &[Am::Edmonton], "368 403 587 780 825"),
    ("SK", &[Am::Regina], "306 474 639"),
    ("MB", &[Am::Winnipeg], "204 431 584"),
    ("NS", &[Am::Halifax], "782 902"),
    ("NB", &[Am::Moncton], "428 506"),
    ("NL", &[Am::St_Johns], "709 879"),
    ("NT", &[Am::Yellowknife, Am::Whitehorse, Am::Iqaluit], "867"),
    // Caribbean members of the plan.
    ("BS", &[Am::Nassau], "242"),
    ("BB", &[Am::Barbados], "246"),
    ("AI", &[Am::Anguilla], "264"),
    ("AG", &[Am::Antigua], "268"),
    ("VG", &[Am::Tortola], "284"),
    ("KY", &[Am::Cayman], "345"),
    ("BM", &[chrono_tz::Atlantic::Bermuda], "441"),
    ("GD", &[Am::Grenada], "473"),
    ("TC", &[Am::Grand_Turk], "649"),
    ("JM", &[Am::Jamaica], "658 876"),
    ("MS", &[Am::Montserrat], "664"),
    ("SX", &[Am::Lower_Princes], "721"),
    ("LC", &[Am::St_Lucia], "758"),
    ("DM", &[Am::Dominica], "767"),
    ("VC", &[Am::St_Vincent], "784"),
    ("DO", &[Am::Santo_Domingo], "809 829 849"),
    ("TT", &[Am::Port_of_Spain], "868"),
    ("KN", &[Am::St_Kitts], "869"),
];

static NANP: LazyLock<HashMap<u16, (&'static str, Vec<Tz>)>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for (state, zones, codes) in AREA_CODES {
        for code in codes.split_whitespace() {
            let code: u16 = code.parse().expect("area codes are numbers");
            map.insert(code, (*state, zones.to_vec()));
        }
    }
    map
});

/// Calling codes of countries with one time zone (longest prefixes first where they overlap).
const SINGLE_ZONE_COUNTRIES: &[(&str, Tz)] = {
    use chrono_tz::{Africa as Af, Asia as As, Europe as Eu};
    &[
        ("351", Eu::Lisbon),
        ("353", Eu::Dublin),
        ("354", chrono_tz::Atlantic::Reykjavik),
        ("358", Eu::Helsinki),
        ("972", As::Jerusalem),
        ("971", As::Dubai),
        ("966", As::Riyadh),
        ("974", As::Qatar),
        ("965", As::Kuwait),
        ("973", As::Bahrain),
        ("968", As::Muscat),
        ("962", As::Amman),
        ("961", As::Beirut),
        ("212", Af::Casablanca),
        ("216", Af::Tunis),
        ("213", Af::Algiers),
        ("502", Am::Guatemala),
        ("503", Am::El_Salvador),
        ("504", Am::Tegucigalpa),
        ("505", Am::Managua),
        ("506", Am::Costa_Rica),
        ("507", Am::Panama),
        ("44", Eu::London),
        ("33", Eu::Paris),
        ("49", Eu::Berlin),
        ("39", Eu::Rome),
        ("31", Eu::Amsterdam),
        ("32", Eu::Brussels),
        ("41", Eu::Zurich),
        ("43", Eu::Vienna),
        ("45", Eu::Copenhagen),
        ("46", Eu::Stockholm),
        ("47", Eu::Oslo),
        ("48", Eu::Warsaw),
        ("30", Eu::Athens),
        ("20", Af::Cairo),
        ("27", Af::Johannesburg),
        ("91", As::Kolkata),
        ("81", As::Tokyo),
        ("82", As::Seoul),
        ("65", As::Singapore),
        ("54", Am::Argentina::Buenos_Aires),
        ("57", Am::Bogota),
        ("51", Am::Lima),
        ("58", Am::Caracas),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse_e164(s).unwrap()
    }

    const FALLBACK: Tz = chrono_tz::Europe::London;

    #[test]
    fn zones_come_from_the_area_code_the_country_or_the_program() {
        assert_eq!(
            recipient(&phone("+14155552671"), FALLBACK).zones,
            vec![Am::Los_Angeles]
        );
        assert_eq!(
            recipient(&phone("+12125550143"), FALLBACK).state,
            Some("NY")
        );
        assert_eq!(
            recipient(&phone("+19155550143"), FALLBACK).state,
            Some("TX")
        );
        assert_eq!(
            recipient(&phone("+19155550143"), FALLBACK).zones,
            vec![Am::Denver]
        );
        assert_eq!(recipient(&phone("+18505550143"), FALLBACK).zones.len(), 2);
        assert_eq!(
            recipient(&phone("+447911123456"), Am::New_York).zones,
            vec![chrono_tz::Europe::London]
        );
        assert_eq!(
            recipient(&phone("+61412345678"), Am::New_York).zones,
            vec![Am::New_York]
        );
    }

    #[test]
    fn the_federal_window_is_eight_to_nine_local_time() {
        let sf = recipient(&phone("+14155552671"), FALLBACK);
        // 2026-11-18 is a Wednesday; San Francisco is UTC-8 in November.
        assert_eq!(sf.next_allowed(utc("2026-11-18T20:00:00Z")), None); // 12:00 local
        assert_eq!(sf.next_allowed(utc("2026-11-18T16:00:00Z")), None); // 08:00 local
        assert_eq!(
            sf.next_allowed(utc("2026-11-18T15:59:00Z")), // 07:59 local
            Some(utc("2026-11-18T16:00:00Z"))
        );
        assert_eq!(
            sf.next_allowed(utc("2026-11-19T05:00:00Z")), // 21:00 local
            Some(utc("2026-11-19T16:00:00Z"))
        );
    }

    #[test]
    fn stricter_states_narrow_the_window() {
        let miami = recipient(&phone("+13055550143"), FALLBACK);
        // 20:30 in Miami (UTC-5): allowed federally, not in Florida.
        assert_eq!(
            miami.next_allowed(utc("2026-11-19T01:30:00Z")),
            Some(utc("2026-11-19T13:00:00Z"))
        );
        let dallas = recipient(&phone("+12145550143"), FALLBACK);
        // Sunday 2026-11-22 10:00 in Dallas (UTC-6): Texas waits until noon on Sundays.
        assert_eq!(
            dallas.next_allowed(utc("2026-11-22T16:00:00Z")),
            Some(utc("2026-11-22T18:00:00Z"))
        );
        let hartford = recipient(&phone("+18605550143"), FALLBACK);
        // 08:30 in Connecticut: not before nine.
        assert_eq!(
            hartford.next_allowed(utc("2026-11-18T13:30:00Z")),
            Some(utc("2026-11-18T14:00:00Z"))
        );
    }

    #[test]
    fn a_split_area_code_waits_for_every_zone() {
        // 850: Tallahassee (Eastern) and Pensacola (Central). 08:30 Eastern is 07:30 Central.
        let panhandle = recipient(&phone("+18505550143"), FALLBACK);
        assert_eq!(
            panhandle.next_allowed(utc("2026-11-18T13:30:00Z")),
            Some(utc("2026-11-18T14:00:00Z"))
        );
    }

    #[test]
    fn every_area_code_maps_to_known_zones() {
        assert!(NANP.len() > 350, "{}", NANP.len());
        assert!(NANP.values().all(|(_, zones)| !zones.is_empty()));
    }
}
