//! Tokenizer files: presence, validity, supported classes, chat templates and token ids.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::config_json::{json_kind, parse_value, utf8};
use crate::context::Context;
use crate::finding::Finding;
use crate::inputs::{
    CHAT_TEMPLATE_JINJA, CHAT_TEMPLATE_JSON, CONFIG_JSON, SENTENCEPIECE_MODEL_FILES,
    TOKENIZER_CONFIG_JSON, TOKENIZER_JSON,
};
use crate::rules::RuleId;

/// Tokenizer classes that Bedrock documents as supported (Amazon Bedrock User Guide, "Use
/// Custom model import to import a customized open-source model into Amazon Bedrock").
pub const SUPPORTED_TOKENIZER_CLASSES: &[&str] = &[
    "T5Tokenizer",
    "T5TokenizerFast",
    "LlamaTokenizer",
    "LlamaTokenizerFast",
    "CodeLlamaTokenizer",
    "CodeLlamaTokenizerFast",
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
    "GPTNeoXTokenizer",
    "GPTNeoXTokenizerFast",
    "PreTrainedTokenizer",
    "PreTrainedTokenizerFast",
    "Qwen2Tokenizer",
    "Qwen2TokenizerFast",
];

/// Classes built on a SentencePiece model, which ship a tokenizer.model.
pub const SENTENCEPIECE_CLASSES: &[&str] = &[
    "LlamaTokenizer",
    "LlamaTokenizerFast",
    "CodeLlamaTokenizer",
    "CodeLlamaTokenizerFast",
    "T5Tokenizer",
    "T5TokenizerFast",
];

/// config.json `model_type`s of architectures that are not chat models and ship no chat
/// template, so that TK011 does not apply: Flan-T5 (`t5`) is a text-to-text model, and
/// google/flan-t5-* have no template on the Hugging Face Hub; GPTBigCode (`gpt_bigcode`) is the
/// architecture of the code-completion models bigcode/starcoder and bigcode/gpt_bigcode-santacoder,
/// which ship none either (a chat fine-tune such as StarChat brings its own, and is checked as such).
pub const NO_CHAT_TEMPLATE_MODEL_TYPES: &[&str] = &["t5", "gpt_bigcode"];

/// Slow classes that can be built only from tokenizer.model.
pub const SENTENCEPIECE_ONLY_CLASSES: &[&str] =
    &["LlamaTokenizer", "CodeLlamaTokenizer", "T5Tokenizer"];

/// What tokenizer.json says about its ids.
#[derive(Debug, Default)]
struct TokenIds {
    /// The model kind (`BPE`, `Unigram`, `WordPiece`, `WordLevel`).
    kind: Option<String>,
    /// Whether the model falls back to bytes (SentencePiece-converted BPE).
    byte_fallback: bool,
    /// Ids at or above the limit, with their token (bounded list).
    out_of_range: Vec<(u64, String)>,
    /// How many ids are out of range in all.
    out_of_range_count: u64,
}

/// Most out-of-range tokens kept for the message.
const SHOWN: usize = 3;

/// The ids of tokenizer.json, read in one pass that keeps no token beyond the few it shows:
/// a vocabulary of millions of entries takes no memory. Out-of-range vocabulary entries are
/// shown lowest id first (ties in document order), then out-of-range added tokens in document
/// order.
struct TokenizerSeed {
    limit: u64,
}

#[derive(Default)]
struct Found {
    vocab: Vec<(u64, String)>,
    vocab_count: u64,
    added: Vec<(u64, String)>,
    added_count: u64,
}

#[derive(Default)]
struct RawModel {
    kind: Option<String>,
    byte_fallback: Option<bool>,
}

impl<'de> Visitor<'de> for TokenizerSeed {
    type Value = (RawModel, Found);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct RawTokenizer")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Found::default();
        let mut model: Option<RawModel> = None;
        let mut added_seen = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "added_tokens" => {
                    if added_seen {
                        return Err(de::Error::duplicate_field("added_tokens"));
                    }
                    added_seen = true;
                    map.next_value_seed(Added {
                        limit: self.limit,
                        found: &mut found,
                    })?;
                }
                "model" => {
                    if model.is_some() {
                        return Err(de::Error::duplicate_field("model"));
                    }
                    model = Some(map.next_value_seed(ModelSeed {
                        limit: self.limit,
                        found: &mut found,
                    })?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let model = model.ok_or_else(|| de::Error::missing_field("model"))?;
        Ok((model, found))
    }
}

impl<'de> DeserializeSeed<'de> for TokenizerSeed {
    type Value = (RawModel, Found);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_struct("RawTokenizer", &["added_tokens", "model"], self)
    }
}

