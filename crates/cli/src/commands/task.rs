//! `sora-batch task TASK_ID [--json]`: one task as the service reports it (one recordInfo).

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use sora_batch_api::TaskId;
use sora_batch_api::wire::RecordInfo;

use crate::cli::{GlobalArgs, TaskArgs};
use crate::commands::{api_key, client, runtime};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(global: &GlobalArgs, args: &TaskArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let task_id = args.task_id.trim();
    if task_id.is_empty() {
        return Err(CliError::Usage("the task id is empty".into()));
    }
    let client = client(&global.base_url, api_key()?, None)?;
    let record = runtime()?.block_on(client.record_info(&TaskId::new(task_id)))?;
    let stdout = output.stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut *stdout, &record)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)?;
    } else {
        write_record(stdout, &record).map_err(CliError::Output)?;
    }
    output.flush()?;
    Ok(Outcome::Success)
}

fn timestamp(millis: Option<i64>) -> Option<String> {
    let millis = u64::try_from(millis?).ok()?;
    let when = UNIX_EPOCH + Duration::from_millis(millis);
    Some(humantime::format_rfc3339_seconds(when).to_string())
}

fn write_record(out: &mut impl Write, record: &RecordInfo) -> std::io::Result<()> {
    let mut field = |name: &str, value: &str| writeln!(out, "{name:<10} {value}");
    field("task", &record.task_id)?;
    field("model", record.model.as_deref().unwrap_or("-"))?;
    field("state", record.state.as_str())?;
    if let Some(created) = timestamp(record.create_time) {
        field("created", &created)?;
    }
    if let Some(completed) = timestamp(record.complete_time) {
        field("completed", &completed)?;
    }
    if let Some(millis) = record.generation_millis() {
        field(
            "took",
            &humantime::format_duration(Duration::from_secs(millis / 1000)).to_string(),
        )?;
    }
    if let Some(credits) = record.credits_consumed {
        field("credits", &credits.to_string())?;
    }
    if let Some(prompt) = record
        .param
        .parsed()
        .and_then(|param| param.get("input"))
        .and_then(|input| input.get("prompt"))
        .and_then(serde_json::Value::as_str)
    {
        field("prompt", prompt)?;
    }
    for url in record.result_urls() {
        field("result", url)?;
    }
    if let Some(result) = record.result_json.parsed() {
        for url in result.result_watermark_urls.iter().flatten() {
            field("watermark", url)?;
        }
    }
    if let Some(code) = record.fail_code.as_deref() {
        field("fail code", code)?;
    }
    if let Some(message) = record.fail_msg.as_deref().filter(|m| !m.is_empty()) {
        field("fail", message)?;
    }
    Ok(())
}
