//! `--shard K/N`: one of N disjoint parts of a batch, for a CI matrix of N machines.
//!
//! Read [`Shard::contains`]. A job belongs to a shard by its key alone — a hash of its own
//! request — so shards are disjoint, cover the batch together, and editing, adding or
//! removing one job never moves another between shards.

use std::fmt;
use std::str::FromStr;

use crate::job::JobKey;

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("the number of shards must be at least 1".into());
        }
        if index == 0 || index > count {
            return Err(format!(
                "shard {index} does not exist: K must be from 1 to {count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// N: how many shards the batch is split into.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether the job with `key` is in this shard: the key's first 64 bits modulo N.
    pub fn contains(self, key: &JobKey) -> bool {
        let prefix = key.as_str().get(..16).unwrap_or(key.as_str());
        let number = u64::from_str_radix(prefix, 16).unwrap_or(0);
        number % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// The default batch folder's name for this shard: `<name>-shard-K-of-N`.
    pub fn folder_name(self, batch_name: &str) -> String {
        format!("{batch_name}-shard-{}-of-{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not a shard: write K/N, e.g. 2/5"))?;
        let parse = |part: &str| {
            part.trim().parse::<u32>().map_err(|_| {
                format!("`{text}` is not a shard: write K/N with whole numbers, e.g. 2/5")
            })
        };
        Shard::new(parse(index)?, parse(count)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_written_k_of_n() {
        assert_eq!("2/5".parse::<Shard>(), Shard::new(2, 5));
        assert!("0/5".parse::<Shard>().is_err());
        assert!("6/5".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("two/5".parse::<Shard>().is_err());
        assert!("3".parse::<Shard>().is_err());
        assert_eq!(
            Shard::new(1, 3).map(|s| s.folder_name("demo")),
            Ok("demo-shard-1-of-3".into())
        );
    }
}
