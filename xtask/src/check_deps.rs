//! `cargo xtask check-deps`: the architecture's dependency rules, checked with `cargo tree`.
//!
//! The rules live in [`RULES`]: each crate of the workspace and the crates it must never
//! pull in, directly or through anything it depends on. The api crate knows nothing of
//! command lines, YAML or terminals; the engine never parses flags or draws on a terminal.
//! Only normal (non-dev) dependencies count: tests may use anything.

use std::process::Command;

/// A workspace package and the crates that must not appear in its normal dependency tree.
struct Rule {
    package: &'static str,
    forbidden: &'static [&'static str],
    why: &'static str,
}

const TERMINAL_CRATES: &[&str] = &[
    "indicatif",
    "console",
    "crossterm",
    "termcolor",
    "anstream",
    "owo-colors",
    "supports-color",
];

const RULES: &[Rule] = &[
    Rule {
        package: "sora-batch-api",
        forbidden: &[
            "clap",
            "clap_builder",
            "serde_yaml",
            "serde_yml",
            "serde-saphyr",
            "miette",
            "tracing-subscriber",
            "sora-batch-engine",
            "sora-batch",
        ],
        why: "the api crate knows nothing of manifests, command lines or terminals",
    },
    Rule {
        package: "sora-batch-api",
        forbidden: TERMINAL_CRATES,
        why: "the api crate never draws on a terminal",
    },
    Rule {
        package: "sora-batch-engine",
        forbidden: &["clap", "clap_builder", "tracing-subscriber", "sora-batch"],
        why: "the engine never parses flags; only the cli knows clap",
    },
    Rule {
        package: "sora-batch-engine",
        forbidden: TERMINAL_CRATES,
        why: "the engine never prints: reporters in the cli do",
    },
    Rule {
        package: "sora-batch-testkit",
        forbidden: &["sora-batch-engine", "sora-batch", "clap"],
        why: "the fake service depends on nothing above the api",
    },
];

/// Runs every rule; returns the violations, one line each.
pub fn violations() -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for rule in RULES {
        let tree = normal_dependencies(rule.package)?;
        for forbidden in rule.forbidden {
            if tree.iter().any(|name| name == forbidden) {
                found.push(format!(
                    "{} depends on {forbidden}: {}",
                    rule.package, rule.why
                ));
            }
        }
    }
    Ok(found)
}

/// The names of every package in `package`'s normal dependency tree, itself excluded.
fn normal_dependencies(package: &str) -> Result<Vec<String>, String> {
    let cargo = crate::workspace::cargo();
    let output = Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "--package",
            package,
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .map_err(|e| format!("could not run cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

pub fn run() -> Result<(), String> {
    let found = violations()?;
    if found.is_empty() {
        println!("dependency direction holds ({} rules)", RULES.len());
        Ok(())
    } else {
        Err(format!(
            "dependency rules broken:\n  {}",
            found.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_keeps_its_dependency_direction() {
        assert_eq!(violations(), Ok(Vec::new()));
    }

    #[test]
    fn the_check_sees_what_a_crate_really_depends_on() {
        // Guards the check itself: were the tree empty or misparsed, every rule would pass.
        let api = normal_dependencies("sora-batch-api").expect("cargo tree runs");
        assert!(api.iter().any(|name| name == "reqwest"), "{api:?}");
        assert!(!api.iter().any(|name| name == "sora-batch-api"));
        let cli = normal_dependencies("sora-batch").expect("cargo tree runs");
        assert!(cli.iter().any(|name| name == "clap"), "{cli:?}");
    }
}
