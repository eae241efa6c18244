//! Reading the tool's JSON documents back into their Rust types (docs/json-output.md): a
//! document as a real run wrote it must read back into its type, lose or add nothing, and
//! write again to the same bytes. Shared by the integration tests through `#[path]`.

use std::fmt::Debug;

use cmi_agent::doctor::DoctorDocument;
use cmi_agent::import::ImportDocument;
use cmi_agent::jobs::{JobDocument, JobsDocument, ModelsDocument};
use cmi_agent::manifest::Manifest;
use cmi_agent::push::PushDocument;
use cmi_agent::verify::VerifyDocument;
use cmi_agent::watch::daemon::WatchReport;
use cmi_format::document::CheckDocument;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Pretty JSON with a trailing newline, as every document is written.
pub fn pretty<T: Serialize + ?Sized>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("serializes");
    text.push('\n');
    text
}

/// Reads `json`, one document as the tool wrote it, into `T`, and checks that nothing is lost
/// or added (the typed value serializes to the same JSON value) and that writing it again
/// gives the same bytes: in `T`'s field order, or, for a document written through
/// [`serde_json::Value`] (its keys in ascending order at every level), in that order.
pub fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(json: &str) -> T {
    let document: T = serde_json::from_str(json).unwrap_or_else(|e| {
        panic!(
            "does not read as {}: {e}\n{json}",
            std::any::type_name::<T>()
        )
    });
    let value: Value = serde_json::from_str(json).expect("JSON");
    let typed = serde_json::to_value(&document).expect("serializes");
    assert_eq!(
        typed,
        value,
        "{} loses or adds fields",
        std::any::type_name::<T>()
    );
    let again = if json == pretty(&value) {
        pretty(&typed)
    } else {
        pretty(&document)
    };
    assert_eq!(
        again,
        json,
        "{} writes other bytes",
        std::any::type_name::<T>()
    );
    let read_again: T = serde_json::from_str(&again).expect("reads again");
    assert_eq!(read_again, document);
    document
}

/// Every schema the tool writes, one per document type (docs/json-output.md lists the same).
pub const SCHEMAS: [&str; 10] = [
    CheckDocument::SCHEMA,
    VerifyDocument::SCHEMA,
    Manifest::SCHEMA,
    ImportDocument::SCHEMA,
    JobDocument::SCHEMA,
    JobsDocument::SCHEMA,
    ModelsDocument::SCHEMA,
    DoctorDocument::SCHEMA,
    WatchReport::SCHEMA,
    PushDocument::SCHEMA,
];

/// Round-trips `json` through the type its `schema` field names (see [`round_trip`]), and
/// returns it as a plain JSON value for the test's own assertions. A document without a schema
/// the tool knows fails the test.
pub fn typed(json: &str) -> Value {
    let value: Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    let schema = value["schema"].as_str().unwrap_or_default();
    assert!(
        SCHEMAS.contains(&schema),
        "a document of an unknown schema {schema:?}: {json}"
    );
    let named = match schema {
        CheckDocument::SCHEMA => round_trip::<CheckDocument>(json).schema,
        VerifyDocument::SCHEMA => round_trip::<VerifyDocument>(json).check.schema,
        Manifest::SCHEMA => round_trip::<Manifest>(json).schema,
        ImportDocument::SCHEMA => round_trip::<ImportDocument>(json).schema,
        JobDocument::SCHEMA => round_trip::<JobDocument>(json).schema,
        JobsDocument::SCHEMA => round_trip::<JobsDocument>(json).schema,
        ModelsDocument::SCHEMA => round_trip::<ModelsDocument>(json).schema,
        DoctorDocument::SCHEMA => round_trip::<DoctorDocument>(json).schema,
        WatchReport::SCHEMA => round_trip::<WatchReport>(json).check.schema,
        PushDocument::SCHEMA => round_trip::<PushDocument>(json).schema,
        other => unreachable!("{other} is in SCHEMAS without a type"),
    };
    assert_eq!(named, schema);
    value
}
