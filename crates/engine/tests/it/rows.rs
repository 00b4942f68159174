//! `rows:` tables: CSV, TSV and JSON Lines rows as jobs, crossed with the matrix, and their
//! problems located in the table's own file.

use std::collections::BTreeSet;
use std::path::PathBuf;

use sora_batch_engine::manifest::{self, Loaded, ManifestErrors};

/// A folder holding a manifest and its table, written for one test.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new() -> Folder {
        Folder {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folder");
        }
        std::fs::write(&path, text).expect("written");
        path
    }

    fn load(&self, manifest: &str) -> Result<Loaded, ManifestErrors> {
        manifest::load(&self.write("batch.yaml", manifest))
    }

    fn load_ok(&self, manifest: &str) -> Loaded {
        match self.load(manifest) {
            Ok(loaded) => loaded,
            Err(errors) => panic!(
                "the manifest should load:\n{}",
                self.shown(&errors.to_string())
            ),
        }
    }

    /// The rendered errors, the temporary folder named `<dir>`.
    fn errors(&self, manifest: &str) -> String {
        match self.load(manifest) {
            Ok(_) => panic!("the manifest should not load"),
            Err(errors) => self.shown(&errors.to_string()),
        }
    }

    fn shown(&self, text: &str) -> String {
        text.replace(&self.dir.path().display().to_string(), "<dir>")
    }
}

const KLING: &str =
    "version: 1\nmodel: kling-2.6/text-to-video\ndefaults:\n  duration: \"5\"\n  sound: false\n";

const FIVE_PROMPTS: &str = "id,prompt\nfox,A red fox runs through snow\nboat,\"A boat, at dawn\"\nowl,An owl blinks twice\ncity,A city wakes up\nbee,A bee visits a flower\n";

fn with_ratios() -> String {
    format!("{KLING}rows: prompts.csv\nmatrix:\n  aspect_ratio: [\"16:9\", \"9:16\"]\n")
}

fn keys(loaded: &Loaded) -> BTreeSet<String> {
    loaded
        .manifest
        .jobs
        .iter()
        .map(|job| job.key.as_str().to_owned())
        .collect()
}

#[test]
fn five_rows_times_two_aspect_ratios_are_ten_jobs_named_by_id_and_axis() {
    let folder = Folder::new();
    folder.write("prompts.csv", FIVE_PROMPTS);
    let loaded = folder.load_ok(&with_ratios());
    let jobs = &loaded.manifest.jobs;
    assert_eq!(jobs.len(), 10);
    let ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(
        &ids[..4],
        ["fox-16-9", "fox-9-16", "boat-16-9", "boat-9-16"]
    );
    assert_eq!(jobs[2].input["prompt"], "A boat, at dawn");
    assert_eq!(jobs[3].input["aspect_ratio"], "9:16");
    assert!(jobs[0].input.get("id").is_none(), "the id is not sent");
    let values: Vec<(&str, &str)> = jobs[0].matrix.iter().collect();
    assert_eq!(
        values,
        [
            ("id", "fox"),
            ("aspect_ratio", "16:9"),
            ("prompt", "A red fox runs through snow")
        ]
    );
}

#[test]
fn reordering_rows_or_columns_changes_no_key_and_editing_a_cell_changes_its_rows_jobs_only() {
    let folder = Folder::new();
    folder.write("prompts.csv", FIVE_PROMPTS);
    let before = keys(&folder.load_ok(&with_ratios()));
    folder.write(
        "prompts.csv",
        "prompt,id\nA bee visits a flower,bee\nA city wakes up,city\nAn owl blinks twice,owl\n\"A boat, at dawn\",boat\nA red fox runs through snow,fox\n",
    );
    assert_eq!(keys(&folder.load_ok(&with_ratios())), before);
    folder.write(
        "prompts.csv",
        &FIVE_PROMPTS.replace("An owl blinks twice", "An owl blinks once"),
    );
    let after = keys(&folder.load_ok(&with_ratios()));
    assert_eq!(after.difference(&before).count(), 2);
    assert_eq!(before.difference(&after).count(), 2);
}

#[test]
fn an_id_column_alone_names_the_jobs_and_takes_add_their_suffix() {
    let folder = Folder::new();
    folder.write(
        "prompts.csv",
        "id,prompt,aspect_ratio\nIntro_1,A cat,16:9\nOutro,A dog,9:16\n",
    );
    let loaded = folder.load_ok(&format!("{KLING}takes: 2\nrows: prompts.csv\n"));
    let ids: Vec<&str> = loaded
        .manifest
        .jobs
        .iter()
        .map(|job| job.id.as_str())
        .collect();
    assert_eq!(ids, ["Intro_1", "Intro_1-t2", "Outro", "Outro-t2"]);
}

