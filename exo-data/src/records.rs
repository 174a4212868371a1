//! The three record types every reader produces, and the conversions between them.

use std::fmt;

/// A preference pair: one prompt, a preferred and a dispreferred completion.
///
/// Model input is `prompt + completion` (plain concatenation, as in the official EXO code and
/// TRL), so completions normally start with a space or a newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// The text the model conditions on.
    pub prompt: String,
    /// The preferred completion.
    pub chosen: String,
    /// The dispreferred completion.
    pub rejected: String,
}

/// One prompt with K ≥ 2 completions and a finite reward for each (the official `*/rw` shape).
///
/// The fields are private so that the invariants hold: build one with [`Group::new`] or from a
/// [`Pair`].
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    prompt: String,
    completions: Vec<String>,
    rewards: Vec<f64>,
}

/// Why [`Group::new`] refused its input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// Fewer than two completions.
    #[error("a group needs at least 2 completions, found {0}")]
    TooFew(usize),
    /// `rewards.len() != completions.len()`.
    #[error("{rewards} rewards for {completions} completions")]
    RewardCount {
        /// Number of completions.
        completions: usize,
        /// Number of rewards.
        rewards: usize,
    },
    /// A reward is NaN or infinite.
    #[error("reward {index} is not finite ({value})")]
    NonFinite {
        /// Index of the reward.
        index: usize,
        /// The reward.
        value: f64,
    },
}

impl Group {
    /// A group of `completions.len()` = K completions with one reward each.
    ///
    /// # Errors
    ///
    /// [`GroupError`] when K < 2, when the lengths differ, or when a reward is not finite.
    pub fn new(
        prompt: impl Into<String>,
        completions: Vec<String>,
        rewards: Vec<f64>,
    ) -> Result<Self, GroupError> {
        if completions.len() < 2 {
            return Err(GroupError::TooFew(completions.len()));
        }
        if rewards.len() != completions.len() {
            return Err(GroupError::RewardCount {
                completions: completions.len(),
                rewards: rewards.len(),
            });
        }
        if let Some((index, &value)) = rewards.iter().enumerate().find(|(_, r)| !r.is_finite()) {
            return Err(GroupError::NonFinite { index, value });
        }
        Ok(Self {
            prompt: prompt.into(),
            completions,
            rewards,
        })
    }

    /// The prompt.
    #[must_use]
    pub fn prompt(&self) -> &str {
        &self.prompt
    }

    /// The K completions.
    #[must_use]
    pub fn completions(&self) -> &[String] {
        &self.completions
    }

    /// The K rewards, finite, in the order of [`Group::completions`].
    #[must_use]
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    /// K, the number of completions (at least 2).
    #[must_use]
    pub fn k(&self) -> usize {
        self.completions.len()
    }

    /// Takes the group apart into `(prompt, completions, rewards)`.
    #[must_use]
    pub fn into_parts(self) -> (String, Vec<String>, Vec<f64>) {
        (self.prompt, self.completions, self.rewards)
    }

    /// Preference pairs from the rewards.
    ///
    /// Completions with equal rewards are never paired (they carry no preference), so a group
    /// whose rewards are all equal gives no pair.
    ///
    /// ```text
    /// BestVsWorst: chosen = argmax r (first on ties), rejected = argmin r (first on ties)  → 0 or 1 pair
    /// AllPairs:    every i < j with r_i ≠ r_j, the higher reward chosen                     → ≤ K(K−1)/2 pairs
    /// ```
    #[must_use]
    pub fn to_pairs(&self, strategy: PairStrategy) -> Vec<Pair> {
        let pair = |w: usize, l: usize| Pair {
            prompt: self.prompt.clone(),
            chosen: self.completions[w].clone(),
            rejected: self.completions[l].clone(),
        };
        match strategy {
            PairStrategy::BestVsWorst => {
                let (mut best, mut worst) = (0, 0);
                for (i, r) in self.rewards.iter().enumerate() {
                    if *r > self.rewards[best] {
                        best = i;
                    }
                    if *r < self.rewards[worst] {
                        worst = i;
                    }
                }
                if self.rewards[best] > self.rewards[worst] {
                    vec![pair(best, worst)]
                } else {
                    Vec::new()
                }
            }
            PairStrategy::AllPairs => {
                let mut pairs = Vec::new();
                for i in 0..self.k() {
                    for j in i + 1..self.k() {
                        let (ri, rj) = (self.rewards[i], self.rewards[j]);
                        if ri > rj {
                            pairs.push(pair(i, j));
                        } else if rj > ri {
                            pairs.push(pair(j, i));
                        }
                    }
                }
                pairs
            }
        }
    }
}

/// How [`Group::to_pairs`] forms pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PairStrategy {
    /// One pair: the highest reward against the lowest.
    BestVsWorst,
    /// Every pair of completions with different rewards.
    AllPairs,
}

impl From<Pair> for Group {
    /// `completions = [chosen, rejected]`, `rewards = [1, 0]`, as the official `pref_to_rw.py`.
    fn from(pair: Pair) -> Self {
        Self {
            prompt: pair.prompt,
            completions: vec![pair.chosen, pair.rejected],
            rewards: vec![1.0, 0.0],
        }
    }
}

/// A supervised (SFT) example: one prompt, one target completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sft {
    /// The text the model conditions on.
    pub prompt: String,
    /// The target completion.
    pub completion: String,
}

/// Any record a reader yields.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Record {
    /// A preference pair.
    Pair(Pair),
    /// K completions with rewards.
    Group(Group),
    /// An SFT example.
    Sft(Sft),
}

impl Record {
    /// The prompt.
    #[must_use]
    pub fn prompt(&self) -> &str {
        match self {
            Self::Pair(p) => &p.prompt,
            Self::Group(g) => g.prompt(),
            Self::Sft(s) => &s.prompt,
        }
    }

    /// The completions in training order: `[chosen, rejected]`, the K completions, or `[completion]`.
    #[must_use]
    pub fn completions(&self) -> Vec<&str> {
        match self {
            Self::Pair(p) => vec![&p.chosen, &p.rejected],
            Self::Group(g) => g.completions().iter().map(String::as_str).collect(),
            Self::Sft(s) => vec![&s.completion],
        }
    }

    /// The rewards in the order of [`Record::completions`]: `[1, 0]` for a pair (as
    /// `pref_to_rw.py`), the group's rewards, and none for SFT.
    #[must_use]
    pub fn rewards(&self) -> Vec<f64> {
        match self {
            Self::Pair(_) => vec![1.0, 0.0],
            Self::Group(g) => g.rewards().to_vec(),
            Self::Sft(_) => Vec::new(),
        }
    }

    /// Number of completions: 2 for a pair, K for a group, 1 for SFT.
    #[must_use]
    pub fn k(&self) -> usize {
        match self {
            Self::Pair(_) => 2,
            Self::Group(g) => g.k(),
            Self::Sft(_) => 1,
        }
    }
}

impl fmt::Display for Record {
    /// The record as text, each part in Rust string-literal escaping so whitespace shows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "prompt: {:?}", self.prompt())?;
        let rewards = self.rewards();
        for (i, c) in self.completions().iter().enumerate() {
            match rewards.get(i) {
                Some(r) => writeln!(f, "completion {i} (reward {r}): {c:?}")?,
                None => writeln!(f, "completion {i}: {c:?}")?,
            }
        }
        Ok(())
    }
}
