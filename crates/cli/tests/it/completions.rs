//! `sora-batch completions SHELL`: a script for every supported shell, valid bash for bash.

use crate::support::sora_batch;

#[test]
fn every_shell_gets_a_script_that_knows_the_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = sora_batch()
            .args(["completions", shell])
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        for command in ["validate", "plan", "run", "status", "task", "schema"] {
            assert!(script.contains(command), "{shell} script lacks `{command}`");
        }
    }
}

#[test]
fn the_bash_script_is_valid_bash() {
    let output = sora_batch()
        .args(["completions", "bash"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success() && !output.stdout.is_empty());
    let folder = tempfile::tempdir().expect("temp dir");
    let script = folder.path().join("sora-batch.bash");
    std::fs::write(&script, &output.stdout).expect("writes");
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    sora_batch().args(["completions", "tcsh"]).assert().code(2);
}

/// What bash completes for the words typed so far (`words`, the last one being completed),
/// with the script sourced in a real bash and its function found through the registration
/// for `sora-batch`, as bash-completion would call it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let output = sora_batch()
        .args(["completions", "bash"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let folder = tempfile::tempdir().expect("temp dir");
    let script = folder.path().join("sora-batch.bash");
    std::fs::write(&script, &output.stdout).expect("writes");
    let quoted: Vec<String> = words
        .iter()
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect();
    let program = format!(
        r#"source "$1" || exit 90
registration=$(complete -p sora-batch) || exit 91
function=$(printf '%s\n' "$registration" | sed -E 's/.* -F ([^ ]+) .*/\1/')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
COMPREPLY=()
"$function" sora-batch "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" ")
    );
    let completed = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        completed.status.success(),
        "{words:?}: bash failed ({:?}): {}",
        completed.status.code(),
        String::from_utf8_lossy(&completed.stderr)
    );
    String::from_utf8_lossy(&completed.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_after_a_subcommand_for_the_hyphenated_name() {
    // clap-rs/clap#6421: the script clap_complete generates for `sora-batch` completed
    // nothing after a subcommand.
    assert_eq!(
        bash_completes(&["sora-batch", "run", "--con"]),
        ["--concurrency"]
    );
    assert_eq!(
        bash_completes(&["sora-batch", "models", "show", "--j"]),
        ["--json"]
    );
    assert_eq!(bash_completes(&["sora-batch", "m"]), ["models"]);
    assert_eq!(
        bash_completes(&["sora-batch", "run", "--color", ""]),
        ["auto", "always", "never"]
    );
    let shells = bash_completes(&["sora-batch", "completions", ""]);
    for shell in ["bash", "elvish", "fish", "powershell", "zsh"] {
        assert!(shells.iter().any(|word| word == shell), "{shells:?}");
    }
}

/// The fish script's lines for what the generator leaves to file completion: the shells of
/// `completions`, and option values before the subcommand. When fish is installed the
/// script also runs in it (`complete -C`, fish's own answer for a command line).
#[test]
fn fish_offers_shells_and_colours_not_files() {
    let output = sora_batch()
        .args(["completions", "fish"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let script = String::from_utf8_lossy(&output.stdout).into_owned();
    for line in [
        "complete -c sora-batch -n \"__fish_sora_batch_using_subcommand completions\" -f\n",
        "complete -c sora-batch -n \"__fish_sora_batch_after_option --color\" -f -a \"auto always never\"\n",
        "-f -a \"bash elvish fish powershell zsh\"\n",
    ] {
        assert!(script.contains(line), "the fish script lacks {line:?}");
    }
    // The generator's function the added lines rely on is still there.
    assert!(script.contains("function __fish_sora_batch_using_subcommand\n"));
    // The generated `--color` of a subcommand keeps its values and no files.
    assert!(script.contains(
        "-n \"__fish_sora_batch_using_subcommand run\" -l color -d 'When to colour messages' -r -f -a \"auto"
    ));

    let folder = tempfile::tempdir().expect("temp dir");
    std::fs::write(folder.path().join("a-file.yaml"), "").expect("writes");
    let scripts = tempfile::tempdir().expect("temp dir");
    let script_path = scripts.path().join("sora-batch.fish");
    std::fs::write(&script_path, &script).expect("writes");
    let fish_runs = std::process::Command::new("fish")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !fish_runs {
        eprintln!("fish is not installed: its script was checked as text only");
        return;
    }
    let fish_completes = |line: &str| -> Vec<String> {
        let completed = std::process::Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&script_path)
            .arg(line)
            .current_dir(folder.path())
            .output()
            .expect("fish runs");
        assert!(completed.status.success(), "{line:?}: {completed:?}");
        String::from_utf8_lossy(&completed.stdout)
            .lines()
            .map(|line| line.split('\t').next().unwrap_or_default().to_owned())
            .collect()
    };
    let sorted = |mut words: Vec<String>| {
        words.sort();
        words
    };
    assert_eq!(
        sorted(fish_completes("sora-batch completions ")),
        ["bash", "elvish", "fish", "powershell", "zsh"]
    );
    for line in ["sora-batch --color ", "sora-batch run --color "] {
        assert_eq!(
            sorted(fish_completes(line)),
            ["always", "auto", "never"],
            "{line:?}"
        );
    }
    assert_eq!(
        fish_completes("sora-batch completions fish "),
        Vec::<String>::new()
    );
    // Where a file is what is asked for, files are still offered.
    assert_eq!(fish_completes("sora-batch run "), ["a-file.yaml"]);
}
