//! The catalogue calls against the fake: the list and its filters, schemas reduced to their
//! input (`$ref`s inlined, `oneOf` kept), model ids in the path as they are, the outcomes of
//! a model that is not runnable, wrong shapes, and the pacing that keeps a client under the
//! shared limit of the catalogue calls.
//!
//! The fake's catalogue window and the client's interval are the same short duration: the
//! pacing is exact by construction (each request leaves a full interval after the previous
//! one's answer came back), so no test depends on how fast the machine is. Assertions are on
//! the fake's log.

use std::time::Duration;

use serde_json::json;
use sora_batch_api::{Client, ErrorKind, ModelFilter, ModelInput, Operation};
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::support::{SENTINEL_KEY, client_with, config_for};

/// The fake's catalogue allows one request per `WINDOW`; the client waits as long.
const WINDOW: Duration = Duration::from_millis(25);

async fn catalogue_fake() -> FakeKie {
    FakeKie::builder()
        .catalogue_rate_limit(1, WINDOW)
        .start()
        .await
}

fn paced_client(fake: &FakeKie) -> Client {
    let mut config = config_for(&fake.base_url());
    config.catalogue_interval = WINDOW;
    client_with(config)
}

/// No catalogue request of the log was refused for the rate limit, in HTTP 200 or 429.
fn assert_no_429(fake: &FakeKie) {
    let log = fake.log();
    assert_eq!(log.answered_code(429), 0, "{:#?}", log.requests());
    assert_eq!(log.rate_limited(), 0);
}

#[tokio::test]
async fn the_list_is_read_with_and_without_filters() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);

    let all = client
        .list_models(&ModelFilter::default())
        .await
        .expect("the list");
    assert_eq!(all.total, Some(5));
    let ids: Vec<&str> = all.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(
        ids,
        [
            "kling-2.6/text-to-video",
            "bytedance/seedance-2-mini",
            "nano-banana-2",
            "wan/2-6-text-to-video",
            "veo3_fast"
        ]
    );
    let kling = &all.models[0];
    assert_eq!(kling.provider.as_deref(), Some("kling"));
    assert_eq!(kling.task_types, ["text-to-video"]);
    assert_eq!(kling.slug.as_deref(), Some("kling-2-6-text-to-video"));
    assert!(
        kling
            .pricing_desc
            .as_deref()
            .is_some_and(|price| price.contains("55 credits"))
    );

    let filter = ModelFilter {
        task_type: Some("text-to-video".into()),
        provider: Some("google".into()),
        query: Some("veo 3".into()),
    };
    let veo = client
        .list_models(&filter)
        .await
        .expect("the filtered list");
    assert_eq!(veo.total, Some(1));
    assert_eq!(veo.models[0].model, "veo3_fast");
    let nothing = client
        .list_models(&ModelFilter {
            provider: Some("nobody".into()),
            ..ModelFilter::default()
        })
        .await
        .expect("an empty list is an answer");
    assert!(nothing.models.is_empty());

    let log = fake.log();
    let requests = log.requests_to(Endpoint::ListModels);
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].path, "/api/v1/models");
    assert_eq!(requests[0].query, None, "no filter, no query");
    assert_eq!(
        requests[1].query.as_deref(),
        Some("taskType=text-to-video&provider=google&q=veo+3")
    );
    assert_eq!(requests[1].query_parameter("q"), Some("veo 3"));
    assert_eq!(requests[2].query.as_deref(), Some("provider=nobody"));
    for request in &requests {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {SENTINEL_KEY}").as_str())
        );
        assert_eq!(
            request.header("user-agent"),
            Some(sora_batch_api::USER_AGENT)
        );
    }
    assert!(log.unexpected().is_empty());
    assert_no_429(&fake);
}

#[tokio::test]
async fn a_schema_comes_with_its_refs_inlined() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let kling = client
        .model_schema("kling-2.6/text-to-video")
        .await
        .expect("the schema");
    assert_eq!(kling.model, "kling-2.6/text-to-video");
    // The body schema was a $ref, its `input` another, and `aspect_ratio` a third with a
    // description beside it, which wins over the definition's.
    assert_eq!(
        kling.input_schema(),
        Some(&json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["prompt"],
            "properties": {
                "prompt": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 2500,
                    "description": "What happens in the video"
                },
                "sound": {
                    "type": "boolean",
                    "default": false,
                    "description": "Whether the video has sound"
                },
                "aspect_ratio": {
                    "type": "string",
                    "enum": ["16:9", "9:16", "1:1"],
                    "default": "16:9",
                    "description": "The frame's shape"
                },
                "duration": {
                    "type": "string",
                    "enum": ["5", "10"],
                    "default": "5",
                    "description": "Length in seconds, as a string"
                }
            }
        }))
    );
    // Here the request body itself is a $ref to `#/components/requestBodies/...`.
    let nano = client
        .model_schema("nano-banana-2")
        .await
        .expect("the schema");
    let input = nano.input_schema().expect("runs through createTask");
    assert_eq!(
        input["properties"]["resolution"]["enum"],
        json!(["1K", "2K", "4K"])
    );
    assert_eq!(input["properties"]["image_input"]["items"]["format"], "uri");
    assert_no_429(&fake);
}

