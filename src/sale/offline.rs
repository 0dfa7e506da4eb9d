//! Offline acceptance: when the backend cannot be reached, may this sale be queued and
//! forwarded later? The merchant carries that risk, so it is bounded like the best card
//! terminals do, and stricter: only signed one-time codes (a static QR can be photographed and
//! replayed), a per-sale cap, a cap on the total and the count queued, and a maximum age.

use super::Won;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflinePolicy {
    pub enabled: bool,
    pub max_sale: Won,
    pub max_total: Won,
    pub max_count: usize,
    /// A queued sale older than this is not sent; while one is waiting, no more are accepted.
    pub max_age: Duration,
}

impl Default for OfflinePolicy {
    fn default() -> Self {
        OfflinePolicy {
            enabled: true,
            max_sale: Won(50_000),
            max_total: Won(300_000),
            max_count: 50,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// A sale already waiting in the offline queue.
#[derive(Debug, Clone, Copy)]
pub struct QueuedSale {
    pub amount: Won,
    pub created_at_ms: i64,
}

/// `Ok` if a sale of `amount` may be queued now, else the reason in words for the cashier.
pub fn offline_acceptance(
    policy: &OfflinePolicy,
    amount: Won,
    one_time_code: bool,
    queued: &[QueuedSale],
    now_ms: i64,
) -> Result<(), String> {
    if !policy.enabled {
        return Err("offline acceptance is switched off".into());
    }
    if !one_time_code {
        return Err("only one-time codes can be accepted offline; ask for the one-time code in the payment app".into());
    }
    if amount > policy.max_sale {
        return Err(format!(
            "{amount} is over the offline limit of {} per sale",
            policy.max_sale
        ));
    }
    if queued.len() >= policy.max_count {
        return Err(format!(
            "{} sales are already waiting (limit {})",
            queued.len(),
            policy.max_count
        ));
    }
    let total: u64 = queued.iter().map(|q| q.amount.0).sum::<u64>() + amount.0;
    if total > policy.max_total.0 {
        return Err(format!(
            "{} would be waiting, over the offline total of {}",
            Won(total),
            policy.max_total
        ));
    }
    let max_age_ms = policy.max_age.as_millis() as i64;
    if let Some(oldest) = queued.iter().map(|q| q.created_at_ms).min() {
        if now_ms - oldest > max_age_ms {
            return Err(
                "the backend has been unreachable for longer than the offline limit allows".into(),
            );
        }
    }
    Ok(())
}

/// Whether a queued sale is too old to be sent at all.
pub fn too_old_to_forward(policy: &OfflinePolicy, created_at_ms: i64, now_ms: i64) -> bool {
    now_ms - created_at_ms > policy.max_age.as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 100 * 3600 * 1000;

    fn q(amount: u64, age_s: i64) -> QueuedSale {
        QueuedSale {
            amount: Won(amount),
            created_at_ms: NOW - age_s * 1000,
        }
    }

    #[test]
    fn a_one_time_code_within_every_cap_is_accepted() {
        let p = OfflinePolicy::default();
        assert_eq!(
            offline_acceptance(&p, Won(50_000), true, &[q(100_000, 60)], NOW),
            Ok(())
        );
    }

    #[test]
    fn each_cap_refuses_with_its_reason() {
        let p = OfflinePolicy::default();
        let why = |r: Result<(), String>| r.unwrap_err();
        assert!(why(offline_acceptance(&p, Won(1000), false, &[], NOW)).contains("one-time"));
        assert!(why(offline_acceptance(&p, Won(50_001), true, &[], NOW)).contains("per sale"));
        let full: Vec<_> = (0..50).map(|_| q(10, 1)).collect();
        assert!(why(offline_acceptance(&p, Won(10), true, &full, NOW)).contains("already waiting"));
        let heavy = [
            q(50_000, 1),
            q(50_000, 1),
            q(50_000, 1),
            q(50_000, 1),
            q(50_000, 1),
            q(40_000, 1),
        ];
        assert!(
            why(offline_acceptance(&p, Won(10_001), true, &heavy, NOW)).contains("offline total")
        );
        assert_eq!(
            offline_acceptance(&p, Won(10_000), true, &heavy, NOW),
            Ok(()),
            "exactly at the total cap"
        );
        assert!(why(offline_acceptance(
            &p,
            Won(10),
            true,
            &[q(10, 24 * 3600 + 1)],
            NOW
        ))
        .contains("unreachable for longer"));
        let off = OfflinePolicy {
            enabled: false,
            ..p
        };
        assert!(why(offline_acceptance(&off, Won(10), true, &[], NOW)).contains("switched off"));
    }

    #[test]
    fn age_limit_for_forwarding() {
        let p = OfflinePolicy::default();
        assert!(!too_old_to_forward(&p, NOW - 24 * 3600 * 1000, NOW));
        assert!(too_old_to_forward(&p, NOW - 24 * 3600 * 1000 - 1, NOW));
    }
}
