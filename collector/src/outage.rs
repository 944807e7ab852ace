//! What kind of outage a school had, and what it cost its availability.
//!
//! An outage is a stretch with no report *received* from any of a school's
//! agents for longer than the online window. While it lasts nobody can
//! tell why; once the link returns, the agents' back-filled reports tell
//! (see [`classify`]). Pure functions; the store gathers the [`Evidence`].

use serde::Serialize;

use crate::calendar::Calendar;

/// Why a school was dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageKind {
    /// The agents kept running and the school's gateway kept answering,
    /// but the collector was out of reach: the operator's link.
    Wan,
    /// The agents kept running but the gateway stopped answering too: the
    /// school's own router, switch or cabling.
    Lan,
    /// No report was made at all: the machines (or the agents) were off.
    Power,
    /// Entirely outside school hours (nights, days off, holidays): not
    /// counted against availability.
    Scheduled,
    /// Not (yet) known: the outage is still going on, or the agents ran
    /// without a gateway probe that could tell WAN from LAN.
    Unknown,
}

impl OutageKind {
    /// Every kind, for exposition.
    pub const ALL: [OutageKind; 5] = [
        Self::Wan,
        Self::Lan,
        Self::Power,
        Self::Scheduled,
        Self::Unknown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wan => "wan",
            Self::Lan => "lan",
            Self::Power => "power",
            Self::Scheduled => "scheduled",
            Self::Unknown => "unknown",
        }
    }
}

/// What a school's reports sampled during the middle half of an outage
/// (see [`evidence_window`]) say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Reports sampled then (they arrived later, if at all).
    pub reports: u64,
    /// Of those, reports whose gateway probe got at least one reply.
    pub gateway_up: u64,
    /// Of those, reports whose gateway probe got no reply at all.
    pub gateway_down: u64,
}

/// The stretch of an outage from `start_ms` to `end_ms` whose reports are
/// evidence: its middle half. Its edges prove nothing: the last reports
/// before a power cut may be made but not sent, and the report that ends
/// an outage was made just before it arrived.
pub fn evidence_window(start_ms: i64, end_ms: i64) -> (i64, i64) {
    let quarter = (end_ms - start_ms).max(0) / 4;
    (start_ms + quarter, end_ms - quarter)
}

/// One outage of one school.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    /// The last report received before it, ms since the epoch.
    pub start_ms: i64,
    /// The first report received after it; `None` while it lasts.
    pub end_ms: Option<i64>,
    /// Its kind.
    pub kind: OutageKind,
    /// Length in ms (until now while it lasts).
    pub duration_ms: i64,
    /// The part inside school hours, ms: what counts against availability.
    pub counted_ms: i64,
    /// What the back-filled reports said.
    pub evidence: Evidence,
}

impl Outage {
    /// Builds an outage from `start_ms` to `end_ms` (or to `now_ms` while
    /// it lasts), classified from `evidence`.
    pub fn new(
        start_ms: i64,
        end_ms: Option<i64>,
        now_ms: i64,
        evidence: Evidence,
        calendar: &Calendar,
    ) -> Self {
        let until = end_ms.unwrap_or(now_ms).max(start_ms);
        let counted_ms = calendar.school_ms(start_ms, until);
        Self {
            start_ms,
            end_ms,
            kind: classify(end_ms.is_none(), counted_ms, &evidence),
            duration_ms: until - start_ms,
            counted_ms,
            evidence,
        }
    }
}

/// Classifies an outage.
///
/// Entirely outside school hours: scheduled, whatever happened. Still going
/// on: unknown (nothing has come back to tell). No report made in its
/// middle half: power (or the agents) off. Otherwise the gateway probes
/// decide: most of them unanswered means LAN, answered means WAN; without
/// gateway probes it stays unknown rather than guessed.
pub fn classify(ongoing: bool, counted_ms: i64, evidence: &Evidence) -> OutageKind {
    if counted_ms == 0 {
        OutageKind::Scheduled
    } else if ongoing {
        OutageKind::Unknown
    } else if evidence.reports == 0 {
        OutageKind::Power
    } else if evidence.gateway_down > evidence.gateway_up {
        OutageKind::Lan
    } else if evidence.gateway_up > 0 {
        OutageKind::Wan
    } else {
        OutageKind::Unknown
    }
}

