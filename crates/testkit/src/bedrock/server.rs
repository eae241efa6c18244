//! HTTP/1.1 plumbing: accept, route, answer in restJson1, log.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use super::authz;
use super::service::{self, ApiError, Reply, Shared};
use super::sigv4::{Signed, Verifier};
use super::Call;

const JOBS: &str = "/model-import-jobs";
const MODELS: &str = "/imported-models";

pub(super) async fn serve(
    listener: StdTcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("the Bedrock emulator's listener");
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The query string's parameters, decoded (`+` is kept: the SDK encodes spaces as `%20`).
fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// The routed operation and its path label.
enum Route {
    Create,
    ListJobs,
    GetJob(String),
    ListModels,
    GetModel(String),
    DeleteModel(String),
    Unknown,
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        // Labels are decoded after the prefix is removed, so an ARN's `/` may come encoded
        // (as the SDK sends it) or not.
        let label = |prefix: &str| path.strip_prefix(prefix)?.strip_prefix('/').map(decode);
        match *method {
            Method::POST if path == JOBS => Route::Create,
            Method::GET if path == JOBS => Route::ListJobs,
            Method::GET if path == MODELS => Route::ListModels,
            Method::GET => match (label(JOBS), label(MODELS)) {
                (Some(job), _) => Route::GetJob(job),
                (_, Some(model)) => Route::GetModel(model),
                _ => Route::Unknown,
            },
            Method::DELETE => label(MODELS).map_or(Route::Unknown, Route::DeleteModel),
            _ => Route::Unknown,
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Route::Create => "CreateModelImportJob",
            Route::ListJobs => "ListModelImportJobs",
            Route::GetJob(_) => "GetModelImportJob",
            Route::ListModels => "ListImportedModels",
            Route::GetModel(_) => "GetImportedModel",
            Route::DeleteModel(_) => "DeleteImportedModel",
            Route::Unknown => "Unknown",
        }
    }

    fn label(&self) -> Option<(&'static str, &str)> {
        match self {
            Route::GetJob(id) => Some(("jobIdentifier", id)),
            Route::GetModel(id) | Route::DeleteModel(id) => Some(("modelIdentifier", id)),
            _ => None,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = parse_query(parts.uri.query());
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let route = Route::of(&method, &path);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let signed = Verifier {
        region: &shared.options.region,
        callers: &shared.options.callers,
        now,
    }
    .verify(&Signed {
        method: method.as_str(),
        path: &path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    });

    let input = match &route {
        Route::Create => serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&body).into_owned())),
        _ => {
            let mut input: Map<String, Value> = query
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            if let Some((name, value)) = route.label() {
                input.insert(name.to_string(), Value::from(value));
            }
            Value::Object(input)
        }
    };
    let result = signed
        .and_then(|()| authorized(&shared, &parts.headers, &route, &input))
        .and_then(|()| match &route {
            Route::Create => service::create(&shared, &body),
            Route::ListJobs => service::list_jobs(&shared, &query),
            Route::GetJob(id) => service::get_job(&shared, id),
            Route::ListModels => service::list_models(&shared, &query),
            Route::GetModel(id) => service::get_model(&shared, id),
            Route::DeleteModel(id) => service::delete_model(&shared, id),
            Route::Unknown => Err(ApiError::unknown_operation(method.as_str(), &path)),
        });
    let (status, response, error, replay) = match result {
        Ok(Reply {
            status,
            body,
            replay,
        }) => (status, body, None, replay),
        Err(error) => (error.status, error.body(), Some(error.name), false),
    };
    shared.calls.lock().unwrap().push(Call {
        operation: route.operation().to_string(),
        method: method.to_string(),
        path,
        input,
        status,
        response: response.clone(),
        error: error.map(str::to_string),
        replay,
    });

    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id());
    if let Some(name) = error {
        builder = builder.header("x-amzn-errortype", name);
    }
    let response = builder
        .body(Full::new(Bytes::from(response.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
    Ok(response)
}

/// The opt-in permission check of [`super::EmulatorOptions::identity_policies`] (module
/// `authz`): the requests a call makes, authorized for the caller that signed it.
fn authorized(
    shared: &Shared,
    headers: &hyper::HeaderMap,
    route: &Route,
    input: &Value,
) -> Result<(), ApiError> {
    let options = &shared.options;
    if options.identity_policies.is_empty() {
        return Ok(());
    }
    let authorization = headers
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let key = authz::access_key_id(&authorization).unwrap_or_default();
    let region = options.region.as_str();
    let arn = |kind: &str, id: &str| {
        if id.starts_with("arn:") {
            id.to_string()
        } else {
            format!("arn:aws:bedrock:{region}:{}:{kind}/{id}", options.account)
        }
    };
    let request = |resource: String| authz::Request {
        action: format!("bedrock:{}", route.operation()),
        resource,
        context: vec![("aws:RequestedRegion", region.to_string())],
    };
    let requests = match route {
        Route::Create => {
            let name = input["jobName"].as_str().unwrap_or_default();
            let role = input["roleArn"].as_str().unwrap_or_default();
            vec![
                request(arn("model-import-job", name)),
                authz::Request {
                    action: "iam:PassRole".to_string(),
                    resource: role.to_string(),
                    context: vec![
                        ("aws:RequestedRegion", region.to_string()),
                        ("iam:PassedToService", "bedrock.amazonaws.com".to_string()),
                    ],
                },
            ]
        }
        Route::ListJobs | Route::ListModels => vec![request("*".to_string())],
        Route::GetJob(id) => vec![request(arn("model-import-job", id))],
        Route::GetModel(id) | Route::DeleteModel(id) => {
            vec![request(arn("imported-model", id))]
        }
        Route::Unknown => Vec::new(),
    };
    authz::authorize(&options.identity_policies, key, &requests)
}

/// A UUID-shaped request id, as the service sends in `x-amzn-requestid`.
fn request_id() -> String {
    let hex: String = (0..32)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