#[derive(Deserialize)]
struct RawAddedToken {
    id: u64,
    content: String,
}

/// `added_tokens`: a list of tokens, noted one by one.
struct Added<'f> {
    limit: u64,
    found: &'f mut Found,
}

impl<'de> DeserializeSeed<'de> for Added<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Added<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(token) = seq.next_element::<RawAddedToken>()? {
            if token.id >= self.limit {
                self.found.added_count += 1;
                if self.found.added.len() < SHOWN {
                    self.found.added.push((token.id, token.content));
                }
            }
        }
        Ok(())
    }
}

/// `model`: its type, byte fallback and vocabulary.
struct ModelSeed<'f> {
    limit: u64,
    found: &'f mut Found,
}

impl<'de> DeserializeSeed<'de> for ModelSeed<'_> {
    type Value = RawModel;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawModel, D::Error> {
        deserializer.deserialize_struct("RawModel", &["type", "byte_fallback", "vocab"], self)
    }
}

impl<'de> Visitor<'de> for ModelSeed<'_> {
    type Value = RawModel;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct RawModel")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawModel, A::Error> {
        let mut model = RawModel::default();
        let (mut kind_seen, mut fallback_seen, mut vocab_seen) = (false, false, false);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => {
                    if std::mem::replace(&mut kind_seen, true) {
                        return Err(de::Error::duplicate_field("type"));
                    }
                    model.kind = map.next_value()?;
                }
                "byte_fallback" => {
                    if std::mem::replace(&mut fallback_seen, true) {
                        return Err(de::Error::duplicate_field("byte_fallback"));
                    }
                    model.byte_fallback = map.next_value()?;
                }
                "vocab" => {
                    if std::mem::replace(&mut vocab_seen, true) {
                        return Err(de::Error::duplicate_field("vocab"));
                    }
                    map.next_value_seed(VocabSeed {
                        limit: self.limit,
                        found: &mut *self.found,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(model)
    }
}

/// A vocabulary: a map of token to id (BPE, WordPiece, WordLevel), or a list of
/// `[token, score]` pairs whose index is the id (Unigram), or null; only its length and the
/// lowest out-of-range ids are kept.
struct VocabSeed<'f> {
    limit: u64,
    found: &'f mut Found,
}

impl<'de> DeserializeSeed<'de> for VocabSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for VocabSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of tokens to ids or a list of [token, score] pairs")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some((token, id)) = map.next_entry::<String, u64>()? {
            if id >= self.limit {
                self.found.vocab_count += 1;
                let at = self.found.vocab.partition_point(|(shown, _)| *shown <= id);
                if at < SHOWN {
                    self.found.vocab.insert(at, (id, token));
                    self.found.vocab.truncate(SHOWN);
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut len = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            len += 1;
        }
        for id in self.limit..len {
            self.found.vocab_count += 1;
            if self.found.vocab.len() < SHOWN {
                self.found.vocab.push((id, format!("#{id}")));
            }
        }
        Ok(())
    }
}

fn scan(bytes: &[u8], limit: Option<u64>) -> Result<TokenIds, String> {
    let text = utf8(bytes)?;
    let limit = limit.unwrap_or(u64::MAX);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let (model, found) = TokenizerSeed { limit }
        .deserialize(&mut deserializer)
        .and_then(|parsed| deserializer.end().map(|()| parsed))
        .map_err(|e| e.to_string())?;
    let mut out_of_range = found.vocab;
    out_of_range.extend(found.added);
    out_of_range.truncate(SHOWN);
    Ok(TokenIds {
        kind: model.kind,
        byte_fallback: model.byte_fallback.unwrap_or(false),
        out_of_range,
        out_of_range_count: found.vocab_count + found.added_count,
    })
}

