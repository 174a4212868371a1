//! The README's objective table and exo-core's catalog list the same objectives.

use exo_core::ObjectiveKind;

const README: &str = include_str!("../../../README.md");

#[test]
fn readme_objectives_table_lists_every_objective_of_the_catalog() {
    let section = README
        .split("## Objectives")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_default();
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), ObjectiveKind::ALL.len(), "{rows:#?}");
    for (row, kind) in rows.iter().zip(ObjectiveKind::ALL) {
        let info = kind.info();
        assert!(
            row.starts_with(&format!("| `{}`", info.name)),
            "README row {row:?} should be `{}`",
            info.name
        );
        for alias in info
            .aliases
            .iter()
            .filter(|a| row.contains(&format!("`{a}`")))
        {
            assert_eq!(ObjectiveKind::from_name(alias), Some(kind), "{alias}");
        }
    }
}
