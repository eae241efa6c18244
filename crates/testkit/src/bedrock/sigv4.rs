//! Verification of AWS Signature Version 4 (`AWS4-HMAC-SHA256` in the `Authorization`
//! header), written from the AWS IAM User Guide pages "Create a signed AWS API request" and
//! "Elements of an AWS API request signature" with HMAC-SHA256 and SHA-256 only, so that it
//! shares no code with the SDK's signer (`aws-sigv4`) that it checks. Errors are the ones
//! AWS JSON services answer (403 with `x-amzn-errortype`).

use aws_credential_types::Credentials;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use hmac::{Hmac, KeyInit, Mac};
use hyper::HeaderMap;
use sha2::{Digest, Sha256};

use super::service::ApiError;

/// The only algorithm the emulator accepts.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service name a Bedrock request's credential scope must name (`signingName` of the
/// botocore model).
pub(super) const SERVICE: &str = "bedrock";
/// How far the request's time may be from the emulator's clock, in seconds.
const SKEW: i64 = 5 * 60;

/// What the emulator needs of a request to verify its signature.
pub(super) struct Signed<'a> {
    /// `GET`, `POST`...
    pub method: &'a str,
    /// The path as sent, percent-encoding included.
    pub path: &'a str,
    /// The query string as sent, without `?`.
    pub query: Option<&'a str>,
    /// Every header.
    pub headers: &'a HeaderMap,
    /// The body as received.
    pub body: &'a [u8],
}

/// Who may call, and where.
pub(super) struct Verifier<'a> {
    /// The emulator's Region: the only one a credential scope may name.
    pub region: &'a str,
    /// The identities the emulator knows.
    pub callers: &'a [Credentials],
    /// Seconds since the epoch, now.
    pub now: i64,
}

fn forbidden(name: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(403, name, message)
}