#[tokio::test]
async fn a_one_of_input_is_kept_as_published() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let seedance = client
        .model_schema("bytedance/seedance-2-mini")
        .await
        .expect("the schema");
    let input = seedance.input_schema().expect("runs through createTask");
    let alternatives = input["oneOf"].as_array().expect("a oneOf of two inputs");
    assert_eq!(alternatives.len(), 2);
    assert_eq!(alternatives[0]["title"], "Text to video");
    assert_eq!(
        alternatives[1]["required"],
        json!(["prompt", "first_frame_url"])
    );
    // Seedance's duration is an integer (Kling's is a string): the schema says which.
    assert_eq!(alternatives[0]["properties"]["duration"]["type"], "integer");
}

#[tokio::test]
async fn model_ids_reach_the_service_with_their_slashes_as_they_are() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let wan = client
        .model_schema("wan/2-6-text-to-video")
        .await
        .expect("known, not yet synced");
    let price = client
        .model_price("kling-2.6/text-to-video")
        .await
        .expect("the price");
    assert_eq!(
        price.pricing_desc.as_deref(),
        Some("A 5-second video costs 55 credits (0.275 USD)")
    );
    assert_eq!(price.model, "kling-2.6/text-to-video");
    assert_eq!(wan.model, "wan/2-6-text-to-video");

    let log = fake.log();
    let paths: Vec<&str> = log
        .requests()
        .iter()
        .map(|request| request.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/v1/models/wan/2-6-text-to-video/schema",
            "/api/v1/models/kling-2.6/text-to-video/price"
        ]
    );
}

#[tokio::test]
async fn a_model_not_yet_synced_or_on_its_own_paths_is_an_outcome() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let wan = client
        .model_schema("wan/2-6-text-to-video")
        .await
        .expect("`openapi: null` is an answer");
    assert_eq!(wan.input, ModelInput::NotSynced);
    assert_eq!(wan.input_schema(), None);
    let veo = client
        .model_schema("veo3_fast")
        .await
        .expect("a document without createTask is an answer");
    assert_eq!(
        veo.input,
        ModelInput::NotCreateTask {
            paths: vec!["/api/v1/veo/generate".into()]
        }
    );
    assert_eq!(fake.log().count(Endpoint::ModelSchema), 2, "not retried");
}

#[tokio::test]
async fn an_unknown_model_is_not_found_and_a_bad_id_never_leaves() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let error = client
        .model_schema("no-such/model")
        .await
        .expect_err("unknown");
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert_eq!((error.code, error.attempts), (Some(404), 1));
    assert_eq!(error.operation, Operation::ModelSchema);
    let error = client
        .model_price("no-such-model")
        .await
        .expect_err("unknown");
    assert_eq!(error.kind, ErrorKind::NotFound);

    for bad in ["", "kling-2.6/../video", "/kling", "kling//video"] {
        let error = client.model_schema(bad).await.expect_err("refused");
        assert_eq!(
            error.kind,
            ErrorKind::InvalidModelId {
                model: bad.to_owned()
            }
        );
    }
    assert_eq!(
        fake.log().requests().len(),
        2,
        "the bad ids were never sent"
    );
}