/// Runs the tokenizer rules.
pub(crate) fn check(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let artifact = context.artifact;
    if !artifact.has(CONFIG_JSON)
        && !artifact.has(TOKENIZER_JSON)
        && !artifact.has(TOKENIZER_CONFIG_JSON)
    {
        // Not a model folder at all; the layout rules have said so.
        if artifact.top_level_safetensors().next().is_none() {
            return;
        }
    }
    let tokenizer_config = read_tokenizer_config(context, findings);
    let tokenizer_class = tokenizer_config
        .as_ref()
        .and_then(|c| c.get("tokenizer_class"))
        .and_then(Value::as_str);
    let limit = vocab_limit(context);
    let ids = match artifact.documents.get(TOKENIZER_JSON) {
        Some(bytes) => match scan(bytes, limit) {
            Ok(ids) => Some(ids),
            Err(error) => {
                findings.push(Finding::new(
                    RuleId::TokenizerInvalid,
                    TOKENIZER_JSON,
                    format!("cannot be read as a tokenizer: {error}"),
                ));
                None
            }
        },
        None => {
            if !artifact.has(TOKENIZER_JSON) {
                findings.push(Finding::new(
                    RuleId::MissingTokenizerJson,
                    "",
                    "no tokenizer.json at the top level of the artifact",
                ));
            }
            None
        }
    };
    if let (Some(ids), Some(limit)) = (&ids, limit) {
        report_out_of_range(ids, limit, findings);
    }
    if let Some(class) = tokenizer_class {
        if !SUPPORTED_TOKENIZER_CLASSES.contains(&class) {
            findings.push(Finding::new(
                RuleId::UnsupportedTokenizerClass,
                TOKENIZER_CONFIG_JSON,
                format!("tokenizer_class {class:?} is not in Bedrock's supported list"),
            ));
        }
    }
    check_sentencepiece(context, tokenizer_class, ids.as_ref(), findings);
    check_chat_templates(context, tokenizer_config.as_ref(), findings);
}

fn read_tokenizer_config(
    context: &Context<'_>,
    findings: &mut Vec<Finding>,
) -> Option<serde_json::Map<String, Value>> {
    let artifact = context.artifact;
    let Some(bytes) = artifact.documents.get(TOKENIZER_CONFIG_JSON) else {
        if !artifact.has(TOKENIZER_CONFIG_JSON) {
            findings.push(Finding::new(
                RuleId::MissingTokenizerConfig,
                "",
                "no tokenizer_config.json at the top level of the artifact",
            ));
        }
        return None;
    };
    match parse_value(bytes) {
        Ok(Value::Object(object)) => Some(object),
        Ok(other) => {
            findings.push(Finding::new(
                RuleId::TokenizerInvalid,
                TOKENIZER_CONFIG_JSON,
                format!("is a JSON {}, not an object", json_kind(&other)),
            ));
            None
        }
        Err(error) => {
            findings.push(Finding::new(
                RuleId::TokenizerInvalid,
                TOKENIZER_CONFIG_JSON,
                format!("is not valid JSON: {error}"),
            ));
            None
        }
    }
}

/// The number of embedding rows, from config.json.
fn vocab_limit(context: &Context<'_>) -> Option<u64> {
    let config = context.config.as_ref()?;
    let keys = context
        .architecture
        .map(|a| a.vocab_keys)
        .unwrap_or(&["vocab_size"]);
    let extra = context.architecture.map_or(0, |a| a.extra_embedding_rows);
    config.first(keys)?.1.as_u64()?.checked_add(extra)
}

fn report_out_of_range(ids: &TokenIds, limit: u64, findings: &mut Vec<Finding>) {
    if ids.out_of_range_count == 0 {
        return;
    }
    let shown: Vec<String> = ids
        .out_of_range
        .iter()
        .map(|(id, token)| format!("{token:?} = {id}"))
        .collect();
    findings.push(Finding::new(
        RuleId::TokenIdOutOfRange,
        TOKENIZER_JSON,
        format!(
            "{} token id(s) are at or above vocab_size {limit} in config.json ({}{})",
            ids.out_of_range_count,
            shown.join(", "),
            if ids.out_of_range_count > shown.len() as u64 {
                ", ..."
            } else {
                ""
            }
        ),
    ));
}

