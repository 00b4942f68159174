//! Checks JUnit XML against Jenkins' `junit-10.xsd`, the schema its xUnit plugin validates
//! reports with before it reads them (vendored in `fixtures/junit/`, see its README).
//!
//! Read [`assert_valid_junit`]. The validator is libxml2's `xmllint` (Debian's
//! `libxml2-utils`, which `.ci/run` installs): an XSD 1.0 validator that every CI image can
//! have, run offline on the vendored file. Where it is missing the check says so loudly and
//! passes, except under CI (`CI=true`), where its absence is a failure — like the browser of
//! the gallery test.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The vendored schema.
pub fn junit_schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/junit/junit-10.xsd")
}

/// What the validator said of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaCheck {
    Valid,
    /// The validator's messages.
    Invalid(String),
    /// No `xmllint` on this machine (`XMLLINT` may name one).
    NoValidator,
}

/// Validates `xml` against [`junit_schema_path`] with `xmllint`.
pub fn check_junit(xml: &str) -> SchemaCheck {
    let Some(xmllint) = xmllint() else {
        return SchemaCheck::NoValidator;
    };
    let child = Command::new(&xmllint)
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(junit_schema_path())
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => return SchemaCheck::Invalid(format!("cannot start xmllint: {error}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows as xmllint's complaint about a truncated document.
        let _ = stdin.write_all(xml.as_bytes());
    }
    match child.wait_with_output() {
        Ok(output) if output.status.success() => SchemaCheck::Valid,
        Ok(output) => SchemaCheck::Invalid(String::from_utf8_lossy(&output.stderr).into_owned()),
        Err(error) => SchemaCheck::Invalid(format!("xmllint did not finish: {error}")),
    }
}

/// Panics unless `xml` is valid against Jenkins' `junit-10.xsd`.
pub fn assert_valid_junit(xml: &str) {
    match check_junit(xml) {
        SchemaCheck::Valid => {}
        SchemaCheck::Invalid(messages) => {
            panic!(
                "the JUnit XML is not valid against junit-10.xsd:\n{messages}\n--- document\n{xml}"
            )
        }
        SchemaCheck::NoValidator => {
            let message = "XMLLINT IS NOT INSTALLED: the JUnit XML was NOT checked against \
                           junit-10.xsd (apt-get install libxml2-utils; .ci/run installs it)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("{message}");
        }
    }
}

fn xmllint() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("XMLLINT") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|folder| folder.join("xmllint"))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="x" tests="1" failures="0" errors="0" time="1.500">
  <testsuite name="x" tests="1" failures="0" errors="0" skipped="0" time="1.500" file="m.yaml">
    <testcase classname="x" name="a" time="0.250"/>
  </testsuite>
</testsuites>
"#;

    /// The checks of the other tests can fail: what Jenkins refuses, the validator refuses.
    #[test]
    fn the_validator_refuses_what_jenkins_refuses() {
        let refused = [
            VALID.replace(
                "<testsuites name=\"x\"",
                "<testsuites skipped=\"1\" name=\"x\"",
            ),
            VALID.replace("name=\"a\"", "name=\"a\" file=\"m.yaml\""),
            VALID.replace("time=\"1.500\" file", "time=\"-0.000\" file"),
            VALID.replace(" errors=\"0\" skipped", " skipped"),
        ];
        match check_junit(VALID) {
            SchemaCheck::NoValidator => {
                assert_valid_junit(VALID);
                return;
            }
            check => assert_eq!(check, SchemaCheck::Valid),
        }
        for document in refused {
            assert!(
                matches!(check_junit(&document), SchemaCheck::Invalid(_)),
                "accepted:\n{document}"
            );
        }
    }
}