#[tokio::test]
async fn an_answer_of_another_shape_is_an_error_that_names_what_was_found() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let cases = [
        (
            Endpoint::ListModels,
            json!({"total": 1, "models": [{"model": "m", "taskType": 7}]}),
            "`data.models[0].taskType` is a number, expected a list of strings",
        ),
        (
            Endpoint::ModelSchema,
            json!({"model": "nano-banana-2", "openapi": [1, 2]}),
            "`data.openapi` is a list, expected an object or null",
        ),
        (
            Endpoint::ModelSchema,
            json!({"model": "nano-banana-2", "openapi": {"paths": {"/api/v1/jobs/createTask": {
                "post": {"requestBody": {"content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Missing"
                }}}}}
            }}}}),
            "points at nothing in the document",
        ),
        (
            Endpoint::ModelPrice,
            json!({"model": "nano-banana-2"}),
            "`data.pricingDesc` is missing",
        ),
    ];
    for (endpoint, data, expected) in cases {
        let body = json!({"code": 200, "msg": "success", "data": data});
        fake.inject(
            endpoint,
            Fault::Json {
                status: 200,
                body: body.clone(),
            },
            Times::Once,
        );
        let result = match endpoint {
            Endpoint::ListModels => client
                .list_models(&ModelFilter::default())
                .await
                .map(|_| ()),
            Endpoint::ModelSchema => client.model_schema("nano-banana-2").await.map(|_| ()),
            _ => client.model_price("nano-banana-2").await.map(|_| ()),
        };
        let error = result.expect_err("a wrong shape");
        match &error.kind {
            ErrorKind::UnexpectedAnswer(what) => assert!(what.contains(expected), "{what}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(error.attempts, 1, "a wrong shape is not retried");
        let evidence = error.raw_body.as_deref().unwrap_or_default();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(evidence).ok(),
            Some(body),
            "the raw body is kept"
        );
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[tokio::test]
async fn twenty_catalogue_calls_in_a_row_meet_no_429() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    for _ in 0..20 {
        client
            .model_schema("kling-2.6/text-to-video")
            .await
            .expect("paced, never refused");
    }
    assert_eq!(fake.log().count(Endpoint::ModelSchema), 20);
    assert_no_429(&fake);
}

#[tokio::test]
async fn clones_share_the_pacing() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let models = [
        "kling-2.6/text-to-video",
        "bytedance/seedance-2-mini",
        "nano-banana-2",
        "wan/2-6-text-to-video",
        "veo3_fast",
    ];
    let mut calls = tokio::task::JoinSet::new();
    for index in 0..20 {
        let clone = client.clone();
        let model = models[index % models.len()];
        calls.spawn(async move {
            match index % 3 {
                0 => clone.model_schema(model).await.map(|_| ()),
                1 => clone.model_price(model).await.map(|_| ()),
                _ => clone.list_models(&ModelFilter::default()).await.map(|_| ()),
            }
        });
    }
    while let Some(joined) = calls.join_next().await {
        joined.expect("the call ran").expect("paced, never refused");
    }
    let log = fake.log();
    let catalogue_requests = log
        .requests()
        .iter()
        .filter(|request| request.endpoint.is_some_and(Endpoint::is_catalogue))
        .count();
    assert_eq!(catalogue_requests, 20);
    assert_no_429(&fake);
}

#[tokio::test]
async fn a_429_is_retried_under_the_retry_policy() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    fake.inject(
        Endpoint::ModelSchema,
        Fault::catalogue_rate_limited(),
        Times::Once,
    );
    let schema = client
        .model_schema("nano-banana-2")
        .await
        .expect("succeeds on the retry");
    assert!(schema.input_schema().is_some());
    let log = fake.log();
    let requests = log.requests_to(Endpoint::ModelSchema);
    assert_eq!(requests.len(), 2);
    assert_eq!((requests[0].status, requests[0].code), (200, Some(429)));
    assert_eq!(requests[1].code, Some(200));
    // A 429 without Retry-After waits out a full rate-limit window of the policy.
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(
        waited >= client.config().retry.rate_limit_window,
        "{waited:?}"
    );
}

#[tokio::test]
async fn two_clients_of_one_account_survive_the_shared_limit() {
    // Two separately built clients do not share pacing: what one sends may meet the
    // limit the other used up, and is then retried until it gets through.
    let fake = catalogue_fake().await;
    let first = paced_client(&fake);
    let second = paced_client(&fake);
    let (a, b) = tokio::join!(
        async {
            for _ in 0..3 {
                first.model_price("nano-banana-2").await?;
            }
            Ok::<_, sora_batch_api::ApiError>(())
        },
        async {
            for _ in 0..3 {
                second.model_price("veo3_fast").await?;
            }
            Ok::<_, sora_batch_api::ApiError>(())
        }
    );
    a.expect("every call gets through");
    b.expect("every call gets through");
    let log = fake.log();
    assert_eq!(log.count(Endpoint::ModelPrice), 6 + log.answered_code(429));
}

#[tokio::test]
async fn the_fakes_catalogue_changes_while_it_runs_as_the_live_one_does() {
    let fake = catalogue_fake().await;
    let client = paced_client(&fake);
    let model = "kling-2.6/text-to-video";
    fake.set_model_price(model, "A 5-second video costs 60 credits (0.30 USD)");
    fake.edit_model_openapi(model, |document| {
        let input = &mut document["components"]["schemas"]["KlingTextToVideoInput"];
        input["properties"]["duration"]["enum"] = json!(["5", "15"]);
        if let Some(properties) = input["properties"].as_object_mut() {
            properties.remove("sound");
        }
    });
    let price = client.model_price(model).await.expect("the price");
    assert_eq!(
        price.pricing_desc.as_deref(),
        Some("A 5-second video costs 60 credits (0.30 USD)")
    );
    let listed = client
        .list_models(&ModelFilter::default())
        .await
        .expect("the list");
    assert_eq!(
        listed.models[0].pricing_desc.as_deref(),
        Some("A 5-second video costs 60 credits (0.30 USD)"),
        "the list says the same as the price call"
    );
    let schema = client.model_schema(model).await.expect("the schema");
    let input = schema.input_schema().expect("runs through createTask");
    assert_eq!(input["properties"]["duration"]["enum"], json!(["5", "15"]));
    assert!(input["properties"].get("sound").is_none());

    fake.remove_model(model);
    let gone = client.model_schema(model).await.expect_err("removed");
    assert!(gone.to_string().contains("404"), "{gone}");
    assert_no_429(&fake);
}
