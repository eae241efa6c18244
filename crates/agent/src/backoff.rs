//! The one backoff of the agent: exponential, capped, as a pure function of the attempt
//! number.
//!
//! It serves three callers: following an import job (GetModelImportJob polls, with jitter so
//! that two clients do not poll in step), the watch daemon's retries of a step (whose attempt
//! count is persisted in the state database, so the delay must follow from that count alone),
//! and the daemon's wait after failed scans. A crate such as `backon` yields delays from an
//! iterator that keeps its own count, which fits the first caller but not the persisted one;
//! one small function fits all three.

use std::time::Duration;

/// Exponential backoff: `base` after the first attempt, doubling with each further one, never
/// more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first attempt; it doubles with each further one.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// The daemon's retries: 5 s, doubling up to 15 minutes.
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(15 * 60),
        }
    }
}

impl Backoff {
    /// The delay after `attempts` attempts (the first delay for 0 or 1).
    pub fn delay(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// [`Backoff::delay`] plus up to a quarter of it more, from the clock's low bits (jitter
    /// needs no quality randomness, only that two clients do not poll in step).
    pub fn delay_with_jitter(&self, attempts: u32) -> Duration {
        let delay = self.delay(attempts);
        let bound = (delay.as_millis() as u64 / 4).max(1);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0);
        delay + Duration::from_millis(nanos % bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_secs(10),
            max: Duration::from_secs(25),
        };
        let delays: Vec<u64> = (0..5).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(delays, [10, 10, 20, 25, 25]);
        assert_eq!(
            Backoff::default().delay(u32::MAX),
            Duration::from_secs(15 * 60)
        );
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let backoff = Backoff {
            base: Duration::from_millis(400),
            max: Duration::from_secs(1),
        };
        for attempts in 1..5 {
            let delay = backoff.delay(attempts);
            let jittered = backoff.delay_with_jitter(attempts);
            assert!(
                jittered >= delay && jittered <= delay + delay / 4,
                "{jittered:?}"
            );
        }
    }
}
