//! A local AWS for tests: the [moto](https://docs.getmoto.org) server (PyPI `moto[server]`,
//! pinned in `scripts/requirements-test.txt`), started on a free loopback port, and AWS SDK
//! clients pointed at it.
//!
//! [`Moto::shared`] starts one server per test process, shared by every test of the binary;
//! give each test its own bucket names rather than calling [`Moto::reset`]. [`Moto::start`]
//! starts a private server, for tests that change global state (IAM enforcement, resets).
//!
//! # Which Python
//! `CMI_TEST_PYTHON` if set (`scripts/test` exports it), else `<workspace>/.venv/bin/python`.
//! Without either, starting moto panics with a message naming `./scripts/test`.
//!
//! # No orphan servers
//! The server is killed when its [`Moto`] is dropped. The shared one is never dropped; it dies
//! with the test process, however that ends (even `SIGKILL`), by two independent means:
//! `PR_SET_PDEATHSIG(SIGKILL)` on Linux, set in the child from a spawner thread that lives
//! as long as the process (the signal fires when the *thread* that forked exits, so forking
//! from a short-lived test thread would kill the server early), and a watchdog thread inside
//! the Python process that exits as soon as its stdin, a pipe from the test process, reaches
//! end of file.
//!
//! # IAM enforcement in moto 5.2.5
//! What [`Moto::enforce_auth`] turns on, read from `moto/core/authorization.py` and
//! `moto/iam/access_control.py`; the points marked (tested) are checked by `tests/moto.rs`.
//!
//! - **Switch.** One process-wide counter: every request to an action that moto authorizes is
//!   counted while the count is below `INITIAL_NO_AUTH_ACTION_COUNT` (infinite by default) and
//!   is then served without any check; once the count reaches it, every such request is
//!   checked. `POST /moto-api/reset-auth` sets the threshold and zeroes the counter; its body
//!   is the bare number (`0`, `3`, `inf`), *not* JSON: moto parses it with `float()`. The
//!   switch is global to the server, so on the shared server it would affect every concurrent
//!   test: tests that enforce IAM use a private [`Moto::start`].
//! - **Credentials checked.** Only credentials that moto itself issued: access keys of IAM
//!   users (`iam:CreateAccessKey`) and assumed-role sessions (`sts:AssumeRole`; the session
//!   token must match). Anything else, including the static [`ACCESS_KEY_ID`] used for setup,
//!   is refused, and there is no root user (tested): S3 answers 403 `InvalidAccessKeyId` "The
//!   AWS Access Key Id you provided does not exist in our records."; STS (and the other query
//!   services) 403 `InvalidClientTokenId` "The security token included in the request is
//!   invalid.".
//! - **Signature.** moto recomputes the SigV4 signature with the secret it issued, over the
//!   headers named in `SignedHeaders` (`host` included) and the path as received: a wrong
//!   secret gives S3's 403 `SignatureDoesNotMatch` "The request signature we calculated does
//!   not match the signature you provided. Check your key and signing method." (tested). A
//!   proxy must forward the `Host` header unchanged, as [`crate::proxy`] does (tested).
//! - **Policies evaluated.** Only identity policies: a user's inline and attached policies and
//!   those of its groups; for an assumed-role session, the role's inline and attached
//!   policies (a session policy passed to `AssumeRole` is ignored). An explicit `Deny` wins,
//!   otherwise one `Allow` is needed. `Action` and `Resource` are matched with `*` wildcards
//!   (tested); S3 resources are `arn:aws:s3:::bucket` for bucket actions and
//!   `arn:aws:s3:::bucket/key` for object actions. `Condition` is not evaluated: an `Allow`
//!   with a condition allows and a `Deny` with a condition denies, whatever the condition
//!   (so the common "deny unless aws:SecureTransport" statement denies everything). **Bucket
//!   policies, ACLs and permission boundaries are not evaluated** (tested: a bucket policy
//!   granting `s3:GetObject` to a role does not let it read).
//! - **S3 action names** come from moto's own map, mostly IAM's (`s3:GetObject` for GET and
//!   HEAD of an object, `s3:ListBucket` for ListObjects(V2), `s3:GetBucketLocation`), with
//!   one difference: HeadBucket is checked as `s3:HeadBucket`, which does not exist in IAM
//!   (AWS checks `s3:ListBucket`), so a role allowed `s3:ListBucket` but not `s3:*` gets
//!   403 on HeadBucket from moto (tested).
//! - **Denial.** S3 answers 403 `AccessDenied` "Access Denied" (tested; HEAD requests get the
//!   403 with no body, so the SDK has no error code). IAM and STS answer 403 with
//!   `<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: <caller ARN> is
//!   not authorized to perform: sts:AssumeRole</Message>...`: that extra `<Errors>` level is
//!   not the query protocol's, and the Rust SDK cannot parse it: `code()` and `message()`
//!   are `None`, only the status and the raw body tell (tested).
//! - **Trust policies are enforced** for `sts:AssumeRole` (tested): besides an identity
//!   policy of the caller allowing `sts:AssumeRole` on the role, the role's trust policy must
//!   name the caller's exact ARN (`arn:aws:iam::123456789012:user/<name>`, or an assumed-role
//!   session ARN `arn:aws:sts::123456789012:assumed-role/<role>/<session>`) or `"AWS": "*"`.
//!   Unlike AWS, an account principal (`arn:aws:iam::123456789012:root`) does not let the
//!   account's users in (tested).
//!
//! # Other S3 behaviours of moto 5.2.5 (tested in `tests/moto.rs`)
//! - GLACIER and DEEP_ARCHIVE objects: GetObject, ranged or not, answers 403
//!   `InvalidObjectState` "The operation is not valid for the object's storage class" (with
//!   `<StorageClass>` in the body); HeadObject works and gives the storage class.
//!   GLACIER_IR and INTELLIGENT_TIERING objects read normally.
//! - SSE-KMS: GetObject and HeadObject give `x-amz-server-side-encryption: aws:kms` and the
//!   key id exactly as it was given on upload (AWS gives the key ARN); no key id at all when
//!   none was given (AWS gives the aws/s3 key's ARN). Plain objects have no encryption header
//!   (AWS says AES256).
//! - SSE-C is not emulated: the headers are ignored, the object is stored in the clear and
//!   served without the key (AWS: 400 `InvalidRequest`). Inject that error with
//!   [`crate::proxy::Fault::S3Error`].
//! - Regions: buckets keep the region of their `LocationConstraint`; GetBucketLocation gives
//!   it (`Unknown("")` in the SDK for us-east-1, not `None`) and HeadBucket gives
//!   `x-amz-bucket-region`. Clients of any region reach every bucket: no 301 redirect.
//! - Ranges: 206 with `Content-Range: bytes 2-5/10`; a range past the end is clipped; one
//!   starting at or after the end is 416 `InvalidRange` "The requested range is not
//!   satisfiable". Missing objects: GetObject 404 `NoSuchKey` "The specified key does not
//!   exist.", HeadObject 404 with no body (SDK code `NotFound`); missing buckets: 404
//!   `NoSuchBucket` "The specified bucket does not exist", HeadBucket 404 `NotFound`.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// The region that clients of [`Moto`] use unless told otherwise.
pub const REGION: &str = "us-east-1";
/// The static access key id of the setup identity. moto accepts any key while IAM is not
/// enforced and refuses this one once it is (see the module documentation).
pub const ACCESS_KEY_ID: &str = "testing";
/// The secret access key that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "testing";
/// The account moto puts every resource in: ARNs are `arn:aws:iam::123456789012:...`.
pub const ACCOUNT_ID: &str = "123456789012";

