//! [`CommandWatch`]: has the signal-control centre been heard recently enough?
//!
//! Owns the timeout rule the RSU uses to fall back to its local plan when plan commands stop
//! arriving. Must not read a clock or decide which plan runs: time comes in as an argument and the
//! caller acts on [`CommandWatch::expired`].

/// Watches for plan commands; expired when none was ever heard or the last is older than the
/// timeout. Fail-safe: a non-finite `now_s` counts as expired.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandWatch {
    timeout_s: f64,
    last_s: Option<f64>,
}

impl CommandWatch {
    /// A watch with the given timeout in seconds (a negative or NaN timeout is taken as 0; an
    /// infinite one never expires once heard). Nothing heard yet, so it starts expired.
    pub fn new(timeout_s: f64) -> Self {
        let timeout_s = if timeout_s >= 0.0 { timeout_s } else { 0.0 };
        CommandWatch { timeout_s, last_s: None }
    }

    /// Records a command heard at `now_s`. An earlier time than the last one, or a non-finite
    /// time, is ignored.
    pub fn heard(&mut self, now_s: f64) {
        if now_s.is_finite() && self.last_s.is_none_or(|last| now_s > last) {
            self.last_s = Some(now_s);
        }
    }

    /// True when no command was ever heard, or the last is more than the timeout older than
    /// `now_s`.
    pub fn expired(&self, now_s: f64) -> bool {
        match self.last_s {
            None => true,
            Some(last) => !now_s.is_finite() || now_s - last > self.timeout_s,
        }
    }

    /// The timeout, seconds.
    pub fn timeout_s(&self) -> f64 {
        self.timeout_s
    }

    /// When the last command was heard.
    pub fn last_heard_s(&self) -> Option<f64> {
        self.last_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_when_never_heard_or_silent_too_long() {
        let mut w = CommandWatch::new(30.0);
        assert!(w.expired(0.0), "never heard");
        w.heard(100.0);
        assert!(!w.expired(100.0));
        assert!(!w.expired(130.0), "exactly the timeout is not older than it");
        assert!(w.expired(130.5));
        w.heard(129.0);
        assert!(!w.expired(150.0));
        assert_eq!(w.last_heard_s(), Some(129.0));
    }

    #[test]
    fn time_never_goes_backwards_and_bad_input_is_safe() {
        let mut w = CommandWatch::new(10.0);
        w.heard(50.0);
        w.heard(20.0);
        w.heard(f64::NAN);
        assert_eq!(w.last_heard_s(), Some(50.0));
        assert!(w.expired(f64::NAN), "an unreadable clock falls back");
        assert!(w.expired(f64::INFINITY));
        let zero = CommandWatch::new(f64::NAN);
        assert_eq!(zero.timeout_s(), 0.0);
        assert_eq!(CommandWatch::new(-5.0).timeout_s(), 0.0);
    }
}
