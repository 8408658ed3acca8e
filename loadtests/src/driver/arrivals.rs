//! Open-loop arrival times (wall seconds from the start) for the `open` and `day` modes.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::scenario::{Load, Mode};

/// Submission offsets in seconds, sorted; empty for the closed mode (which paces itself).
pub fn offsets(load: &Load) -> Vec<f64> {
    let mut rng = SmallRng::seed_from_u64(load.seed);
    let mut out = match load.mode {
        Mode::Closed => Vec::new(),
        Mode::Open => {
            let mut out = Vec::new();
            let mut start = 0.0;
            for phase in &load.phases {
                // Poisson arrivals: exponential gaps at the phase's rate.
                let mut t = start;
                if phase.videos_per_s > 0.0 {
                    loop {
                        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
                        t += -u.ln() / phase.videos_per_s;
                        if t >= start + phase.seconds {
                            break;
                        }
                        out.push(t);
                    }
                }
                start += phase.seconds;
            }
            out
        }
        Mode::Day => {
            let power = (load.users as f64 * load.power_user_share).round() as usize;
            let mut out = Vec::new();
            for user in 0..load.users {
                let [lo, hi] = if user < power {
                    load.power_videos_per_day
                } else {
                    load.casual_videos_per_day
                };
                let mean = if hi > lo { rng.gen_range(lo..=hi) } else { lo };
                // A fractional mean is a chance of one more video (0.3 a day: 30% of days).
                let mut n = mean.floor() as usize;
                if rng.gen_bool((mean - mean.floor()).clamp(0.0, 1.0)) {
                    n += 1;
                }
                for _ in 0..n {
                    out.push(rng.gen_range(0.0..load.day_s));
                }
            }
            out
        }
    };
    out.sort_by(f64::total_cmp);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::scenario::{Phase, Scenario};

    fn load(mode: &str, extra: &str) -> Load {
        let text = format!(
            "name = \"t\"\ntime_factor = 0.01\n[load]\nmode = \"{mode}\"\nshots_per_video = 8\n\
             model = \"m\"\n{extra}"
        );
        Scenario::parse(&text).map(|s| s.load).expect("scenario")
    }

    #[test]
    fn a_burst_phase_brings_about_ten_times_the_arrivals() {
        let mut l = load("open", "phases = [{ seconds = 1, videos_per_s = 1 }]");
        l.phases = vec![
            Phase {
                seconds: 200.0,
                videos_per_s: 1.0,
            },
            Phase {
                seconds: 200.0,
                videos_per_s: 10.0,
            },
        ];
        let t = offsets(&l);
        let before = t.iter().filter(|&&x| x < 200.0).count() as f64;
        let after = t.iter().filter(|&&x| x >= 200.0).count() as f64;
        assert!(
            (after / before) > 7.0 && (after / before) < 13.0,
            "{before} {after}"
        );
    }

    #[test]
    fn a_day_follows_the_power_and_casual_split() {
        let l = load(
            "day",
            "users = 1000\npower_user_share = 0.2\npower_videos_per_day = [3, 5]\n\
             casual_videos_per_day = [0.0, 0.5]\nday_s = 60",
        );
        let n = offsets(&l).len() as f64;
        // 200 x 4 + 800 x 0.25 = 1,000 on average.
        assert!((850.0..1150.0).contains(&n), "{n}");
        assert!(offsets(&l).iter().all(|&t| (0.0..60.0).contains(&t)));
    }
}
