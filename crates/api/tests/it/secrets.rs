//! The API key never appears in any error, however the call failed.

use std::time::Duration;

use sora_batch_api::TaskId;
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::support::{SENTINEL_KEY, client_for, client_with, config_for, seed_request};

fn assert_key_absent(what: &str, error: &(dyn std::error::Error + 'static)) {
    let mut texts = vec![error.to_string(), format!("{error:?}")];
    let mut source = error.source();
    while let Some(inner) = source {
        texts.push(inner.to_string());
        texts.push(format!("{inner:?}"));
        source = inner.source();
    }
    for text in texts {
        assert!(
            !text.contains(SENTINEL_KEY),
            "{what}: the key leaked into {text:?}"
        );
        assert!(
            !text.contains("SENTINEL"),
            "{what}: part of the key leaked into {text:?}"
        );
    }
}

#[tokio::test]
async fn no_error_display_or_debug_carries_the_key() {
    let fake = FakeKie::builder().file_size(1024).start().await;
    let client = client_for(&fake);
    assert!(!format!("{client:?}").contains("SENTINEL"));

    let faults = [
        Fault::unauthorized(),
        Fault::insufficient_credits(),
        Fault::server_error(),
        Fault::Cloudflare1010,
        Fault::RateLimited,
        Fault::NonJson {
            status: 502,
            body: "<html>oops</html>".into(),
        },
    ];
    for fault in faults {
        fake.inject(Endpoint::CreateTask, fault.clone(), Times::Once);
        let failure = client
            .create_task(&seed_request())
            .await
            .expect_err("fault");
        assert_key_absent("createTask", &failure);
        fake.inject(Endpoint::RecordInfo, fault, Times::Always);
        let error = client
            .record_info(&TaskId::new("t"))
            .await
            .expect_err("fault");
        assert_key_absent("recordInfo", &error);
        fake.clear_faults();
    }

    let mut config = config_for(&fake.base_url());
    config.request_timeout = Duration::from_millis(200);
    let impatient = client_with(config);
    fake.inject(
        Endpoint::Credit,
        Fault::Slow {
            delay: Duration::from_secs(2),
        },
        Times::Always,
    );
    let error = impatient.credit_balance().await.expect_err("timeout");
    assert_key_absent("timeout", &error);
    fake.clear_faults();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let nowhere = client_with(config_for(&format!("http://{address}")));
    let failure = nowhere
        .create_task(&seed_request())
        .await
        .expect_err("refused");
    assert_key_absent("connection refused", &failure);

    let error = client
        .download(
            &format!("{}/r/none/0.mp4?token=x", fake.files_base_url()),
            &mut Vec::new(),
        )
        .await
        .expect_err("no such file");
    assert_key_absent("download", &error);
}