/// Share of school hours online within `[from_ms, now_ms)`, counting from
/// `first_ms` (when the school first reported) if that is later. `None`
/// when that span holds no school hours.
pub fn availability(
    outages: &[Outage],
    calendar: &Calendar,
    from_ms: i64,
    first_ms: i64,
    now_ms: i64,
) -> Option<f64> {
    let from = from_ms.max(first_ms);
    let hours = calendar.school_ms(from, now_ms);
    if hours <= 0 {
        return None;
    }
    let down: i64 = outages
        .iter()
        .filter(|o| o.kind != OutageKind::Scheduled)
        .map(|o| {
            let end = o.end_ms.unwrap_or(now_ms).min(now_ms);
            calendar.school_ms(o.start_ms.max(from), end)
        })
        .sum();
    Some((1.0 - down as f64 / hours as f64).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn ev(reports: u64, up: u64, down: u64) -> Evidence {
        Evidence {
            reports,
            gateway_up: up,
            gateway_down: down,
        }
    }

    #[test]
    fn evidence_is_the_middle_half() {
        assert_eq!(evidence_window(1_000, 2_000), (1_250, 1_750));
        assert_eq!(evidence_window(1_000, 1_000), (1_000, 1_000));
    }

    #[test]
    fn kinds_by_evidence() {
        let kind = |ongoing, counted, e: Evidence| classify(ongoing, counted, &e);
        assert_eq!(kind(false, 1, ev(0, 0, 0)), OutageKind::Power);
        assert_eq!(kind(false, 1, ev(10, 9, 1)), OutageKind::Wan);
        assert_eq!(kind(false, 1, ev(10, 2, 8)), OutageKind::Lan);
        // A tie is not "most unanswered".
        assert_eq!(kind(false, 1, ev(10, 5, 5)), OutageKind::Wan);
        assert_eq!(kind(false, 1, ev(10, 0, 0)), OutageKind::Unknown);
        assert_eq!(kind(true, 1, ev(0, 0, 0)), OutageKind::Unknown);
        // Outside school hours wins over any evidence.
        assert_eq!(kind(false, 0, ev(10, 0, 10)), OutageKind::Scheduled);
        assert_eq!(kind(true, 0, ev(0, 0, 0)), OutageKind::Scheduled);
    }

    #[test]
    fn availability_counts_only_unscheduled_school_hours() {
        let always = Calendar::default();
        let now = 100 * HOUR;
        let out = |start: i64, end: Option<i64>, reports| {
            Outage::new(start, end, now, ev(reports, 0, 0), &always)
        };
        // Over the last 10 h: a 1 h power cut and a 30 min one still going.
        let outages = [
            out(91 * HOUR, Some(92 * HOUR), 0),
            out(now - HOUR / 2, None, 0),
        ];
        assert_eq!(outages[1].kind, OutageKind::Unknown);
        assert_eq!(outages[1].duration_ms, HOUR / 2);
        let a = availability(&outages, &always, now - 10 * HOUR, 0, now).unwrap();
        assert!((a - 0.85).abs() < 1e-12, "{a}");
        // First reported 5 h ago: the 1.5 h out of 5.
        let a = availability(&outages, &always, now - 10 * HOUR, now - 5 * HOUR, now).unwrap();
        assert!((a - 0.9).abs() < 1e-12, "{a}");
        // An outage that began before the window counts only inside it.
        let long = [out(now - 20 * HOUR, Some(now - 8 * HOUR), 0)];
        let a = availability(&long, &always, now - 10 * HOUR, 0, now).unwrap();
        assert!((a - 0.8).abs() < 1e-12, "{a}");
        assert_eq!(availability(&[], &always, now, 0, now), None);
    }

    #[test]
    fn night_outage_is_scheduled_and_free() {
        // School hours 08:00–16:00 UTC every day.
        let cal = Calendar {
            day_start_minute: 8 * 60,
            day_end_minute: 16 * 60,
            ..Calendar::default()
        };
        let day = 24 * HOUR;
        let now = 10 * day + 12 * HOUR;
        // Off from 18:00 to 06:00: scheduled. Off 06:00 to 09:00: one
        // school hour lost, and it is a power cut.
        let night = Outage::new(
            9 * day + 18 * HOUR,
            Some(10 * day + 6 * HOUR),
            now,
            ev(0, 0, 0),
            &cal,
        );
        let morning = Outage::new(
            10 * day + 6 * HOUR,
            Some(10 * day + 9 * HOUR),
            now,
            ev(0, 0, 0),
            &cal,
        );
        assert_eq!(night.kind, OutageKind::Scheduled);
        assert_eq!(
            (morning.kind, morning.counted_ms),
            (OutageKind::Power, HOUR)
        );
        // Today's school hours so far: 08:00–12:00, one lost.
        let a = availability(&[night, morning], &cal, 10 * day, 0, now).unwrap();
        assert!((a - 0.75).abs() < 1e-12, "{a}");
    }
}
