//! Property tests: random valid manifests expand to the predicted number of jobs, and random
//! byte-level damage to manifests never panics — it loads or gives located errors.

use std::fmt::Write as _;

use proptest::prelude::*;
use sora_batch_engine::manifest;

/// A random valid manifest and how many jobs it must expand to.
#[derive(Debug, Clone)]
struct Case {
    yaml: String,
    expected_jobs: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(1usize..5, 0..4), // values per axis
        any::<bool>(),                          // exclude the first axis's first value
        any::<bool>(),                          // aspect ratio as an input axis
        1u32..4,                                // takes
        prop::collection::vec((1u32..3, any::<bool>()), 0..4), // explicit jobs: takes, with id
        "[a-zA-Z]{1,6}( [a-zA-Z]{1,6})?",       // words for prompts
    )
        .prop_map(|(axes, exclude, aspect_axis, takes, jobs, word)| {
            let mut yaml = format!("version: 1\ntakes: {takes}\n");
            let mut combinations = 0usize;
            if !axes.is_empty() || aspect_axis {
                let names: Vec<String> = (0..axes.len()).map(|i| format!("axis{i}")).collect();
                let placeholders: Vec<String> = names.iter().map(|n| format!("{{{n}}}")).collect();
                let _ = writeln!(
                    yaml,
                    "prompt: \"{} {}\"",
                    word.trim(),
                    placeholders.join(" ")
                );
                yaml.push_str("matrix:\n");
                for (name, count) in names.iter().zip(&axes) {
                    let values: Vec<String> =
                        (0..*count).map(|v| format!("\"v{v} {word}\"")).collect();
                    let _ = writeln!(yaml, "  {name}: [{}]", values.join(", "));
                }
                if aspect_axis {
                    yaml.push_str("  aspect_ratio: [landscape, portrait]\n");
                }
                let mut counts: Vec<usize> = axes.clone();
                if aspect_axis {
                    counts.push(2);
                }
                combinations = counts.iter().product();
                if exclude && !axes.is_empty() {
                    let _ = writeln!(yaml, "  exclude:\n    - axis0: \"v0 {word}\"");
                    combinations -= combinations / axes[0];
                }
            }
            let mut expected_jobs = combinations * takes as usize;
            if !jobs.is_empty() {
                yaml.push_str("jobs:\n");
                for (index, (job_takes, with_id)) in jobs.iter().enumerate() {
                    if *with_id {
                        let _ = writeln!(yaml, "  - id: job-{index}");
                        let _ = writeln!(yaml, "    prompt: \"job {index}: {word}\"");
                    } else {
                        let _ = writeln!(yaml, "  - prompt: \"job {index}: {word}\"");
                    }
                    let _ = writeln!(yaml, "    takes: {job_takes}");
                    expected_jobs += *job_takes as usize;
                }
            }
            Case {
                yaml,
                expected_jobs,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_valid_manifests_expand_to_the_predicted_count(case in case()) {
        match manifest::load_str("manifest.yaml", &case.yaml) {
            Ok(loaded) => {
                prop_assert_eq!(loaded.manifest.jobs.len(), case.expected_jobs, "{}", case.yaml);
            }
            // A manifest that makes no job at all is rejected, and only then.
            Err(errors) => {
                prop_assert_eq!(case.expected_jobs, 0, "{}\n{}", case.yaml, errors);
            }
        }
    }

    #[test]
    fn damaged_manifests_never_panic_and_errors_have_locations(
        seed in 0usize..4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..8),
    ) {
        let mut bytes = SEEDS[seed].as_bytes().to_vec();
        for (at, kind, byte) in edits {
            let index = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(index, byte),
                1 if index < bytes.len() => { bytes.remove(index); }
                _ if index < bytes.len() => bytes[index] = byte,
                _ => bytes.push(byte),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Err(errors) = manifest::load_str("manifest.yaml", &text) {
            prop_assert!(errors.error_count() > 0);
            for diagnostic in &errors.diagnostics {
                prop_assert!(diagnostic.label.is_some(), "no location: {}", diagnostic);
            }
            let _rendered = errors.to_string();
        }
    }
}

const SEEDS: [&str; 4] = [
    include_str!("../../../../manifests/classroom.yaml"),
    include_str!("../../../../manifests/launch-matrix.yaml"),
    include_str!("../../../../manifests/demo.yaml"),
    "version: 1\nvars: {brand: Kie}\nprompt: \"{s} {{x}} {brand}\"\nmatrix:\n  s: [a, b]\n  include:\n    - {s: c, n_frames: 15}\n  exclude:\n    - s: a\nrun: {timeout: 5m, create_limit: {requests: 3, per: 1s}}\nprices: {veo3: {\"*\": 4}}\n",
];
