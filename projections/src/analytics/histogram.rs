//! Durations as log-linear histograms, which add up across days and slices so that a period's
//! percentiles come from rollups rather than from every ticket. Below `EXACT` seconds each whole
//! second is a bucket of its own; above, each doubling is split into `SPLITS` buckets of equal
//! width, so a bucket is at most 1/64 of its lower bound wide. A percentile is reported as the
//! middle of its bucket: within half a second, or 1/128 (0.8 %), of the true value.

/// Whole seconds below this each have a bucket.
const EXACT: u64 = 128;
/// Buckets per doubling above `EXACT`.
const SPLITS: u64 = 64;
/// Doublings kept above `EXACT` (up to 2^27 s, about four years); longer durations fall into the
/// last bucket.
const DOUBLINGS: u64 = 20;
const BUCKETS: usize = (EXACT + SPLITS * DOUBLINGS) as usize;

/// The bucket of a duration of `seconds` (negative ones count as zero).
pub fn bucket(seconds: f64) -> usize {
    let whole = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    if whole < EXACT {
        return whole as usize;
    }
    // 2^k <= whole < 2^(k+1), k >= 7; the bucket's place within its doubling is read off the
    // six bits below the leading one.
    let k = u64::from(63 - whole.leading_zeros());
    let within = (whole >> (k - 6)) - SPLITS;
    let index = EXACT + (k - 7) * SPLITS + within;
    (index as usize).min(BUCKETS - 1)
}

/// The bucket's bounds in seconds, `[low, high)`.
pub fn bounds(bucket: usize) -> (f64, f64) {
    let bucket = bucket as u64;
    if bucket < EXACT {
        return (bucket as f64, (bucket + 1) as f64);
    }
    let k = 7 + (bucket - EXACT) / SPLITS;
    let within = (bucket - EXACT) % SPLITS;
    let width = 1u64 << (k - 6);
    let low = (SPLITS + within) * width;
    (low as f64, (low + width) as f64)
}

/// Counts per bucket. Stored without its trailing empty buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram(Vec<i32>);

impl Histogram {
    pub fn from_counts(counts: Vec<i32>) -> Self {
        let mut histogram = Self(counts);
        histogram.trim();
        histogram
    }

    pub fn counts(&self) -> &[i32] {
        &self.0
    }

    /// Adds `times` (negative: removes) a duration of `seconds`.
    pub fn record(&mut self, seconds: f64, times: i32) {
        let at = bucket(seconds);
        if self.0.len() <= at {
            self.0.resize(at + 1, 0);
        }
        self.0[at] += times;
        self.trim();
    }

    pub fn add(&mut self, other: &Histogram) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine += theirs;
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    pub fn total(&self) -> i64 {
        self.0.iter().map(|c| i64::from(*c)).sum()
    }

    /// The nearest-rank percentile `p` (0 < p <= 1): the middle of the bucket holding the value
    /// at rank ceil(p × n) in ascending order, in seconds; `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0 {
            return None;
        }
        let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
        let mut seen = 0i64;
        for (at, count) in self.0.iter().enumerate() {
            seen += i64::from(*count);
            if seen >= rank {
                let (low, high) = bounds(at);
                return Some((low + high) / 2.0);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_below_128_have_buckets_of_their_own() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(-5.0), 0);
        assert_eq!(bucket(59.9), 59);
        assert_eq!(bucket(127.99), 127);
        assert_eq!(bounds(59), (59.0, 60.0));
    }

    #[test]
    fn buckets_follow_each_other_without_gaps_and_stay_within_a_64th() {
        let mut expected_low = 0.0;
        for at in 0..BUCKETS {
            let (low, high) = bounds(at);
            assert_eq!(low, expected_low, "bucket {at}");
            assert!((high - low) <= (low / 64.0).max(1.0), "bucket {at}");
            assert_eq!(bucket(low), at);
            assert_eq!(bucket(high - 0.5), at);
            expected_low = high;
        }
        assert_eq!(bucket(1e12), BUCKETS - 1);
    }

    #[test]
    fn a_percentile_is_the_middle_of_the_bucket_of_its_nearest_rank() {
        let mut histogram = Histogram::default();
        // 10, 20, ..., 100 minutes.
        for minutes in 1..=10 {
            histogram.record(f64::from(minutes) * 600.0, 1);
        }
        let median = histogram.percentile(0.5).unwrap();
        let p90 = histogram.percentile(0.9).unwrap();
        // Ranks 5 and 9: 50 and 90 minutes, within 1/128.
        assert!((median - 3000.0).abs() <= 3000.0 / 128.0, "{median}");
        assert!((p90 - 5400.0).abs() <= 5400.0 / 128.0, "{p90}");
        assert_eq!(Histogram::default().percentile(0.5), None);
    }

    #[test]
    fn histograms_add_and_remove_to_what_was_recorded() {
        let mut one = Histogram::default();
        one.record(30.0, 1);
        one.record(4000.0, 1);
        let mut two = Histogram::default();
        two.record(4000.0, -1);
        one.add(&two);
        let mut only = Histogram::default();
        only.record(30.0, 1);
        assert_eq!(one, only);
        assert_eq!(one.counts().len(), 31);
    }
}