fn incomplete(message: impl Into<String>) -> ApiError {
    forbidden("IncompleteSignatureException", message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    forbidden("InvalidSignatureException", message)
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// URI-encodes as SigV4 does: every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (upper-case
/// hex), and `/` too unless `keep_slash`.
fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `%XX` sequences decoded (other bytes as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical URI: the path as sent, URI-encoded once more (every service but S3 encodes
/// the path twice, and the client encoded it once).
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    uri_encode(path, true)
}

/// The canonical query string: each name and value decoded, URI-encoded, sorted by name then
/// value, `name=value` joined by `&`.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(name), false),
                uri_encode(&percent_decode(value), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header's values, trimmed, inner runs of spaces made one, joined by `,`; `None` when the
/// request does not carry it.
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The parts of an `AWS4-HMAC-SHA256` authorization header.
struct Authorization {
    access_key: String,
    date: String,
    region: String,
    service: String,
    terminator: String,
    signed_headers: Vec<String>,
    signature: String,
}

fn parse_authorization(header: &str) -> Result<Authorization, ApiError> {
    let Some(rest) = header
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
    else {
        return Err(incomplete(format!(
            "Authorization header requires 'Credential' parameter. Authorization header \
             requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
             parameter. Authorization={header}"
        )));
    };
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let missing: Vec<&str> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed_headers.is_none()),
    ]
    .iter()
    .filter(|(_, missing)| *missing)
    .map(|(name, _)| *name)
    .collect();
    let (Some(credential), Some(signed_headers), Some(signature)) =
        (credential, signed_headers, signature)
    else {
        let required: String = missing
            .iter()
            .map(|name| format!("Authorization header requires '{name}' parameter. "))
            .collect();
        return Err(incomplete(format!("{required}Authorization={header}")));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = scope[..] else {
        return Err(incomplete(format!(
            "Credential should have exactly 5 slash-separated parts: \
             <access key>/<date>/<region>/<service>/aws4_request, not '{credential}'."
        )));
    };
    Ok(Authorization {
        access_key: access_key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        terminator: terminator.to_string(),
        signed_headers: signed_headers.split(';').map(str::to_string).collect(),
        signature: signature.to_string(),
    })
}

/// `YYYYMMDDTHHMMSSZ` as seconds since the epoch.
fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let extended = format!(
        "{}-{}-{}T{}:{}:{}Z",
        text.get(0..4)?,
        text.get(4..6)?,
        text.get(6..8)?,
        text.get(9..11)?,
        text.get(11..13)?,
        text.get(13..15)?
    );
    DateTime::from_str(&extended, Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

/// Seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
fn basic_format(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_default()
        .replace(['-', ':'], "")
}

/// The SigV4 signature of `string_to_sign` with `secret` for `date`, `region` and
/// `service`, in hex.
fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let key = hmac(format!("AWS4{secret}").as_bytes(), date);
    let key = hmac(&key, region);
    let key = hmac(&key, service);
    let key = hmac(&key, "aws4_request");
    hex(&hmac(&key, string_to_sign))
}

impl Verifier<'_> {
    /// Accepts a request signed for [`SERVICE`] in the emulator's Region by a known caller,
    /// within five minutes of now; otherwise the error the service answers.
    pub fn verify(&self, request: &Signed<'_>) -> Result<(), ApiError> {
        let Some(header) = header_value(request.headers, "authorization") else {
            return Err(forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        };
        let auth = parse_authorization(&header)?;
        let Some(amz_date) = header_value(request.headers, "x-amz-date") else {
            return Err(incomplete(format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' \
                 header. Authorization={header}"
            )));
        };
        let Some(signed_at) = parse_amz_date(&amz_date) else {
            return Err(incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            )));
        };
        if auth.terminator != "aws4_request" {
            return Err(invalid(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
                auth.terminator
            )));
        }
        if auth.service != SERVICE {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{SERVICE}'. "
            )));
        }
        if auth.region != self.region {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                auth.region
            )));
        }
        if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{}' != '{}', from '{amz_date}'.",
                auth.date,
                amz_date.get(..8).unwrap_or(&amz_date)
            )));
        }
        if signed_at < self.now - SKEW {
            return Err(invalid(format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
                basic_format(self.now - SKEW),
                basic_format(self.now)
            )));
        }
        if signed_at > self.now + SKEW {
            return Err(invalid(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
                basic_format(self.now + SKEW),
                basic_format(self.now)
            )));
        }
        if !auth.signed_headers.iter().any(|h| h == "host") {
            return Err(invalid(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        let token = header_value(request.headers, "x-amz-security-token");
        let Some(caller) = self.callers.iter().find(|c| {
            c.access_key_id() == auth.access_key && c.session_token() == token.as_deref()
        }) else {
            return Err(forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };

        let mut canonical_headers = String::new();
        for name in &auth.signed_headers {
            let value = header_value(request.headers, name).unwrap_or_default();
            canonical_headers.push_str(&format!("{name}:{value}\n"));
        }
        let canonical_request = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{}\n{}",
            request.method,
            canonical_uri(request.path),
            canonical_query(request.query),
            auth.signed_headers.join(";"),
            sha256_hex(request.body)
        );
        let scope = format!("{}/{}/{SERVICE}/aws4_request", auth.date, auth.region);
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
            sha256_hex(canonical_request.as_bytes())
        );
        let expected = signature(
            caller.secret_access_key(),
            &auth.date,
            &auth.region,
            SERVICE,
            &string_to_sign,
        );
        if expected != auth.signature {
            return Err(invalid(
                "The request signature we calculated does not match the signature you \
                 provided. Check your AWS Secret Access Key and signing method. Consult the \
                 service documentation for details.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `get-vanilla` and `get-vanilla-query-order-key-case` cases of the AWS SigV4 test
    /// suite (service `service`, 2015-08-30T12:36:00Z, the documentation's example key).
    #[test]
    fn the_aws_test_suite_signatures() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        for (query, expected) in [
            (
                None,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                Some("Param2=value2&Param1=value1"),
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
        ] {
            let canonical_request = format!(
                "GET\n/\n{}\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                 host;x-amz-date\n{}",
                canonical_query(query),
                sha256_hex(b"")
            );
            let string_to_sign = format!(
                "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
                sha256_hex(canonical_request.as_bytes())
            );
            assert_eq!(
                signature(secret, "20150830", "us-east-1", "service", &string_to_sign),
                expected
            );
        }
    }

    #[test]
    fn paths_and_queries_are_canonical() {
        assert_eq!(
            canonical_uri("/model-import-jobs/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Amodel-import-job%2Fa"),
            "/model-import-jobs/arn%253Aaws%253Abedrock%253Aus-east-1%253A1%253Amodel-import-job%252Fa"
        );
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(
            canonical_query(Some(
                "sortOrder=Descending&maxResults=10&nameContains=a%20b"
            )),
            "maxResults=10&nameContains=a%20b&sortOrder=Descending"
        );
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(basic_format(1_440_938_160), "20150830T123600Z");
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }
}