#[test]
fn a_spreadsheets_byte_order_mark_is_not_part_of_the_first_column() {
    let folder = Folder::new();
    folder.write("prompts.csv", "\u{feff}id,prompt\nfox,A fox\n");
    let loaded = folder.load_ok(&format!("{KLING}rows: prompts.csv\n"));
    assert_eq!(loaded.manifest.jobs[0].id.as_str(), "fox");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn a_blank_cell_leaves_its_field_to_the_default() {
    let folder = Folder::new();
    folder.write(
        "prompts.csv",
        "id,prompt,duration,aspect_ratio\nfox,A fox,10,\nowl,An owl,,9:16\n,A cat,,\n",
    );
    let loaded = folder.load_ok(&format!("{KLING}rows: prompts.csv\n"));
    let jobs = &loaded.manifest.jobs;
    assert_eq!(jobs[0].input["duration"], "10");
    // Kling's schema default, as for a field written nowhere.
    assert_eq!(jobs[0].input["aspect_ratio"], "1:1");
    assert_eq!(jobs[1].input["duration"], "5");
    assert_eq!(jobs[1].input["aspect_ratio"], "9:16");
    // Without its id, a row is named by its cells.
    assert_eq!(jobs[2].id.as_str(), "a-cat");
    // A blank required cell: the problem is that row's.
    folder.write("prompts.csv", "id,prompt\nfox,A fox\nowl,\n");
    let errors = folder.errors(&format!("{KLING}rows: prompts.csv\n"));
    assert!(
        errors.contains("missing required field `prompt`"),
        "{errors}"
    );
    assert!(errors.contains("--> <dir>/prompts.csv:3:1"), "{errors}");
}

#[test]
fn without_an_id_the_row_values_name_the_job() {
    let folder = Folder::new();
    folder.write(
        "prompts.csv",
        "prompt,aspect_ratio\nA red fox,16:9\nA blue whale,1:1\n",
    );
    let loaded = folder.load_ok(&format!("{KLING}rows: prompts.csv\n"));
    let ids: Vec<&str> = loaded
        .manifest
        .jobs
        .iter()
        .map(|job| job.id.as_str())
        .collect();
    assert_eq!(ids, ["a-red-fox-16-9", "a-blue-whale-1-1"]);
}

#[test]
fn columns_are_template_variables_and_exclude_and_include_see_them() {
    let folder = Folder::new();
    folder.write("subjects.csv", "id,subject\nfox,A red fox\nowl,An owl\n");
    let loaded = folder.load_ok(&format!(
        "{KLING}rows: subjects.csv\nprompt: \"{{subject}} in the snow\"\nmatrix:\n  aspect_ratio: [\"16:9\", \"9:16\"]\n  exclude:\n    - {{id: owl, aspect_ratio: \"9:16\"}}\n  include:\n    - {{id: fox, duration: \"10\"}}\n"
    ));
    let jobs = &loaded.manifest.jobs;
    let ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
    assert_eq!(ids, ["fox-16-9", "fox-9-16", "owl-16-9"]);
    assert_eq!(jobs[0].input["prompt"], "A red fox in the snow");
    assert_eq!(jobs[0].input["duration"], "10");
    assert_eq!(jobs[2].input["duration"], "5");
}

#[test]
fn tsv_and_json_lines_tables_make_the_same_jobs_as_csv() {
    let folder = Folder::new();
    folder.write("p.csv", "id,prompt,duration\na,A cat,5\nb,A dog,10\n");
    folder.write(
        "p.tsv",
        "id\tprompt\tduration\r\na\tA cat\t5\r\nb\tA dog\t10\r\n",
    );
    // JSON Lines keep their types: a number where the model wants text is converted.
    folder.write(
        "p.jsonl",
        "{\"id\": \"a\", \"prompt\": \"A cat\", \"duration\": 5}\n\n{\"duration\": \"10\", \"prompt\": \"A dog\", \"id\": \"b\"}\n",
    );
    let manifest = |table: &str| format!("{KLING}rows: {table}\n");
    let csv = keys(&folder.load_ok(&manifest("p.csv")));
    assert_eq!(csv.len(), 2);
    assert_eq!(keys(&folder.load_ok(&manifest("p.tsv"))), csv);
    assert_eq!(keys(&folder.load_ok(&manifest("p.jsonl"))), csv);
}

#[test]
fn a_malformed_csv_reports_every_problem_located_in_the_table() {
    let folder = Folder::new();
    folder.write(
        "prompts.csv",
        "id,prompt,aspect_ratoi\nfox,\"A fox, \"\"red\"\",\non two lines\",16:9\nboat,A boat\nowl,An owl,1:1,extra\ncat,\"A cat\nthat never closes,1:1\n",
    );
    insta::assert_snapshot!(folder.errors(&format!("{KLING}rows: prompts.csv\n")));
}

#[test]
fn an_unknown_field_header_gets_a_did_you_mean_and_an_unused_column_a_warning() {
    let folder = Folder::new();
    folder.write("prompts.csv", "id,promt,notes\nfox,A fox,ok\n");
    insta::assert_snapshot!(folder.errors(&format!("{KLING}prompt: A cat\nrows: prompts.csv\n")));
    folder.write("prompts.csv", "id,prompt,notes\nfox,A fox,ok\n");
    let loaded = folder.load_ok(&format!("{KLING}rows: prompts.csv\n"));
    let warnings: Vec<&str> = loaded.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("column `notes` is not used")),
        "{warnings:?}"
    );
}