/// How long moto may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of moto's output is kept for error messages.
const OUTPUT_TAIL_BYTES: usize = 16 * 1024;

/// The Python program that runs moto: the server of `moto.server.main`, plus a thread that
/// exits the process as soon as stdin (a pipe from the test process) is closed.
const LAUNCHER: &str = r#"
import os, sys, threading
from moto.server import main
def _watch_parent():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)
threading.Thread(target=_watch_parent, daemon=True).start()
main(["-H", "127.0.0.1", "-p", "0"])
"#;

/// A running moto server on a loopback port.
///
/// Dropping it kills the server; the one of [`Moto::shared`] lives as long as the process.
pub struct Moto {
    port: u16,
    child: Mutex<Child>,
    /// Kept open so that moto's watchdog sees end of file only when this goes away.
    _stdin: ChildStdin,
    output: Arc<Mutex<OutputTail>>,
}

impl std::fmt::Debug for Moto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moto").field("port", &self.port).finish()
    }
}

impl Moto {
    /// The server shared by every test of this process, started on first use.
    ///
    /// # Panics
    /// If moto cannot be started (see [`Moto::start`]).
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// Starts a private server, killed when the returned value is dropped.
    ///
    /// # Panics
    /// If there is no Python (with a message naming `./scripts/test`), or moto does not answer
    /// within 30 seconds (with the end of moto's output).
    pub fn start() -> Moto {
        match Moto::try_start() {
            Ok(moto) => moto,
            Err(message) => panic!("{message}"),
        }
    }

