//! The fake's model catalogue: `GET /api/v1/models`, `/api/v1/models/{model}/schema` and
//! `/api/v1/models/{model}/price`, served from the fixtures in `fixtures/api/catalogue/`.
//!
//! Read [`Catalogue`] first: the models the fake knows, in the order the list shows them, each
//! with its list entry, its OpenAPI document (`null` when "not yet synced") and its price
//! prose. It starts from the fixtures, which are full answers of the live service as
//! `kie-api-notes.md` ("Kie's model catalogue (2026)") describes them, laid out like the URL
//! paths (`models/kling-2.6/text-to-video/schema.json` answers
//! `/api/v1/models/kling-2.6/text-to-video/schema`); tests add or replace models with
//! [`crate::FakeKieBuilder::catalogue_model`]. The fixtures are compiled in, so the fake serves
//! them wherever it runs (the demo, `cargo xtask fake-server`).
//!
//! What the notes leave open, and this fake's choice:
//! - a model the catalogue does not know answers HTTP 200 with code 404 (`model not found`),
//!   like the service's other errors, rather than `openapi: null`, which means "known but not
//!   yet synced";
//! - the list's filters: `taskType` is one of the model's task types, `provider` is the
//!   model's provider, `q` is found (ignoring case) in its id, slug, title or description;
//!   `total` counts what is listed.
//!
//! The shared limit of the catalogue calls (1 request per second, code 429 in HTTP 200 above
//! it) lives with the other limits, in [`crate::faults::RateLimiter`].

use serde_json::{Value, json};

use crate::answer::FakeAnswer;
use crate::faults::Endpoint;

/// One fixture model: where its schema and price answers are.
struct FixtureModel {
    id: &'static str,
    schema: &'static str,
    price: &'static str,
}

const MODELS_LIST: &str = include_str!("../../../fixtures/api/catalogue/models.json");

/// The fixture answers of each model in `models.json`, in its order.
const FIXTURE_MODELS: [FixtureModel; 5] = [
    FixtureModel {
        id: "kling-2.6/text-to-video",
        schema: include_str!(
            "../../../fixtures/api/catalogue/models/kling-2.6/text-to-video/schema.json"
        ),
        price: include_str!(
            "../../../fixtures/api/catalogue/models/kling-2.6/text-to-video/price.json"
        ),
    },
    FixtureModel {
        id: "bytedance/seedance-2-mini",
        schema: include_str!(
            "../../../fixtures/api/catalogue/models/bytedance/seedance-2-mini/schema.json"
        ),
        price: include_str!(
            "../../../fixtures/api/catalogue/models/bytedance/seedance-2-mini/price.json"
        ),
    },
    FixtureModel {
        id: "nano-banana-2",
        schema: include_str!("../../../fixtures/api/catalogue/models/nano-banana-2/schema.json"),
        price: include_str!("../../../fixtures/api/catalogue/models/nano-banana-2/price.json"),
    },
    FixtureModel {
        id: "wan/2-6-text-to-video",
        schema: include_str!(
            "../../../fixtures/api/catalogue/models/wan/2-6-text-to-video/schema.json"
        ),
        price: include_str!(
            "../../../fixtures/api/catalogue/models/wan/2-6-text-to-video/price.json"
        ),
    },
    FixtureModel {
        id: "veo3_fast",
        schema: include_str!("../../../fixtures/api/catalogue/models/veo3_fast/schema.json"),
        price: include_str!("../../../fixtures/api/catalogue/models/veo3_fast/price.json"),
    },
];

/// The message of the catalogue's rate-limit answer (code 429 in HTTP 200).
pub(crate) const CATALOGUE_RATE_LIMITED_MSG: &str =
    "Too many requests: the model catalogue allows 1 request per second.";
const MODEL_NOT_FOUND_MSG: &str = "model not found";

/// One model of the catalogue.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CatalogueModel {
    pub(crate) id: String,
    /// The model's entry in the list, as the list shows it.
    pub(crate) summary: Value,
    /// The OpenAPI document, or `Value::Null` when not yet synced.
    pub(crate) openapi: Value,
    pub(crate) pricing_desc: Value,
    /// Put there by a test ([`crate::FakeKieBuilder::catalogue_model`]) rather than read
    /// from the fixtures: its schema is the one createTask enforces (see `schemas.rs`).
    pub(crate) given_by_test: bool,
}