#[test]
fn duplicate_and_unsafe_ids_and_bad_values_are_located_at_their_cells() {
    let folder = Folder::new();
    folder.write(
        "prompts.csv",
        "id,prompt,aspect_ratio\nfox,A fox,16:9\nowl,An owl,4:3\nfox,Another fox,1:1\n../x,A cat {mood},1:1\n",
    );
    insta::assert_snapshot!(folder.errors(&format!("{KLING}rows: prompts.csv\n")));
}

#[test]
fn an_empty_table_is_an_error() {
    let folder = Folder::new();
    folder.write("prompts.csv", "id,prompt\n");
    let errors = folder.errors(&format!("{KLING}rows: prompts.csv\n"));
    assert!(
        errors.contains("error: the table is empty: a header but no rows"),
        "{errors}"
    );
    assert!(errors.contains("--> <dir>/prompts.csv"), "{errors}");
    folder.write("empty.jsonl", "\n");
    let errors = folder.errors(&format!("{KLING}rows: empty.jsonl\n"));
    assert!(
        errors.contains("the table is empty: no header and no rows"),
        "{errors}"
    );
}

#[test]
fn a_missing_table_a_table_outside_the_folder_and_an_unknown_format_are_located_in_the_manifest() {
    let folder = Folder::new();
    folder.write("outside.csv", "id,prompt\na,b\n");
    let inner = Folder {
        dir: tempfile::tempdir_in(folder.dir.path()).expect("a folder inside"),
    };
    for (rows, message) in [
        ("missing.csv", "cannot read the rows table"),
        ("../outside.csv", "is outside the manifest's folder"),
        ("prompts.xlsx", "is not a .csv, .tsv or .jsonl file"),
        ("/etc/prompts.csv", "is not a relative path"),
    ] {
        let errors = inner.errors(&format!("{KLING}rows: {rows}\n"));
        assert!(errors.contains(message), "{rows}: {errors}");
        assert!(
            errors.contains("--> <dir>/batch.yaml:6:7"),
            "{rows}: {errors}"
        );
    }
    // A link inside the folder to a table outside it is outside.
    #[cfg(unix)]
    {
        let link = inner.dir.path().join("linked.csv");
        std::os::unix::fs::symlink(folder.dir.path().join("outside.csv"), &link).expect("a link");
        let errors = inner.errors(&format!("{KLING}rows: linked.csv\n"));
        assert!(
            errors.contains("is outside the manifest's folder"),
            "{errors}"
        );
    }
}

#[test]
fn a_table_in_a_subfolder_is_read() {
    let folder = Folder::new();
    folder.write("tables/prompts.csv", "id,prompt\na,A cat\n");
    let loaded = folder.load_ok(&format!("{KLING}rows: tables/prompts.csv\n"));
    assert_eq!(loaded.manifest.jobs.len(), 1);
    assert_eq!(loaded.manifest.jobs[0].id.as_str(), "a");
}

#[test]
fn rows_count_against_the_job_limit_before_expanding() {
    let folder = Folder::new();
    let mut table = String::from("prompt\n");
    for index in 0..1001 {
        table.push_str(&format!("prompt {index}\n"));
    }
    folder.write("prompts.csv", &table);
    let axis: Vec<String> = (0..1000).map(|index| index.to_string()).collect();
    let errors = folder.errors(&format!(
        "{KLING}rows: prompts.csv\nmatrix:\n  n: [{}]\n",
        axis.join(", ")
    ));
    assert!(
        errors.contains("the table's rows and the matrix's axes make 1001000 combinations"),
        "{errors}"
    );
}