fn check_sentencepiece(
    context: &Context<'_>,
    tokenizer_class: Option<&str>,
    ids: Option<&TokenIds>,
    findings: &mut Vec<Finding>,
) {
    let artifact = context.artifact;
    if SENTENCEPIECE_MODEL_FILES
        .iter()
        .any(|name| artifact.has(name))
    {
        return;
    }
    // tokenizer.json says what the tokenizer really is (a Llama 3 derivative may carry a
    // Llama class name over a byte-level BPE); the class decides only without it.
    let sentencepiece = match ids {
        Some(ids) => ids.kind.as_deref() == Some("Unigram") || ids.byte_fallback,
        None => tokenizer_class.is_some_and(|c| SENTENCEPIECE_CLASSES.contains(&c)),
    };
    if !sentencepiece {
        return;
    }
    let class = tokenizer_class.unwrap_or("a SentencePiece tokenizer");
    if tokenizer_class.is_some_and(|c| SENTENCEPIECE_ONLY_CLASSES.contains(&c))
        && !artifact.has(TOKENIZER_JSON)
    {
        findings.push(Finding::new(
            RuleId::SentencepieceModelRequired,
            TOKENIZER_CONFIG_JSON,
            format!("{class} needs tokenizer.model (spiece.model for T5), and there is neither a SentencePiece model nor tokenizer.json"),
        ));
    } else {
        findings.push(Finding::new(
            RuleId::MissingTokenizerModel,
            "",
            format!(
                "{class} is SentencePiece-based, and there is no tokenizer.model (or spiece.model)"
            ),
        ));
    }
}

/// Whether a top-level file name looks like a chat template without being one of the two
/// exact names.
pub fn is_misnamed_chat_template(name: &str) -> bool {
    if name == CHAT_TEMPLATE_JINJA || name == CHAT_TEMPLATE_JSON || name.contains('/') {
        return false;
    }
    let normal: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .collect();
    normal.starts_with("chat_template") || normal.starts_with("chattemplate")
}