    /// Starts a private server, or says why it could not.
    pub fn try_start() -> Result<Moto, String> {
        let python = python()?;
        let mut command = Command::new(&python);
        command
            .arg("-c")
            .arg(LAUNCHER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Settings of the caller's environment that would change moto's behaviour.
            .env_remove("INITIAL_NO_AUTH_ACTION_COUNT")
            .env_remove("TEST_SERVER_MODE")
            .env_remove("MOTO_PORT")
            .env("PYTHONUNBUFFERED", "1");
        let mut child = spawn_supervised(command)
            .map_err(|e| format!("cannot run {} for moto: {e}", python.display()))?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let output = Arc::new(Mutex::new(OutputTail::default()));
        let (port_tx, port_rx) = mpsc::channel();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            let port_tx = port_tx.clone();
            std::thread::Builder::new()
                .name("moto-output".into())
                .spawn(move || drain(stream, &output, &port_tx))
                .map_err(|e| format!("cannot start a thread: {e}"))?;
        }
        drop(port_tx);

        let moto_output = |output: &Arc<Mutex<OutputTail>>| output.lock().unwrap().text();
        let deadline = Instant::now() + START_TIMEOUT;
        let fail = |child: &mut Child, why: String| {
            let _ = child.kill();
            let _ = child.wait();
            // Let the output threads catch the last lines.
            std::thread::sleep(Duration::from_millis(100));
            Err(format!(
                "moto did not start ({why}); python: {}. Is moto[server] installed? \
                 Run ./scripts/test, or pip install -r scripts/requirements-test.txt into \
                 the Python of CMI_TEST_PYTHON. moto's output:\n{}",
                python.display(),
                moto_output(&output)
            ))
        };
        let port = loop {
            if let Ok(Some(status)) = child.try_wait() {
                return fail(&mut child, format!("it exited with {status}"));
            }
            if Instant::now() >= deadline {
                return fail(&mut child, "no port announced after 30 s".into());
            }
            match port_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(port) => break port,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // Output closed: the process is exiting.
                    std::thread::sleep(Duration::from_millis(100));
                    if let Ok(Some(status)) = child.try_wait() {
                        return fail(&mut child, format!("it exited with {status}"));
                    }
                    return fail(&mut child, "its output closed".into());
                }
            }
        };
        loop {
            match http_request(port, "GET", "/moto-api/", b"") {
                Ok((200, _)) => break,
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return fail(&mut child, format!("it exited with {status}"));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok((status, _)) => {
                    return fail(&mut child, format!("GET /moto-api/ answered {status}"))
                }
                Err(e) => return fail(&mut child, format!("GET /moto-api/ failed: {e}")),
            }
        }
        Ok(Moto {
            port,
            child: Mutex::new(child),
            _stdin: stdin,
            output,
        })
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The endpoint URL for SDK clients: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The default region of the clients: [`REGION`], `us-east-1`.
    pub fn region(&self) -> &'static str {
        REGION
    }

    /// The static setup credentials, [`ACCESS_KEY_ID`] and [`SECRET_ACCESS_KEY`].
    pub fn credentials(&self) -> Credentials {
        static_credentials()
    }

    /// The last lines moto wrote (its request log and any traceback), for error messages.
    pub fn output_tail(&self) -> String {
        self.output.lock().unwrap().text()
    }

    /// An SDK configuration for this server: its endpoint, [`REGION`], the static
    /// credentials, `BehaviorVersion::latest()`, and nothing from the host's environment.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint(), self.credentials(), REGION).await
    }

    /// An SDK configuration for this server with other credentials (an IAM user's keys, an
    /// assumed role's session) and region.
    pub async fn sdk_config_with(&self, credentials: Credentials, region: &str) -> SdkConfig {
        sdk_config_for(&self.endpoint(), credentials, region).await
    }

    /// An S3 client of [`Moto::sdk_config`], with path-style addressing.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        s3_client(&self.sdk_config().await)
    }

    /// An IAM client of [`Moto::sdk_config`].
    pub async fn iam_client(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config().await)
    }

    /// An STS client of [`Moto::sdk_config`].
    pub async fn sts_client(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk_config().await)
    }

    /// A KMS client of [`Moto::sdk_config`].
    pub async fn kms_client(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk_config().await)
    }

    /// Turns IAM enforcement on after `after_n_actions` more authorized requests (0: from the
    /// next request on). See the module documentation for what is checked. Global to the
    /// server: use it on a private [`Moto::start`], not on the shared server.
    ///
    /// # Panics
    /// If moto does not accept the request.
    pub fn enforce_auth(&self, after_n_actions: u64) {
        self.reset_auth(&after_n_actions.to_string());
    }

    /// Turns IAM enforcement off (moto's default): every request is served, whatever its
    /// credentials.
    ///
    /// # Panics
    /// If moto does not accept the request.
    pub fn disable_auth(&self) {
        self.reset_auth("inf");
    }

    fn reset_auth(&self, count: &str) {
        self.moto_api("/moto-api/reset-auth", count.as_bytes());
    }

    /// Clears all state of every service (buckets, users, roles, keys). IAM enforcement is
    /// left as it is. Global to the server, like [`Moto::enforce_auth`].
    ///
    /// # Panics
    /// If moto does not accept the request.
    pub fn reset(&self) {
        self.moto_api("/moto-api/reset", b"");
    }

    fn moto_api(&self, path: &str, body: &[u8]) {
        match http_request(self.port, "POST", path, body) {
            Ok((200, _)) => {}
            Ok((status, body)) => panic!(
                "POST {path} to moto answered {status}: {}\nmoto's output:\n{}",
                String::from_utf8_lossy(&body),
                self.output_tail()
            ),
            Err(e) => panic!(
                "POST {path} to moto failed: {e}\nmoto's output:\n{}",
                self.output_tail()
            ),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The static setup credentials, [`ACCESS_KEY_ID`] and [`SECRET_ACCESS_KEY`].
pub fn static_credentials() -> Credentials {
    Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "moto-static")
}

/// An SDK configuration for a loopback endpoint (moto, or a [`crate::proxy::Proxy`] in front
/// of it): `BehaviorVersion::latest()`, that endpoint URL, region and credentials, and
/// nothing read from the host's environment variables.
///
/// # Panics
/// If `endpoint` is not `http://127.0.0.1:PORT` or `http://localhost:PORT`.
pub async fn sdk_config_for(endpoint: &str, credentials: Credentials, region: &str) -> SdkConfig {
    assert!(
        endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
        "test endpoints must be on the loopback interface, not {endpoint}"
    );
    aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(credentials)
        .load()
        .await
}

/// An S3 client of `config` with path-style addressing (`http://127.0.0.1:PORT/bucket/key`),
/// which moto needs on a bare IP endpoint.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// An IAM identity policy allowing every action on every resource.
pub const ADMIN_POLICY: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// An IAM identity policy allowing `s3:ListBucket` on `bucket` and `s3:GetObject` on the
/// objects under `prefix` (`""` for the whole bucket).
pub fn s3_read_policy(bucket: &str, prefix: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{bucket}")},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/{prefix}*")}
        ]
    })
    .to_string()
}

