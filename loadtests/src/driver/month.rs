//! The seed's month as traffic: distinct days of video submissions from a user population (the
//! seed: 1,000 daily active users, 20% power users making 3-5 videos a day in one session, 80%
//! casual users making 0-0.5), weekdays busier than weekends, each day on a diurnal curve with a
//! lunchtime and an evening peak. Scaled to a monthly volume by the number of daily users; a
//! seeded RNG makes it reproducible.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The seed's daily active users, and the videos a day they make on average (200 power users
/// × 4 + 800 casual × 0.25 = 1,000 a day, 30,000 a month).
const SEED_DAU: f64 = 1000.0;
const SEED_VIDEOS_PER_DAY: f64 = 1000.0;
const POWER_SHARE: f64 = 0.20;
const DAY_S: f64 = 86_400.0;
/// A power user's videos in a session come this far apart on average (seconds).
const SESSION_GAP_S: f64 = 240.0;

/// A month's submissions.
#[derive(Clone, Debug, Serialize)]
pub struct Traffic {
    /// Submission times, modelled seconds from the month's start, sorted.
    #[serde(skip)]
    pub arrivals: Vec<f64>,
    /// Who submitted each arrival (a user of a day: day × 1,000,000 + index).
    #[serde(skip)]
    pub owners: Vec<u64>,
    /// Videos submitted each day.
    pub per_day: Vec<usize>,
    /// Daily active users of the busiest day.
    pub peak_dau: u32,
}

/// Relative weight of weekday `day` (day 0 is a Monday): weekends are quieter.
fn day_weight(day: usize) -> f64 {
    if day % 7 >= 5 {
        0.7
    } else {
        1.12
    }
}

/// Relative arrival rate at hour `h`: a floor at night, a lunchtime and a larger evening peak
/// with a sharp prime-time spike at 21:00 (the seed's 50-150 videos in flight at the peak).
pub fn diurnal(h: f64) -> f64 {
    let bump = |mid: f64, width: f64| (-((h - mid) / width).powi(2) / 2.0).exp();
    0.12 + bump(13.0, 2.5) + 1.4 * bump(20.5, 1.6) + SPIKE * bump(21.0, 0.3)
}

/// The prime-time spike's height over the lunchtime peak's.
const SPIKE: f64 = 3.0;

/// A time of day, seconds, drawn from the diurnal curve (by rejection).
fn time_of_day(rng: &mut StdRng) -> f64 {
    loop {
        let h = rng.gen_range(0.0..24.0);
        if rng.gen_range(0.0..1.5 + SPIKE) < diurnal(h) {
            return h * 3600.0;
        }
    }
}

/// `days` distinct days at `videos_per_month` (a 30-day month's volume).
pub fn month(videos_per_month: f64, days: usize, seed: u64) -> Traffic {
    let mut rng = StdRng::seed_from_u64(seed);
    let mean_weight = (0..30).map(day_weight).sum::<f64>() / 30.0;
    let dau = SEED_DAU * videos_per_month / 30.0 / SEED_VIDEOS_PER_DAY;
    let (mut arrivals, mut per_day, mut peak_dau) = (Vec::new(), Vec::new(), 0);
    let mut owners = Vec::new();
    for day in 0..days {
        let base = day as f64 * DAY_S;
        // Day-to-day noise on top of the weekday shape.
        let users = (dau * day_weight(day) / mean_weight * rng.gen_range(0.9..1.1)).round() as u32;
        peak_dau = peak_dau.max(users);
        let before = arrivals.len();
        for u in 0..users {
            if f64::from(u) < f64::from(users) * POWER_SHARE {
                let n = rng.gen_range(3..=5);
                let mut t = time_of_day(&mut rng);
                for _ in 0..n {
                    arrivals.push(base + t);
                    owners.push(day as u64 * 1_000_000 + u64::from(u));
                    t += -rng.gen_range(f64::EPSILON..1.0f64).ln() * SESSION_GAP_S;
                }
            } else {
                let rate: f64 = rng.gen_range(0.0..0.5);
                if rng.gen_bool(rate) {
                    arrivals.push(base + time_of_day(&mut rng));
                    owners.push(day as u64 * 1_000_000 + u64::from(u));
                }
            }
        }
        per_day.push(arrivals.len() - before);
    }
    let mut order: Vec<usize> = (0..arrivals.len()).collect();
    order.sort_by(|&a, &b| arrivals[a].total_cmp(&arrivals[b]));
    Traffic {
        owners: order.iter().map(|&i| owners[i]).collect(),
        arrivals: order.iter().map(|&i| arrivals[i]).collect(),
        per_day,
        peak_dau,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_has_the_volume_asked_for_with_distinct_days() {
        let t = month(15_000.0, 30, 1);
        let total: usize = t.per_day.iter().sum();
        assert!((14_000..16_000).contains(&total), "{total}");
        assert_eq!(t.per_day.len(), 30);
        // Weekends are quieter, and no two weeks repeat.
        assert!(t.per_day[5] < t.per_day[2] && t.per_day[6] < t.per_day[3]);
        assert_ne!(t.per_day[0..7], t.per_day[7..14]);
        // The same seed is the same month.
        assert_eq!(month(15_000.0, 30, 1).arrivals, t.arrivals);
        // The evening is busier than the small hours.
        assert!(diurnal(20.5) > 5.0 * diurnal(4.0));
    }
}
