//! The demo's corpus: short movie-review-like sentences written by a seeded generator, with
//! positive, negative and mixed sentiment in words VADER scores, so that the SFT policy is a
//! mixture and a sentiment reward has room to rise.

use crate::run::data::SplitMix64;

const SUBJECTS: &[&str] = &[
    "The film",
    "This movie",
    "The acting",
    "The plot",
    "The story",
    "The ending",
    "The music",
    "The soundtrack",
    "The director",
    "The cast",
    "The script",
    "The dialogue",
    "The pacing",
    "The villain",
    "The hero",
    "The lead actress",
    "The lead actor",
    "The sequel",
    "The first half",
    "The second half",
    "The photography",
    "The special effects",
    "The humor",
    "The final scene",
    "The opening scene",
    "Every scene",
    "The whole thing",
    "The premise",
    "The costumes",
    "The performances",
    "The animation",
    "The twist",
];

const POSITIVE: &[&str] = &[
    "great",
    "wonderful",
    "brilliant",
    "beautiful",
    "excellent",
    "amazing",
    "superb",
    "charming",
    "delightful",
    "funny",
    "moving",
    "fantastic",
    "lovely",
    "good",
    "enjoyable",
    "fun",
    "perfect",
    "impressive",
    "clever",
    "warm",
    "touching",
    "hilarious",
    "gorgeous",
    "sweet",
    "fresh",
    "smart",
    "powerful",
    "nice",
    "solid",
    "entertaining",
    "inspiring",
    "magnificent",
];

const NEGATIVE: &[&str] = &[
    "terrible",
    "boring",
    "awful",
    "dull",
    "bad",
    "horrible",
    "weak",
    "stupid",
    "ugly",
    "painful",
    "disappointing",
    "annoying",
    "tedious",
    "sad",
    "messy",
    "poor",
    "dreadful",
    "pointless",
    "lame",
    "silly",
    "confusing",
    "cheap",
    "lifeless",
    "tiresome",
    "bland",
    "clumsy",
    "awkward",
    "forgettable",
    "miserable",
    "worthless",
    "pathetic",
    "ridiculous",
];

const ADVERBS: &[&str] = &[
    "",
    "",
    "",
    "very ",
    "really ",
    "quite ",
    "so ",
    "truly ",
    "incredibly ",
    "extremely ",
    "pretty ",
    "rather ",
    "a bit ",
    "somewhat ",
];

const NOUNS: &[&str] = &[
    "film",
    "movie",
    "story",
    "ending",
    "cast",
    "show",
    "script",
    "performance",
];
const LIKE: &[&str] = &[
    "loved",
    "enjoyed",
    "liked",
    "adored",
    "admired",
    "appreciated",
];
const DISLIKE: &[&str] = &["hated", "disliked", "regretted", "resented", "despised"];
const GLAD: &[&str] = &["smile", "laugh", "happy", "cheer", "glad"];
const SORRY: &[&str] = &["cry", "angry", "bored", "sick", "miserable"];
const PRAISE: &[&str] = &[
    " I would watch it again.",
    " Highly recommended.",
    " A real treat.",
    " Worth every minute.",
    " I loved every minute.",
];
const SCORN: &[&str] = &[
    " A waste of time.",
    " Do not bother.",
    " Avoid it.",
    " I want my money back.",
    " What a mess.",
];

/// Picks one entry.
fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
    let i = usize::try_from(rng.below(items.len() as u64)).unwrap_or(0);
    items[i]
}

/// Lower-cases the first letter ("The film" → "the film").
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// One sentence of the given polarity (`true`: positive).
fn sentence(rng: &mut SplitMix64, positive: bool) -> String {
    let adj = |rng: &mut SplitMix64| pick(rng, if positive { POSITIVE } else { NEGATIVE });
    let subject = pick(rng, SUBJECTS);
    let (a, b) = (adj(rng), adj(rng));
    let adv = pick(rng, ADVERBS);
    let mut s = match rng.below(9) {
        0 => format!("{subject} was {adv}{a}."),
        1 => format!("{subject} was {a} and {b}."),
        2 => format!(
            "{subject} is {adv}{a}, and {} is {b}.",
            lower_first(pick(rng, SUBJECTS))
        ),
        3 => format!("{subject} felt {adv}{a}."),
        4 => {
            let opposite = pick(rng, if positive { NEGATIVE } else { POSITIVE });
            format!("{subject} was not {opposite} at all, it was {a}.")
        }
        5 => format!(
            "I {} {}, it was {adv}{a}.",
            pick(rng, if positive { LIKE } else { DISLIKE }),
            lower_first(subject)
        ),
        6 => format!("What a {adv}{a} {}!", pick(rng, NOUNS)),
        7 => format!(
            "{subject} made me {}.",
            pick(rng, if positive { GLAD } else { SORRY })
        ),
        _ => format!("{subject} was {a}, {b} and {}.", adj(rng)),
    };
    if rng.below(4) == 0 {
        s.push_str(pick(rng, if positive { PRAISE } else { SCORN }));
    }
    s
}

/// A mixed sentence: one clause of each polarity, joined by "but".
fn mixed(rng: &mut SplitMix64) -> String {
    let first_positive = rng.below(2) == 0;
    let (x, y) = if first_positive {
        (POSITIVE, NEGATIVE)
    } else {
        (NEGATIVE, POSITIVE)
    };
    let (s1, s2) = (pick(rng, SUBJECTS), pick(rng, SUBJECTS));
    format!(
        "{s1} was {}{}, but {} was {}{}.",
        pick(rng, ADVERBS),
        pick(rng, x),
        lower_first(s2),
        pick(rng, ADVERBS),
        pick(rng, y)
    )
}

/// `n` sentences from `seed`: about 40% positive, 40% negative, 20% mixed.
pub fn generate(n: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64::new(seed ^ 0xC0A7_D5E7_5EED_0001);
    (0..n)
        .map(|_| match rng.below(5) {
            0 | 1 => sentence(&mut rng, true),
            2 | 3 => sentence(&mut rng, false),
            _ => mixed(&mut rng),
        })
        .collect()
}

/// Splits a text after its first `words` words: `("The acting was", " really superb.")`;
/// `None` when the text has no more than `words` words.
pub fn split_prompt(text: &str, words: usize) -> Option<(String, String)> {
    let mut seen = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                seen += 1;
                if seen == words {
                    let (p, rest) = text.split_at(i);
                    return (!rest.trim().is_empty()).then(|| (p.to_owned(), rest.to_owned()));
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_seeded_and_has_both_sentiments() -> anyhow::Result<()> {
        let a = generate(400, 1);
        assert_eq!(a, generate(400, 1));
        assert_ne!(a, generate(400, 2));
        let scores: Vec<f64> = a
            .iter()
            .map(|s| crate::reward::vader::compound(s))
            .collect::<anyhow::Result<_>>()?;
        let positive = scores.iter().filter(|&&s| s > 0.3).count();
        let negative = scores.iter().filter(|&&s| s < -0.3).count();
        assert!(
            positive > 100 && negative > 100,
            "{positive} positive, {negative} negative"
        );
        Ok(())
    }

    #[test]
    fn prompts_are_the_first_words() {
        assert_eq!(
            split_prompt("The acting was really superb.", 3),
            Some(("The acting was".into(), " really superb.".into()))
        );
        assert_eq!(split_prompt("Too short.", 3), None);
        assert_eq!(split_prompt("One two three", 3), None);
    }
}