/// A role trust policy letting the principal `principal_arn` (an IAM user or role ARN)
/// call `sts:AssumeRole`. moto matches this ARN exactly against the caller.
pub fn trust_policy(principal_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": principal_arn},
            "Action": "sts:AssumeRole"
        }]
    })
    .to_string()
}

/// An IAM user created by [`create_user`]: its ARN and access keys.
#[derive(Debug, Clone)]
pub struct User {
    /// `arn:aws:iam::123456789012:user/<name>`.
    pub arn: String,
    /// Its access key, which moto recognizes when IAM is enforced.
    pub credentials: Credentials,
}

/// Creates the IAM user `name` with the inline identity policy `policy` and an access key.
/// Run it before IAM is enforced, or as a user allowed to.
///
/// # Panics
/// If an IAM call fails.
pub async fn create_user(iam: &aws_sdk_iam::Client, name: &str, policy: &str) -> User {
    let user = iam
        .create_user()
        .user_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUser {name}: {e:?}"));
    let arn = user.user().map(|u| u.arn().to_string()).unwrap_or_default();
    iam.put_user_policy()
        .user_name(name)
        .policy_name(format!("{name}-policy"))
        .policy_document(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutUserPolicy {name}: {e:?}"));
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateAccessKey {name}: {e:?}"));
    let key = key.access_key().expect("CreateAccessKey returns a key");
    User {
        arn,
        credentials: Credentials::new(
            key.access_key_id(),
            key.secret_access_key(),
            None,
            None,
            "moto-iam-user",
        ),
    }
}

/// Creates the IAM role `name` with the trust policy `trust` (see [`trust_policy`]) and the
/// inline identity policy `policy`, and returns its ARN.
///
/// # Panics
/// If an IAM call fails.
pub async fn create_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
    trust: &str,
    policy: &str,
) -> String {
    let role = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateRole {name}: {e:?}"));
    iam.put_role_policy()
        .role_name(name)
        .policy_name(format!("{name}-policy"))
        .policy_document(policy)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutRolePolicy {name}: {e:?}"));
    role.role().map(|r| r.arn().to_string()).unwrap_or_default()
}

