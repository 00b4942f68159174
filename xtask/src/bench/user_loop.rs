//! What users write instead of sora-batch: the simplest correct loop, to compare against.
//!
//! Read [`run_user_loop`]. `threads` workers share the batch's jobs; each takes the next job,
//! creates its task, then sleeps `poll_every` and polls, again and again, until the task is
//! done, and downloads its file. Any 429 (createTask or recordInfo) is retried after
//! `rate_limited_wait`, the service's window. No limiter, no backoff, no journal: correct
//! (every job ends downloaded, nothing is created twice), and what a user writes in an
//! afternoon. It runs in this process, on a runtime of its own, against the same fake.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

/// One job as the loop sends it: exactly the request sora-batch would send.
#[derive(Debug, Clone)]
pub(crate) struct UserJob {
    pub model: String,
    pub input: Map<String, Value>,
}

/// How the loop is tuned, on the bench's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopTiming {
    pub threads: usize,
    pub poll_every: Duration,
    pub rate_limited_wait: Duration,
}

/// Runs `jobs` to downloaded files against the fake at `base_url`; the wall time from the
/// first request to the last file.
pub(crate) fn run_user_loop(
    base_url: &str,
    jobs: Vec<UserJob>,
    timing: LoopTiming,
) -> Result<Duration, String> {
    // A runtime of its own, as a separate program would have: the fake's runtime keeps
    // its two threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .user_agent("a-users-loop/1")
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let base_url = base_url.trim_end_matches('/').to_owned();
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    runtime.block_on(async move {
        let mut workers = Vec::new();
        for _ in 0..timing.threads.max(1) {
            let (client, base_url, jobs, next) =
                (client.clone(), base_url.clone(), jobs.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(index) else {
                        return Ok::<(), String>(());
                    };
                    one_job(&client, &base_url, job, timing).await?;
                }
            }));
        }
        for worker in workers {
            worker.await.map_err(|e| format!("a worker died: {e}"))??;
        }
        Ok::<(), String>(())
    })?;
    Ok(started.elapsed())
}

/// create, sleep, poll until done, download.
async fn one_job(
    client: &reqwest::Client,
    base_url: &str,
    job: &UserJob,
    timing: LoopTiming,
) -> Result<(), String> {
    let body = json!({"model": job.model, "input": job.input});
    let task_id = loop {
        let answer = call(
            client
                .post(format!("{base_url}/api/v1/jobs/createTask"))
                .bearer_auth("bench-key-for-the-fake")
                .json(&body),
        )
        .await?;
        match answer {
            Answer::RateLimited => tokio::time::sleep(timing.rate_limited_wait).await,
            Answer::Data(data) => {
                break data["taskId"]
                    .as_str()
                    .ok_or("createTask answered without a taskId")?
                    .to_owned();
            }
        }
    };
    loop {
        tokio::time::sleep(timing.poll_every).await;
        let answer = loop {
            let answer = call(
                client
                    .get(format!("{base_url}/api/v1/jobs/recordInfo"))
                    .query(&[("taskId", task_id.as_str())])
                    .bearer_auth("bench-key-for-the-fake"),
            )
            .await?;
            match answer {
                Answer::RateLimited => tokio::time::sleep(timing.rate_limited_wait).await,
                Answer::Data(data) => break data,
            }
        };
        match answer["state"].as_str() {
            Some("success") => {
                let result: Value = answer["resultJson"]
                    .as_str()
                    .and_then(|text| serde_json::from_str(text).ok())
                    .unwrap_or_default();
                let url = result["resultUrls"][0]
                    .as_str()
                    .ok_or("a success without a result URL")?;
                let file = client
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("download: {e}"))?;
                file.bytes().await.map_err(|e| format!("download: {e}"))?;
                return Ok(());
            }
            Some("fail") => return Ok(()),
            _ => {}
        }
    }
}

enum Answer {
    RateLimited,
    Data(Value),
}

/// One request: a 429 (HTTP or the envelope's code), or the answer's `data`.
async fn call(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request.send().await.map_err(|e| format!("request: {e}"))?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.map_err(|e| format!("answer: {e}"))?;
    let code = body["code"].as_i64();
    if status == 429 || code == Some(429) {
        return Ok(Answer::RateLimited);
    }
    if code != Some(200) {
        return Err(format!("the fake answered {status} {body}"));
    }
    Ok(Answer::Data(body["data"].clone()))
}