fn check_chat_templates(
    context: &Context<'_>,
    tokenizer_config: Option<&serde_json::Map<String, Value>>,
    findings: &mut Vec<Finding>,
) {
    let artifact = context.artifact;
    let mut misnamed = false;
    for entry in &artifact.entries {
        if is_misnamed_chat_template(&entry.path) {
            misnamed = true;
            findings.push(Finding::new(
                RuleId::ChatTemplateMisnamed,
                entry.path.clone(),
                "looks like a chat template, but Bedrock reads only chat_template.jinja or chat_template.json",
            ));
        }
    }
    let mut files = Vec::new();
    // The templates the separate files hold, to compare with the embedded one.
    let mut file_templates = Vec::new();
    if let Some(entry) = artifact.entry(CHAT_TEMPLATE_JINJA) {
        files.push(CHAT_TEMPLATE_JINJA);
        let text = artifact.documents.get(CHAT_TEMPLATE_JINJA);
        file_templates.push(
            text.and_then(|b| std::str::from_utf8(b).ok())
                .map(|t| Value::String(t.to_string())),
        );
        let problem = match text.map(|b| std::str::from_utf8(b)) {
            _ if entry.size == 0 => Some("is empty".to_string()),
            Some(Err(e)) => Some(format!(
                "is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            )),
            Some(Ok(t)) if t.trim().is_empty() => Some("holds only whitespace".to_string()),
            _ => None,
        };
        if let Some(problem) = problem {
            findings.push(Finding::new(
                RuleId::ChatTemplateInvalid,
                CHAT_TEMPLATE_JINJA,
                problem,
            ));
        }
    }
    if artifact.has(CHAT_TEMPLATE_JSON) {
        files.push(CHAT_TEMPLATE_JSON);
        let value = artifact
            .documents
            .get(CHAT_TEMPLATE_JSON)
            .map(|b| parse_value(b));
        file_templates.push(
            value
                .as_ref()
                .and_then(|v| v.as_ref().ok())
                .and_then(|v| v.get("chat_template"))
                .cloned(),
        );
        let problem = match value {
            // Not read: the finding of the unreadable file says why.
            None => None,
            Some(Err(e)) => Some(format!("is not valid JSON: {e}")),
            Some(Ok(v)) => {
                template_problem(v.get("chat_template")).map(|p| format!("\"chat_template\" {p}"))
            }
        };
        if let Some(problem) = problem {
            findings.push(Finding::new(
                RuleId::ChatTemplateInvalid,
                CHAT_TEMPLATE_JSON,
                problem,
            ));
        }
    }
    // A misnamed template (TK008) is the template the user meant; renaming it fixes both.
    if files.is_empty()
        && !misnamed
        && tokenizer_config.is_some_and(|c| !c.contains_key("chat_template"))
    {
        check_no_template(context, findings);
    }
    let Some(embedded) = tokenizer_config.and_then(|c| c.get("chat_template")) else {
        return;
    };
    if let Some(problem) = template_problem(Some(embedded)) {
        findings.push(Finding::new(
            RuleId::ChatTemplateInvalid,
            TOKENIZER_CONFIG_JSON,
            format!("\"chat_template\" {problem}"),
        ));
    }
    // transformers 4.51.3 `ProcessorMixin.save_pretrained` writes chat_template.json beside the
    // tokenizer's embedded template (Mllama, Qwen2-VL): the same template twice is no conflict.
    let same = file_templates.iter().all(|t| t.as_ref() == Some(embedded));
    if !files.is_empty() && !same {
        findings.push(Finding::new(
            RuleId::ChatTemplateConflict,
            TOKENIZER_CONFIG_JSON,
            format!(
                "has a chat_template field that differs from {}; Bedrock uses the file and ignores the field",
                files.join(" and ")
            ),
        ));
    }
}

/// TK011: no chat template anywhere, for a model type that is a chat model.
fn check_no_template(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let model_type = context.config.as_ref().and_then(|c| c.model_type());
    if model_type.is_some_and(|t| NO_CHAT_TEMPLATE_MODEL_TYPES.contains(&t)) {
        return;
    }
    findings.push(Finding::new(
        RuleId::NoChatTemplate,
        "",
        format!(
            "no chat template: {TOKENIZER_CONFIG_JSON} has no chat_template field and there is no {CHAT_TEMPLATE_JINJA} or {CHAT_TEMPLATE_JSON}; Bedrock applies no default template, so chat requests to the imported model will not work"
        ),
    ));
}

/// What is wrong with a chat-template value: a non-empty string, or a list of
/// `{"name", "template"}` objects (named templates).
fn template_problem(value: Option<&Value>) -> Option<String> {
    match value {
        None => Some("is missing".to_string()),
        Some(Value::String(s)) if s.trim().is_empty() => Some("is empty".to_string()),
        Some(Value::String(_)) => None,
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .all(|item| {
                item.get("name").and_then(Value::as_str).is_some()
                    && item
                        .get("template")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.trim().is_empty())
            })
            .then_some(())
            .map_or(
                Some(
                    "is a list whose items are not all {\"name\", \"template\"} strings"
                        .to_string(),
                ),
                |()| None,
            ),
        Some(other) => Some(format!("is a JSON {}, not a string", json_kind(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_json::MAX_JSON_VALUES;

    #[test]
    fn scans_bpe_and_unigram_vocabularies() {
        let bpe = br#"{"added_tokens": [{"id": 9, "content": "<|end|>"}],
            "model": {"type": "BPE", "vocab": {"a": 0, "b": 7, "c": 3}, "merges": []}}"#;
        let ids = scan(bpe, Some(8)).unwrap();
        assert_eq!(ids.out_of_range_count, 1);
        assert_eq!(ids.out_of_range, vec![(9, "<|end|>".to_string())]);
        let unigram =
            br#"{"model": {"type": "Unigram", "vocab": [["a", 0.0], ["b", -1.0], ["c", -2.0]]}}"#;
        let ids = scan(unigram, Some(2)).unwrap();
        assert_eq!(ids.out_of_range_count, 1);
        assert_eq!(scan(unigram, Some(3)).unwrap().out_of_range_count, 0);
    }

    #[test]
    fn shows_the_lowest_vocabulary_ids_then_added_tokens_in_order() {
        let bpe = br#"{"added_tokens": [{"id": 5, "content": "x"}],
            "model": {"vocab": {"d": 9, "a": 6, "b": 8, "e": 6, "c": 7}}}"#;
        let ids = scan(bpe, Some(5)).unwrap();
        assert_eq!(ids.out_of_range_count, 6);
        let shown: Vec<&str> = ids.out_of_range.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(shown, ["a", "e", "c"]);
        let ids = scan(bpe, Some(9)).unwrap();
        let shown: Vec<&str> = ids.out_of_range.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(shown, ["d"]);
        let added = scan(bpe, Some(10)).unwrap();
        assert_eq!(added.out_of_range_count, 0);
        let only_added = scan(
            br#"{"added_tokens": [{"id": 5, "content": "x"}], "model": {}}"#,
            Some(5),
        );
        assert_eq!(only_added.unwrap().out_of_range, vec![(5, "x".to_string())]);
    }

    #[test]
    fn a_document_of_too_many_values_is_refused_before_it_is_built() {
        let mut text = String::from("{\"a\":[");
        for _ in 0..MAX_JSON_VALUES {
            text.push_str("[],");
        }
        text.push_str("[]]}");
        let error = parse_value(text.as_bytes()).expect_err("too many values");
        assert!(error.contains("more than"), "{error}");
        assert!(parse_value(b"{\"a\": [[], 1, {\"b\": null}]}").is_ok());
        let invalid = parse_value(b"{\"a\": [").expect_err("invalid");
        assert_eq!(
            invalid,
            serde_json::from_slice::<Value>(b"{\"a\": [")
                .unwrap_err()
                .to_string()
        );
    }

    #[test]
    fn invalid_utf8_in_a_part_the_scan_skips_is_refused() {
        let bytes = b"{\"x\": \"\xff\", \"model\": {\"type\": \"BPE\", \"vocab\": {}}}";
        let error = scan(bytes, None).expect_err("not UTF-8");
        assert!(
            error.contains("not UTF-8 (invalid byte at offset 7)"),
            "{error}"
        );
    }

    #[test]
    fn misnamed_templates() {
        for name in [
            "chat-template.jinja",
            "Chat_Template.jinja",
            "chat_template.j2",
            "chat_template",
        ] {
            assert!(is_misnamed_chat_template(name), "{name}");
        }
        for name in [
            "chat_template.jinja",
            "chat_template.json",
            "tokenizer.json",
            "sub/chat-template.jinja",
        ] {
            assert!(!is_misnamed_chat_template(name), "{name}");
        }
    }

    /// The rules that fire on a folder of config.json and tokenizer_config.json, and
    /// chat_template.jinja when given.
    fn template_rules(model_type: &str, tokenizer_config: &str, jinja: bool) -> Vec<RuleId> {
        let config = format!(r#"{{"model_type": "{model_type}"}}"#);
        let mut files = vec![
            (CONFIG_JSON, config.into_bytes()),
            (TOKENIZER_CONFIG_JSON, tokenizer_config.as_bytes().to_vec()),
        ];
        if jinja {
            files.push((CHAT_TEMPLATE_JINJA, b"{{ messages }}".to_vec()));
        }
        let artifact = crate::Artifact {
            entries: files
                .iter()
                .map(|(path, bytes)| crate::Entry {
                    path: path.to_string(),
                    size: bytes.len() as u64,
                })
                .collect(),
            documents: files
                .into_iter()
                .map(|(path, bytes)| (path.to_string(), bytes))
                .collect(),
            ..crate::Artifact::default()
        };
        crate::check(&artifact)
            .findings
            .into_iter()
            .map(|f| f.rule)
            .filter(|r| r.rule().group() == "TK")
            .collect()
    }

    #[test]
    fn no_chat_template_warns_except_for_models_without_chat() {
        let plain = r#"{"tokenizer_class": "PreTrainedTokenizerFast"}"#;
        let embedded =
            r#"{"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": "{{ x }}"}"#;
        let expected = vec![RuleId::MissingTokenizerJson, RuleId::NoChatTemplate];
        assert_eq!(template_rules("llama", plain, false), expected);
        assert_eq!(template_rules("gemma", plain, false), expected);
        assert_eq!(
            template_rules("t5", plain, false),
            vec![RuleId::MissingTokenizerJson]
        );
        assert_eq!(
            template_rules("llama", embedded, false),
            vec![RuleId::MissingTokenizerJson]
        );
        assert_eq!(
            template_rules("llama", plain, true),
            vec![RuleId::MissingTokenizerJson]
        );
        // An unreadable tokenizer_config.json says nothing about the template.
        assert_eq!(
            template_rules("llama", "{", false),
            vec![RuleId::MissingTokenizerJson, RuleId::TokenizerInvalid]
        );
    }

    #[test]
    fn template_values() {
        assert!(template_problem(Some(&Value::from("{{ x }}"))).is_none());
        assert!(template_problem(Some(&Value::from(" "))).is_some());
        let named = serde_json::json!([{"name": "default", "template": "{{ x }}"}]);
        assert!(template_problem(Some(&named)).is_none());
        assert!(template_problem(Some(&serde_json::json!([{"name": "x"}]))).is_some());
        assert!(template_problem(Some(&Value::from(3))).is_some());
    }
}