#[test]
fn two_rows_making_the_same_request_are_located_at_the_second() {
    let folder = Folder::new();
    folder.write("prompts.csv", "prompt\nA fox\nAn owl\nA fox\n");
    let errors = folder.errors(&format!("{KLING}rows: prompts.csv\n"));
    assert!(
        errors.contains("error: jobs `a-fox` and `a-fox` make the same request"),
        "{errors}"
    );
    assert!(errors.contains("--> <dir>/prompts.csv:4:1"), "{errors}");
}

#[test]
fn a_json_lines_row_missing_a_required_field_is_located_at_its_line() {
    let folder = Folder::new();
    folder.write(
        "prompts.jsonl",
        "{\"id\": \"a\", \"prompt\": \"A fox\"}\n{\"id\": \"b\"}\n",
    );
    let errors = folder.errors(&format!("{KLING}rows: prompts.jsonl\n"));
    assert!(
        errors.contains("missing required field `prompt` for model `kling-2.6/text-to-video`"),
        "{errors}"
    );
    assert!(errors.contains("--> <dir>/prompts.jsonl:2:2"), "{errors}");
}

#[test]
fn a_model_column_sets_each_rows_model() {
    let folder = Folder::new();
    // JSON Lines: each row has the keys of its own model.
    folder.write(
        "prompts.jsonl",
        "{\"id\": \"k\", \"model\": \"kling-2.6/text-to-video\", \"prompt\": \"A fox\", \"duration\": \"5\", \"sound\": false}\n{\"id\": \"s\", \"model\": \"bytedance/seedance-2-mini\", \"prompt\": \"An owl\", \"duration\": 5}\n",
    );
    let loaded = folder.load_ok("version: 1\nrows: prompts.jsonl\n");
    let models: Vec<&str> = loaded
        .manifest
        .jobs
        .iter()
        .map(|job| job.model.as_str())
        .collect();
    assert_eq!(
        models,
        ["kling-2.6/text-to-video", "bytedance/seedance-2-mini"]
    );
    assert!(loaded.manifest.jobs[1].input.get("sound").is_none());

    // A model misspelt in many rows is reported once, at its first.
    folder.write(
        "prompts.csv",
        "id,model,prompt\na,kling-2.6/txt-to-video,A\nb,kling-2.6/txt-to-video,B\nc,kling-2.6/txt-to-video,C\n",
    );
    let errors = folder.errors("version: 1\nrows: prompts.csv\n");
    assert_eq!(errors.matches("unknown model").count(), 1, "{errors}");
    assert!(errors.contains("--> <dir>/prompts.csv:2:3"), "{errors}");
}

#[test]
fn a_local_file_named_in_a_cell_is_resolved_and_its_problems_are_located_at_the_cell() {
    let folder = Folder::new();
    let refs = repository_root().join("manifests/refs");
    for name in ["lighthouse.png", "harbour.jpg"] {
        let bytes = std::fs::read(refs.join(name)).expect("an example image");
        std::fs::create_dir_all(folder.dir.path().join("refs")).expect("folder");
        std::fs::write(folder.dir.path().join("refs").join(name), bytes).expect("written");
    }
    folder.write(
        "shots.csv",
        "id,image_urls,prompt\nsea,./refs/lighthouse.png,Waves roll in\nfog,./refs/harbour.jpg,Fog drifts\n",
    );
    let manifest = "version: 1\nmodel: kling-2.6/image-to-video\ndefaults:\n  duration: \"5\"\n  sound: false\nrows: shots.csv\n";
    let loaded = folder.load_ok(manifest);
    assert_eq!(loaded.manifest.local_files.len(), 2);
    let sent = loaded.manifest.jobs[0].input["image_urls"].to_string();
    assert!(
        !sent.contains("./refs"),
        "a placeholder stands for the file: {sent}"
    );

    folder.write(
        "shots.csv",
        "id,image_urls,prompt\nsea,./refs/lighthouse.png,Waves roll in\nfog,./refs/missing.jpg,Fog drifts\n",
    );
    let errors = folder.errors(manifest);
    assert!(
        errors.contains("cannot use `./refs/missing.jpg`"),
        "{errors}"
    );
    assert!(errors.contains("--> <dir>/shots.csv:3:5"), "{errors}");
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
