//! The model catalogue: the list and its filters, a model's schema and price from the
//! fixtures, unknown and encoded model ids, and the limit the catalogue calls share.
//!
//! The tests give the fake's catalogue an hour-long window, so that what the limit lets
//! through does not depend on how quickly the machine runs; the one that checks the default
//! judges by the arrival times in the log.

use std::time::Duration;

use serde_json::{Value, json};
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::support::KieCalls;

/// A fake whose catalogue allows `max` requests per hour: the limit never lifts in a test.
async fn fake_allowing(max: u32) -> FakeKie {
    FakeKie::builder()
        .catalogue_rate_limit(max, Duration::from_secs(3600))
        .start()
        .await
}

fn listed_ids(data: &Value) -> Vec<&str> {
    data["models"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|model| model["model"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_list_serves_the_fixtures_and_filters_them() {
    let fake = fake_allowing(10).await;
    let calls = KieCalls::new(&fake);

    let all = calls.get("/api/v1/models").await;
    assert_eq!((all.status, all.code()), (200, Some(200)));
    assert_eq!(all.data()["total"], 5);
    assert_eq!(
        listed_ids(all.data()),
        [
            "kling-2.6/text-to-video",
            "bytedance/seedance-2-mini",
            "nano-banana-2",
            "wan/2-6-text-to-video",
            "veo3_fast"
        ]
    );
    let kling = &all.data()["models"][0];
    assert_eq!(kling["taskType"], json!(["text-to-video"]));
    assert_eq!(kling["provider"], "kling");
    assert!(
        kling["pricingDesc"]
            .as_str()
            .is_some_and(|p| p.contains("55 credits"))
    );

    let images = calls.get("/api/v1/models?taskType=text-to-image").await;
    assert_eq!(listed_ids(images.data()), ["nano-banana-2"]);
    let google_videos = calls
        .get("/api/v1/models?taskType=text-to-video&provider=google")
        .await;
    assert_eq!(listed_ids(google_videos.data()), ["veo3_fast"]);
    // `q` is decoded: `+` and `%20` are spaces.
    let words = calls.get("/api/v1/models?q=Seedance+2%20Mini").await;
    assert_eq!(listed_ids(words.data()), ["bytedance/seedance-2-mini"]);
    let none = calls.get("/api/v1/models?provider=nobody").await;
    assert_eq!((none.code(), &none.data()["total"]), (Some(200), &json!(0)));
    assert_eq!(
        none.data()["models"],
        json!([]),
        "an empty list is not an error"
    );

    let log = fake.log();
    let requests = log.requests_to(Endpoint::ListModels);
    assert_eq!(requests.len(), 5);
    assert_eq!(requests[0].query, None);
    assert_eq!(
        requests[2].query.as_deref(),
        Some("taskType=text-to-video&provider=google")
    );
    assert_eq!(requests[3].query_parameter("q"), Some("Seedance 2 Mini"));
    assert!(log.unexpected().is_empty());
}

#[tokio::test]
async fn a_schema_and_a_price_answer_for_the_model_in_the_path() {
    let fake = fake_allowing(10).await;
    let calls = KieCalls::new(&fake);

    let schema = calls
        .get("/api/v1/models/kling-2.6/text-to-video/schema")
        .await;
    assert_eq!((schema.status, schema.code()), (200, Some(200)));
    assert_eq!(schema.data()["model"], "kling-2.6/text-to-video");
    let create_task =
        "/paths/~1api~1v1~1jobs~1createTask/post/requestBody/content/application~1json";
    let body_schema = schema.data()["openapi"].pointer(create_task);
    assert_eq!(
        body_schema.map(|media| &media["schema"]["$ref"]),
        Some(&json!("#/components/schemas/CreateTaskRequest")),
        "served as published: refs not inlined"
    );

    let seedance = calls
        .get("/api/v1/models/bytedance/seedance-2-mini/schema")
        .await;
    let input = &seedance.data()["openapi"]
        .pointer(create_task)
        .cloned()
        .unwrap_or_default()["schema"]["properties"]["input"];
    assert_eq!(input["oneOf"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        input["oneOf"][0]["properties"]["duration"]["type"], "integer",
        "Seedance's duration is an integer"
    );

    let not_synced = calls
        .get("/api/v1/models/wan/2-6-text-to-video/schema")
        .await;
    assert_eq!(not_synced.code(), Some(200));
    assert_eq!(not_synced.data()["openapi"], Value::Null);

    let price = calls.get("/api/v1/models/nano-banana-2/price").await;
    assert_eq!(
        price.data(),
        &json!({
            "model": "nano-banana-2",
            "pricingDesc": "8 credits per image at 1K, 12 at 2K, 18 at 4K"
        })
    );

    let log = fake.log();
    assert_eq!(log.count(Endpoint::ModelSchema), 3);
    assert_eq!(log.count(Endpoint::ModelPrice), 1);
    assert_eq!(
        log.requests_to(Endpoint::ModelSchema)[2].path,
        "/api/v1/models/wan/2-6-text-to-video/schema"
    );
}

#[tokio::test]
async fn an_unknown_or_percent_encoded_model_is_code_404_in_http_200() {
    let fake = fake_allowing(10).await;
    let calls = KieCalls::new(&fake);
    for path in [
        "/api/v1/models/no-such/model/schema",
        "/api/v1/models/no-such-model/price",
        // The id's `/` must stay a `/`: encoded, it names no model.
        "/api/v1/models/wan%2F2-6-text-to-video/schema",
    ] {
        let answer = calls.get(path).await;
        assert_eq!((answer.status, answer.code()), (200, Some(404)), "{path}");
        assert_eq!(answer.msg(), "model not found");
        assert_eq!(answer.data(), &Value::Null);
    }
    assert!(
        fake.log().unexpected().is_empty(),
        "they are catalogue calls"
    );
}

#[tokio::test]
async fn test_models_replace_or_join_the_fixtures() {
    let fake = FakeKie::builder()
        .catalogue_rate_limit(10, Duration::from_secs(3600))
        .catalogue_model(
            json!({"model": "wan/2-6-text-to-video", "taskType": ["text-to-video"]}),
            json!({"openapi": "3.1.0", "paths": {}}),
            "now synced",
        )
        .catalogue_model(
            json!({"model": "acme/new", "provider": "acme", "taskType": ["text-to-audio"]}),
            Value::Null,
            "free",
        )
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let all = calls.get("/api/v1/models").await;
    assert_eq!(all.data()["total"], 6);
    assert_eq!(
        listed_ids(all.data())[3],
        "wan/2-6-text-to-video",
        "replaced in place"
    );
    assert_eq!(listed_ids(all.data())[5], "acme/new");
    let wan = calls
        .get("/api/v1/models/wan/2-6-text-to-video/schema")
        .await;
    assert_eq!(wan.data()["openapi"]["paths"], json!({}));
    let price = calls.get("/api/v1/models/acme/new/price").await;
    assert_eq!(price.data()["pricingDesc"], "free");
}

#[tokio::test]
async fn the_catalogue_calls_share_one_limit_answered_inside_http_200() {
    let fake = fake_allowing(2).await;
    let calls = KieCalls::new(&fake);
    assert_eq!(calls.get("/api/v1/models").await.code(), Some(200));
    assert_eq!(
        calls.get("/api/v1/models/nano-banana-2/price").await.code(),
        Some(200)
    );
    // The third catalogue call of the window, whichever endpoint: refused in HTTP 200.
    let refused = calls.get("/api/v1/models/veo3_fast/schema").await;
    assert_eq!((refused.status, refused.code()), (200, Some(429)));
    assert!(
        refused.msg().contains("1 request per second"),
        "{refused:?}"
    );
    // Other calls have their own limits.
    assert_eq!(calls.credit().await.code(), Some(200));

    let log = fake.log();
    assert_eq!(log.answered_code(429), 1);
    assert_eq!(log.rate_limited(), 0, "no HTTP 429");
}

#[tokio::test]
async fn the_default_limit_is_the_live_one_request_per_second() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let first = calls.get("/api/v1/models").await;
    let second = calls.get("/api/v1/models").await;
    assert_eq!(first.code(), Some(200));
    // Read from the log, not the clock: the second is refused unless it arrived a full
    // second after the first (a machine stalled that long between them).
    let log = fake.log();
    let requests = log.requests_to(Endpoint::ListModels);
    let gap = requests[1].received_at - requests[0].received_at;
    let expected = if gap >= Duration::from_secs(1) {
        200
    } else {
        429
    };
    assert_eq!(second.code(), Some(expected), "{gap:?} apart");
}

#[tokio::test]
async fn catalogue_faults_are_injected_like_the_others() {
    let fake = fake_allowing(10).await;
    let calls = KieCalls::new(&fake);
    fake.inject(
        Endpoint::ModelSchema,
        Fault::catalogue_rate_limited(),
        Times::Once,
    );
    fake.inject(
        Endpoint::ModelPrice,
        Fault::Json {
            status: 200,
            body: json!({"code": 200, "msg": "success", "data": {"price": 5}}),
        },
        Times::Once,
    );
    let limited = calls.get("/api/v1/models/nano-banana-2/schema").await;
    assert_eq!((limited.status, limited.code()), (200, Some(429)));
    let odd = calls.get("/api/v1/models/nano-banana-2/price").await;
    assert_eq!(odd.data(), &json!({"price": 5}));
    assert_eq!(
        calls
            .get("/api/v1/models/nano-banana-2/schema")
            .await
            .code(),
        Some(200)
    );
}