/// Every model the fake's catalogue knows, in list order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Catalogue {
    models: Vec<CatalogueModel>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Catalogue::from_fixtures()
    }
}

impl Catalogue {
    /// The catalogue of `fixtures/api/catalogue/`.
    ///
    /// The fixtures are part of this crate's source: one that does not parse is a defect of
    /// the repository, which the unit tests below catch, not something a test run can meet.
    pub(crate) fn from_fixtures() -> Catalogue {
        let list = fixture_data("models.json", MODELS_LIST);
        let summaries = list
            .get("models")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let models = summaries
            .into_iter()
            .map(|summary| {
                let id = summary
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let fixture = FIXTURE_MODELS.iter().find(|fixture| fixture.id == id);
                let schema = fixture.map_or(Value::Null, |fixture| {
                    fixture_data(fixture.id, fixture.schema)
                });
                let price = fixture.map_or(Value::Null, |fixture| {
                    fixture_data(fixture.id, fixture.price)
                });
                CatalogueModel {
                    openapi: schema.get("openapi").cloned().unwrap_or(Value::Null),
                    pricing_desc: price.get("pricingDesc").cloned().unwrap_or(Value::Null),
                    id,
                    summary,
                    given_by_test: false,
                }
            })
            .collect();
        Catalogue { models }
    }

    /// Adds a model, or replaces the one with the same id where it stands in the list.
    pub(crate) fn insert(&mut self, model: CatalogueModel) {
        match self.models.iter_mut().find(|known| known.id == model.id) {
            Some(known) => *known = model,
            None => self.models.push(model),
        }
    }

    pub(crate) fn model(&self, id: &str) -> Option<&CatalogueModel> {
        self.models.iter().find(|model| model.id == id)
    }

    /// The model `id` when a test put it in the catalogue.
    pub(crate) fn given_by_test(&self, id: &str) -> Option<&CatalogueModel> {
        self.model(id).filter(|model| model.given_by_test)
    }

    /// The model `id`, to change what the catalogue says of it while the fake runs;
    /// `None` when the catalogue does not know it.
    pub(crate) fn model_mut(&mut self, id: &str) -> Option<&mut CatalogueModel> {
        self.models.iter_mut().find(|model| model.id == id)
    }

    /// Forgets the model `id`; whether it was known.
    pub(crate) fn remove(&mut self, id: &str) -> bool {
        let before = self.models.len();
        self.models.retain(|model| model.id != id);
        self.models.len() != before
    }

    /// `GET /api/v1/models` with its (decoded) query parameters.
    pub(crate) fn list(&self, query: &[(String, String)]) -> FakeAnswer {
        let parameter = |name: &str| {
            query
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.trim())
                .filter(|value| !value.is_empty())
        };
        let (task_type, provider, words) =
            (parameter("taskType"), parameter("provider"), parameter("q"));
        let listed: Vec<Value> = self
            .models
            .iter()
            .filter(|model| task_type.is_none_or(|wanted| has_task_type(&model.summary, wanted)))
            .filter(|model| {
                provider.is_none_or(|wanted| {
                    text_of(&model.summary, "provider").eq_ignore_ascii_case(wanted)
                })
            })
            .filter(|model| words.is_none_or(|words| mentions(&model.summary, words)))
            .map(|model| model.summary.clone())
            .collect();
        FakeAnswer::success(json!({"total": listed.len(), "models": listed}))
    }

    /// `GET /api/v1/models/{model}/schema`.
    pub(crate) fn schema(&self, id: &str) -> FakeAnswer {
        match self.model(id) {
            Some(model) => {
                FakeAnswer::success(json!({"model": model.id, "openapi": model.openapi}))
            }
            None => FakeAnswer::envelope_error(404, MODEL_NOT_FOUND_MSG),
        }
    }

    /// `GET /api/v1/models/{model}/price`.
    pub(crate) fn price(&self, id: &str) -> FakeAnswer {
        match self.model(id) {
            Some(model) => {
                FakeAnswer::success(json!({"model": model.id, "pricingDesc": model.pricing_desc}))
            }
            None => FakeAnswer::envelope_error(404, MODEL_NOT_FOUND_MSG),
        }
    }
}

