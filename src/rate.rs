//! A sustained rate with a burst allowance, as an operator writes it (`N` or `N:B`, or `off`
//! where a limit may be switched off): the unit of the request limits and lock-outs.

use std::num::NonZeroU32;

/// A sustained rate with a burst allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.per_second, self.burst)
    }
}

/// A rate limit that may be switched off: a [`Rate`], or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateOrOff(pub Option<Rate>);

impl std::fmt::Display for RateOrOff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(rate) => rate.fmt(f),
            None => f.write_str("off"),
        }
    }
}

impl std::str::FromStr for RateOrOff {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().eq_ignore_ascii_case("off") {
            return Ok(RateOrOff(None));
        }
        s.parse::<Rate>().map(|r| RateOrOff(Some(r)))
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `N` (N requests per second, bursts of N) or `N:B` (bursts of B).
    fn from_str(s: &str) -> Result<Self, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<NonZeroU32>()
                .map_err(|_| format!("'{t}' is not a positive whole number"))
        };
        let (rate, burst) = match s.split_once(':') {
            Some((r, b)) => (number(r)?, number(b)?),
            None => (number(s)?, number(s)?),
        };
        Ok(Rate {
            per_second: rate,
            burst,
        })
    }
}

/// `N:B` with compile-time constants.
pub const fn rate(per_second: u32, burst: u32) -> Rate {
    match (NonZeroU32::new(per_second), NonZeroU32::new(burst)) {
        (Some(per_second), Some(burst)) => Rate { per_second, burst },
        _ => panic!("rates are positive"),
    }
}
