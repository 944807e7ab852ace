//! A token bucket per credential: a burst of requests is fine (an agent
//! draining its backlog), a flood is not.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets keyed by agent id.
pub struct RateLimiter {
    per_minute: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `per_minute` requests a minute on average, bursts up to half a
    /// minute's worth (at least 10).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        Self {
            per_minute,
            burst: (per_minute / 2.0).max(10.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is free.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Forget idle buckets now and then so the map stays bounded by the
        // number of recently active agents.
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, t)| now.duration_since(*t) < Duration::from_secs(120));
        }
        let per_sec = self.per_minute / 60.0;
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_then_refill() {
        let r = RateLimiter::new(60); // one a second, burst 30
        let t0 = Instant::now();
        for _ in 0..30 {
            r.check_at("a", t0).unwrap();
        }
        let wait = r.check_at("a", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        // Another agent has its own bucket.
        r.check_at("b", t0).unwrap();
        // After two seconds two more are allowed.
        let t2 = t0 + Duration::from_secs(2);
        r.check_at("a", t2).unwrap();
        r.check_at("a", t2).unwrap();
        assert!(r.check_at("a", t2).is_err());
    }
}
