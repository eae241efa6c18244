//! Constraints of the CreateModelImportJob request fields, as data, from the botocore model in
//! reference/bedrock-cmi-shapes.json. Patterns are matched against the whole value (the model
//! leaves them unanchored; the service's documentation shows them anchored).

use regex::Regex;

/// Length and pattern constraints of one string field.
#[derive(Debug)]
pub struct FieldConstraint {
    /// The field as the API names it, such as `modelDataSource.s3DataSource.s3Uri`.
    pub field: &'static str,
    /// Shortest accepted length, in characters.
    pub min: usize,
    /// Longest accepted length, in characters.
    pub max: usize,
    /// The botocore pattern, unanchored.
    pub pattern: &'static str,
}

/// `S3Uri`: the artifact prefix of `modelDataSource.s3DataSource.s3Uri`.
pub const S3_URI: FieldConstraint = FieldConstraint {
    field: "modelDataSource.s3DataSource.s3Uri",
    min: 1,
    max: 1024,
    pattern: r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?",
};

impl FieldConstraint {
    /// The pattern anchored to match the whole value. Validation runs a handful of times per
    /// command, so the expression is compiled on use rather than cached.
    fn regex(&self) -> Regex {
        Regex::new(&format!("^(?:{})$", self.pattern))
            .unwrap_or_else(|e| panic!("the pattern of {} is invalid: {e}", self.field))
    }

    /// Checks a value; the error is phrased as the service phrases validation failures.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        let length = value.chars().count();
        if length < self.min || length > self.max {
            return Err(format!(
                "Value '{value}' at '{}' failed to satisfy constraint: Member must have length between {} and {}",
                self.field, self.min, self.max
            ));
        }
        if !self.regex().is_match(value) {
            return Err(format!(
                "Value '{value}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: {}",
                self.field, self.pattern
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uri_full_match() {
        for ok in [
            "s3://bucket",
            "s3://my-bucket/models/llama-3/",
            "s3://b.c1/a/b(c)/d_e*'!",
        ] {
            assert!(S3_URI.validate(ok).is_ok(), "{ok}");
        }
        for bad in [
            "S3://bucket/x/",
            "s3://Bucket/x/",
            "s3://bucket//x/",
            "s3://bucket/my model/",
            "s3://bucket/a=b/",
            "s3://bucket/a:b/",
            "s3://bucket/x/ trailing",
            "s3://b/x/",
        ] {
            let error = S3_URI.validate(bad).unwrap_err();
            assert!(
                error.contains("modelDataSource.s3DataSource.s3Uri"),
                "{bad}: {error}"
            );
        }
    }
}