/// The catalogue route of a path, with the model id as it stands in the path (not decoded: a
/// client that percent-encodes the `/` of an id asks for a model nobody knows, as it would
/// of the live service).
pub(crate) fn route(path: &str) -> Option<(Endpoint, &str)> {
    if path == "/api/v1/models" {
        return Some((Endpoint::ListModels, ""));
    }
    let rest = path.strip_prefix("/api/v1/models/")?;
    let (endpoint, model) = if let Some(model) = rest.strip_suffix("/schema") {
        (Endpoint::ModelSchema, model)
    } else {
        (Endpoint::ModelPrice, rest.strip_suffix("/price")?)
    };
    (!model.is_empty()).then_some((endpoint, model))
}

fn fixture_data(name: &str, text: &str) -> Value {
    let answer: Value = serde_json::from_str(text)
        .unwrap_or_else(|error| panic!("the catalogue fixture {name} is not JSON: {error}"));
    answer.get("data").cloned().unwrap_or(Value::Null)
}

fn text_of<'a>(summary: &'a Value, field: &str) -> &'a str {
    summary.get(field).and_then(Value::as_str).unwrap_or("")
}

fn has_task_type(summary: &Value, wanted: &str) -> bool {
    summary
        .get("taskType")
        .and_then(Value::as_array)
        .is_some_and(|types| {
            types
                .iter()
                .filter_map(Value::as_str)
                .any(|task_type| task_type.eq_ignore_ascii_case(wanted))
        })
}

fn mentions(summary: &Value, words: &str) -> bool {
    let words = words.to_lowercase();
    ["model", "slug", "title", "description"]
        .iter()
        .any(|field| text_of(summary, field).to_lowercase().contains(&words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_fixture_model_has_its_schema_and_price() {
        let catalogue = Catalogue::from_fixtures();
        assert_eq!(catalogue.models.len(), FIXTURE_MODELS.len());
        for (model, fixture) in catalogue.models.iter().zip(FIXTURE_MODELS.iter()) {
            assert_eq!(model.id, fixture.id, "models.json and FIXTURE_MODELS agree");
            assert!(model.pricing_desc.is_string(), "{}", model.id);
            assert!(
                model.openapi.is_object() || model.openapi.is_null(),
                "{}",
                model.id
            );
            // Each fixture answers for the model whose folder it sits in.
            for text in [fixture.schema, fixture.price] {
                assert_eq!(fixture_data(fixture.id, text)["model"], fixture.id);
            }
        }
    }

    #[test]
    fn routes_keep_the_model_id_as_it_stands_in_the_path() {
        assert_eq!(route("/api/v1/models"), Some((Endpoint::ListModels, "")));
        assert_eq!(
            route("/api/v1/models/wan/2-6-text-to-video/schema"),
            Some((Endpoint::ModelSchema, "wan/2-6-text-to-video"))
        );
        assert_eq!(
            route("/api/v1/models/nano-banana-2/price"),
            Some((Endpoint::ModelPrice, "nano-banana-2"))
        );
        assert_eq!(
            route("/api/v1/models/wan%2F2-6-text-to-video/schema"),
            Some((Endpoint::ModelSchema, "wan%2F2-6-text-to-video"))
        );
        assert_eq!(route("/api/v1/models/schema"), None);
        assert_eq!(route("/api/v1/models//price"), None);
        assert_eq!(route("/api/v1/models/x/success-rate"), None);
    }

    #[test]
    fn filters_narrow_the_list_and_total_counts_what_is_listed() {
        let catalogue = Catalogue::from_fixtures();
        let listed = |query: &[(&str, &str)]| {
            let query: Vec<(String, String)> = query
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect();
            match catalogue.list(&query).body {
                crate::answer::AnswerBody::Json(body) => body["data"].clone(),
                _ => Value::Null,
            }
        };
        assert_eq!(listed(&[])["total"], 5);
        let videos = listed(&[("taskType", "text-to-video"), ("provider", "Google")]);
        assert_eq!(videos["total"], 1);
        assert_eq!(videos["models"][0]["model"], "veo3_fast");
        assert_eq!(listed(&[("q", "SEEDANCE")])["total"], 1);
        assert_eq!(listed(&[("q", "nothing like it")])["models"], json!([]));
        assert_eq!(listed(&[("provider", "")])["total"], 5);
    }
}
