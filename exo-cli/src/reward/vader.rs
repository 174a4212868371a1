//! The sentiment reward: VADER's compound score (Hutto & Gilbert 2014; the `vader_sentiment`
//! crate, MIT), in `[-1, 1]`.
//!
//! The crate indexes and unwraps freely inside; a panic on some input must not take the run down
//! or print a backtrace, so every call runs under `catch_unwind` with the panic message
//! suppressed, and a panic becomes an error naming the text.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Once, OnceLock};

use vader_sentiment::SentimentIntensityAnalyzer;

thread_local! {
    /// Set while this thread is inside VADER: its panics are expected and stay silent.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

fn analyzer() -> &'static SentimentIntensityAnalyzer<'static> {
    static ANALYZER: OnceLock<SentimentIntensityAnalyzer<'static>> = OnceLock::new();
    ANALYZER.get_or_init(SentimentIntensityAnalyzer::new)
}

/// Installs (once) a panic hook that keeps quiet about panics inside VADER and defers to the
/// previous hook for every other panic.
fn quiet_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !INSIDE.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// VADER's compound score of `text`, in `[-1, 1]` (0 for text without sentiment words).
///
/// # Errors
/// If VADER panics on the text or returns no finite compound score.
pub fn compound(text: &str) -> anyhow::Result<f64> {
    quiet_hook();
    INSIDE.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        analyzer().polarity_scores(text).get("compound").copied()
    }));
    INSIDE.with(|c| c.set(false));
    let shown: String = text.chars().take(60).collect();
    match result {
        Ok(Some(v)) if v.is_finite() => Ok(v),
        Ok(_) => anyhow::bail!("the sentiment reward returned no finite score for {shown:?}"),
        Err(_) => anyhow::bail!("the sentiment reward (VADER) failed on {shown:?}"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn sentiment_words_move_the_score() -> anyhow::Result<()> {
        assert!(compound("a wonderful, brilliant film")? > 0.5);
        assert!(compound("a boring and terrible film")? < -0.5);
        assert_eq!(compound("the film")?, 0.0);
        assert_eq!(compound("")?, 0.0);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text gives a score in [-1, 1] or an error, never a panic.
        #[test]
        fn any_text_is_scored_or_refused(text in any::<String>()) {
            if let Ok(v) = compound(&text) {
                prop_assert!((-1.0..=1.0).contains(&v), "{v}");
            }
        }

        /// Texts made of VADER's own vocabulary, punctuation and casing (where its rules fire).
        #[test]
        fn sentiment_like_text_is_scored_or_refused(
            words in proptest::collection::vec(
                prop_oneof![
                    Just("good"), Just("GREAT"), Just("not"), Just("but"), Just("very"),
                    Just("!"), Just("?"), Just(":)"), Just("kind of"), Just("never"),
                    Just("bad"), Just("no"), Just("least"), Just("without"), Just("doubt"),
                    Just("the"), Just("😀"), Just("sort of"), Just("."), Just("")
                ],
                0..12,
            )
        ) {
            let text = words.join(" ");
            if let Ok(v) = compound(&text) {
                prop_assert!((-1.0..=1.0).contains(&v), "{v}");
            }
        }
    }
}
