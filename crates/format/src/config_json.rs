//! config.json as the rules read it: the [`Config`] accessor over its JSON object. Its own
//! module because the config rules, the shape rules and the shared context all name it.

use serde_json::{Map, Value};

/// A parsed config.json object.
#[derive(Debug, Clone)]
pub struct Config {
    object: Map<String, Value>,
}

impl Config {
    /// Wraps a JSON object.
    pub fn new(object: Map<String, Value>) -> Config {
        Config { object }
    }

    /// The value at a dotted path such as `text_config.vocab_size`.
    pub fn get(&self, dotted: &str) -> Option<&Value> {
        let mut parts = dotted.split('.');
        let mut value = self.object.get(parts.next()?)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    /// The value at the first of `keys` that is present and not null, with its key.
    pub fn first<'k>(&self, keys: &[&'k str]) -> Option<(&'k str, &Value)> {
        keys.iter()
            .find_map(|k| self.get(k).filter(|v| !v.is_null()).map(|v| (*k, v)))
    }

    /// `model_type`.
    pub fn model_type(&self) -> Option<&str> {
        self.get("model_type")?.as_str()
    }

    /// `architectures[0]`.
    pub fn architecture(&self) -> Option<&str> {
        self.get("architectures")?.as_array()?.first()?.as_str()
    }

    /// `torch_dtype`, or `dtype` as transformers 4.56 and later write it.
    pub fn torch_dtype(&self) -> Option<(&'static str, &str)> {
        ["torch_dtype", "dtype"]
            .into_iter()
            .find_map(|k| self.get(k).and_then(Value::as_str).map(|v| (k, v)))
    }
}

/// The JSON type of a value, for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The whole document as UTF-8 text, or why it is not. A JSON document must be UTF-8 (RFC
/// 8259, section 8.1) and Python's `json` and the tokenizers library refuse one that is not;
/// serde_json checks the strings it reads, not those of the parts it skips, so a document
/// read into a partial type is checked here first.
pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "the document is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })
}