/// Assumes `role_arn` with `sts` and returns the session's credentials (with their token).
pub async fn assume_role(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    session_name: &str,
) -> Result<
    Credentials,
    aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>,
> {
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .send()
        .await?;
    let c = out.credentials().expect("AssumeRole returns credentials");
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "moto-assumed-role",
    ))
}

/// The Python that has moto: `CMI_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.
fn python() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CMI_TEST_PYTHON").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.exists() {
            Ok(path)
        } else {
            Err(format!(
                "CMI_TEST_PYTHON is {}, which does not exist; run ./scripts/test to create \
                 the test environment",
                path.display()
            ))
        };
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(format!(
            "no Python with moto for the S3 tests: CMI_TEST_PYTHON is not set and {} does not \
             exist. Run ./scripts/test (it creates .venv/ with scripts/requirements-test.txt \
             and exports CMI_TEST_PYTHON), or: python3 -m venv .venv && .venv/bin/pip install \
             -r scripts/requirements-test.txt",
            venv.display()
        ))
    }
}

/// The last bytes of moto's stdout and stderr, interleaved by line.
#[derive(Default)]
struct OutputTail {
    bytes: VecDeque<u8>,
}

impl OutputTail {
    fn push_line(&mut self, line: &[u8]) {
        self.bytes.extend(line);
        let excess = self.bytes.len().saturating_sub(OUTPUT_TAIL_BYTES);
        self.bytes.drain(..excess);
    }

    fn text(&self) -> String {
        let (a, b) = self.bytes.as_slices();
        let mut all = a.to_vec();
        all.extend_from_slice(b);
        String::from_utf8_lossy(&all).into_owned()
    }
}

/// Reads one output stream of moto until it closes (so that moto never blocks on a full
/// pipe), keeping its tail and announcing the port from werkzeug's "Running on" line.
fn drain(stream: Box<dyn Read + Send>, output: &Mutex<OutputTail>, port_tx: &mpsc::Sender<u16>) {
    const MARKER: &str = "Running on http://127.0.0.1:";
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(at) = text.find(MARKER) {
            let digits: String = text[at + MARKER.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(port) = digits.parse() {
                let _ = port_tx.send(port);
            }
        }
        output.lock().unwrap().push_line(&line);
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` from a thread that lives as long as the process, with
/// `PR_SET_PDEATHSIG(SIGKILL)` on Linux so that the child dies with the test process.
fn spawn_supervised(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("moto-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for (mut command, reply) in rx {
                    set_parent_death_signal(&mut command);
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("cannot start the moto spawner thread");
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .unwrap()
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("the moto spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the moto spawner thread is gone"))?
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died between fork and prctl: the signal will never come.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("the test process exited"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut Command) {
    // The stdin watchdog of LAUNCHER is the only protection here.
}

/// A minimal HTTP/1.1 exchange with moto on `127.0.0.1:port`: status and body.
fn http_request(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Content-Type: text/plain\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("incomplete HTTP response from moto"))?;
    let status_line = String::from_utf8_lossy(&response[..head_end]);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad HTTP status line: {status_line}")))?;
    Ok((status, response[head_end + 4..].to_vec()))
}
