//! The knowledge base's settings: how much memory the article cache may hold, and how often the
//! view log is folded into the counts.

use std::time::Duration;

use anyhow::Context;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KbSettings {
    /// What the cache of published public articles may hold, in bytes of text and bookkeeping
    /// (`SUPPORTD_KB_CACHE_MB`); 0 turns it off.
    pub cache_bytes: u64,
    /// How often the `kb-views` worker folds the view log (`SUPPORTD_KB_VIEW_FOLD_MS`).
    pub view_fold_every: Duration,
}

impl Default for KbSettings {
    fn default() -> Self {
        Self {
            cache_bytes: 64 << 20,
            view_fold_every: Duration::from_secs(1),
        }
    }
}

impl KbSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let default = Self::default();
        let cache_bytes = match var("SUPPORTD_KB_CACHE_MB") {
            Some(mb) => mb
                .parse::<u64>()
                .ok()
                .filter(|mb| *mb <= 65_536)
                .map(|mb| mb << 20)
                .context("SUPPORTD_KB_CACHE_MB must be a whole number of MiB, 0 (off) to 65536")?,
            None => default.cache_bytes,
        };
        let view_fold_every = match var("SUPPORTD_KB_VIEW_FOLD_MS") {
            Some(ms) => ms
                .parse::<u64>()
                .ok()
                .filter(|ms| (1..=3_600_000).contains(ms))
                .map(Duration::from_millis)
                .context(
                    "SUPPORTD_KB_VIEW_FOLD_MS must be a number of milliseconds, 1 to 3600000",
                )?,
            None => default.view_fold_every,
        };
        Ok(Self {
            cache_bytes,
            view_fold_every,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<KbSettings> {
        KbSettings::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn unset_means_the_defaults_and_zero_turns_the_cache_off() {
        assert_eq!(settings(&[]).unwrap(), KbSettings::default());
        let off = settings(&[
            ("SUPPORTD_KB_CACHE_MB", "0"),
            ("SUPPORTD_KB_VIEW_FOLD_MS", "5"),
        ])
        .unwrap();
        assert_eq!(off.cache_bytes, 0);
        assert_eq!(off.view_fold_every, Duration::from_millis(5));
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (name, value) in [
            ("SUPPORTD_KB_CACHE_MB", "-1"),
            ("SUPPORTD_KB_CACHE_MB", "65537"),
            ("SUPPORTD_KB_VIEW_FOLD_MS", "0"),
            ("SUPPORTD_KB_VIEW_FOLD_MS", "1s"),
        ] {
            let error = settings(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
