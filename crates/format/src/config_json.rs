//! config.json as the rules read it: the [`Config`] accessor over its JSON object. Its own
//! module because the config rules, the shape rules and the shared context all name it.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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

/// Reads a JSON document into a [`Value`] tree, refusing one of more than
/// [`MAX_JSON_VALUES`] values (object keys count as values) before building the tree.
///
/// A tree takes up to about 64 bytes per value (a 32-byte [`Value`] in a vector that may have
/// doubled, or an entry of an object's B-tree), while a value takes as little as 2 bytes of
/// text (`0,` or `[]`): a 60 MB document would need a gigabyte. A first pass over the text
/// counts the values without keeping any; the tree is built only when the count is within the
/// limit, so a document takes at most its own size plus 64 MiB. The errors of invalid JSON
/// are those of serde_json, from the second pass.
pub(crate) fn parse_value(bytes: &[u8]) -> Result<Value, String> {
    if exceeds_values(bytes, MAX_JSON_VALUES) {
        return Err(format!(
            "holds more than {MAX_JSON_VALUES} JSON values, which would take more memory than \
             the document limit allows; no model file holds that many"
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Whether `bytes` hold more than `limit` JSON values (object keys count as values), counted
/// in one pass that keeps none of them. Invalid JSON within the limit is not reported here:
/// the parse that follows says what is wrong with it.
pub(crate) fn exceeds_values(bytes: &[u8], limit: u64) -> bool {
    let count = Cell::new(0u64);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let counted = Count {
        count: &count,
        limit,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    counted.is_err() && count.get() > limit
}

/// Most values of a JSON document read into a [`Value`] tree: [`crate::inputs::DOCUMENT_LIMIT`]
/// divided by the 64 bytes a value may take in the tree, so the tree of a document never takes
/// more memory than the largest document itself. Real config.json, tokenizer_config.json and
/// generation_config.json files hold from tens to tens of thousands of values.
pub const MAX_JSON_VALUES: u64 = crate::inputs::DOCUMENT_LIMIT / 64;

/// Counts the values of a JSON document, keeping none, and fails once there are more than
/// `limit`.
#[derive(Clone, Copy)]
struct Count<'c> {
    count: &'c Cell<u64>,
    limit: u64,
}

impl Count<'_> {
    fn add<E: de::Error>(&self) -> Result<(), E> {
        let count = self.count.get() + 1;
        self.count.set(count);
        if count > self.limit {
            return Err(E::custom("too many values"));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.add()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.add()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.add()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.add()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.add()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.add()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.add()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.add()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            self.add()?;
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}
