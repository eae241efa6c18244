//! The command line itself: exit statuses, output formats, the rule catalog.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn cmd() -> Command {
    Command::cargo_bin("cmi-preflight").expect("binary built")
}

fn fixture(group: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(group)
        .join(name)
}

#[test]
fn missing_source_exits_2_with_a_clear_error() {
    cmd()
        .args(["check", "/nonexistent/model"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/nonexistent/model does not exist",
        ));
}

#[test]
fn a_file_instead_of_a_folder_exits_2() {
    let file = fixture("valid", "llama").join("config.json");
    cmd()
        .arg("check")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a directory"));
}

#[test]
fn text_output_names_code_file_and_fix() {
    cmd()
        .arg("check")
        .arg(fixture("invalid", "st013-invalid-offsets"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "error[ST013] model.safetensors: tensor",
        ))
        .stdout(predicate::str::contains("fix: Save the file again"))
        .stdout(predicate::str::contains("failed"));
}

#[test]
fn passing_text_output() {
    cmd()
        .arg("check")
        .arg(fixture("valid", "llama-sharded"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("passed"))
        .stdout(predicate::str::contains("llama (LlamaForCausalLM)"));
}

#[test]
fn junit_output_is_one_case_per_rule_with_failures() {
    let output = cmd()
        .arg("check")
        .arg(fixture("invalid", "sh003-shape-mismatch"))
        .args(["--format", "junit"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let xml = String::from_utf8(output.stdout).expect("utf-8");
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures) = (0, 0);
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    let check_rules = cmi_format::RULES
        .iter()
        .filter(|r| !matches!(r.group(), "MF" | "SG"))
        .count();
    assert_eq!(cases, check_rules);
    assert!(failures >= 1);
    assert!(xml.contains(r#"type="SH003""#));
}

#[test]
fn rules_lists_and_explains() {
    cmd()
        .arg("rules")
        .assert()
        .success()
        .stdout(predicate::str::contains("ST013"))
        .stdout(predicate::str::contains("TK010"));
    cmd()
        .args(["rules", "invalid-offsets"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ST013 invalid-offsets (error)"))
        .stdout(predicate::str::contains("How to fix it"));
    cmd()
        .args(["rules", "XX999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no rule \"XX999\""));
}

fn codes(output: &std::process::Output) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().expect("code").to_string())
        .collect()
}

#[test]
fn the_bedrock_region_must_offer_import_and_the_architecture() {
    let llama = fixture("valid", "llama");
    let check = |dir: &Path, region: &str| {
        let output = cmd()
            .args(["check", dir.to_str().expect("utf-8")])
            .args(["--format", "json", "--bedrock-region", region])
            .output()
            .expect("runs");
        (output.status.code(), codes(&output))
    };
    assert_eq!(check(&llama, "us-west-2"), (Some(0), vec![]));
    assert_eq!(
        check(&llama, "eu-west-1"),
        (Some(1), vec!["RG001".to_string()])
    );

    // A llama folder relabelled as GPT-OSS: its other findings do not matter here, only
    // whether the Region offers the architecture.
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(&llama).expect("fixture") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, dir.path().join(path.file_name().expect("name"))).expect("copy");
    }
    let config_path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config_path).expect("config")).expect("JSON");
    config["model_type"] = "gpt_oss".into();
    config["architectures"] = serde_json::json!(["GptOssForCausalLM"]);
    std::fs::write(&config_path, config.to_string()).expect("written");
    let (_, west) = check(dir.path(), "us-west-2");
    assert!(west.contains(&"RG002".to_string()), "{west:?}");
    let (_, east) = check(dir.path(), "us-east-1");
    assert!(!east.iter().any(|c| c.starts_with("RG")), "{east:?}");
}

/// A program on PATH, or `None` after printing why the test that needs it is skipped.
fn program(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        println!("skipped: {name} is not installed on this machine");
    }
    found
}

/// The completion script the binary prints for `shell`, written to a file of `dir`.
fn completion_script(shell: &str, dir: &Path) -> PathBuf {
    let output = cmd().args(["completions", shell]).output().expect("runs");
    assert!(output.status.success(), "completions {shell}: {output:?}");
    assert!(
        !output.stdout.is_empty(),
        "completions {shell} printed nothing"
    );
    let path = dir.join(format!("cmi-preflight.{shell}"));
    std::fs::write(&path, &output.stdout).expect("written");
    path
}

/// What bash completes for the words of `line` (the last one being completed), with the
/// completion function that the script registered for `cmi-preflight`.
fn bash_completions(bash: &Path, script: &Path, line: &str) -> Vec<String> {
    let program = r#"
        source "$1" || exit 3
        spec=$(complete -p cmi-preflight) || exit 4
        [[ $spec =~ -F\ ([^ ]+) ]] || exit 5
        read -ra COMP_WORDS <<< "$2"
        [[ $2 == *' ' ]] && COMP_WORDS+=('')
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_LINE=$2
        COMP_POINT=${#COMP_LINE}
        "${BASH_REMATCH[1]}" cmi-preflight "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let output = std::process::Command::new(bash)
        .args(["--norc", "--noprofile", "-c", program, "bash"])
        .arg(script)
        .arg(line)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "bash completing {line:?}: {output:?}"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bash_completion_parses_registers_and_completes() {
    let Some(bash) = program("bash") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let script = completion_script("bash", dir.path());
    let syntax = std::process::Command::new(&bash)
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(syntax.status.success(), "bash -n: {syntax:?}");
    let registered = std::process::Command::new(&bash)
        .args([
            "--norc",
            "--noprofile",
            "-c",
            r#"source "$1" && complete -p cmi-preflight"#,
            "bash",
        ])
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(registered.status.success(), "{registered:?}");
    let spec = String::from_utf8_lossy(&registered.stdout);
    assert!(
        spec.starts_with("complete ")
            && spec.contains(" -F ")
            && spec.trim_end().ends_with(" cmi-preflight"),
        "{spec}"
    );

    assert_eq!(
        bash_completions(&bash, &script, "cmi-preflight wa"),
        ["watch"]
    );
    let shells = bash_completions(&bash, &script, "cmi-preflight completions ");
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.iter().any(|s| s == shell), "{shells:?}");
    }
    assert_eq!(
        bash_completions(&bash, &script, "cmi-preflight watch --sqs"),
        ["--sqs-queue-url"]
    );
}

#[test]
fn the_other_completion_scripts_parse_in_their_shells_where_installed() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = completion_script(shell, dir.path());
        let (name, args): (&str, Vec<String>) = match shell {
            "zsh" => ("zsh", vec!["-n".into(), script.display().to_string()]),
            "fish" => ("fish", vec!["--no-execute".into(), script.display().to_string()]),
            "powershell" => (
                "pwsh",
                vec![
                    "-NoLogo".into(),
                    "-NoProfile".into(),
                    "-NonInteractive".into(),
                    "-Command".into(),
                    format!(
                        "$e = $null; [void][System.Management.Automation.Language.Parser]::ParseFile('{}', [ref]$null, [ref]$e); if ($e.Count) {{ $e; exit 1 }}",
                        script.display()
                    ),
                ],
            ),
            _ => ("elvish", vec!["-compileonly".into(), script.display().to_string()]),
        };
        let Some(path) = program(name) else { continue };
        let output = std::process::Command::new(path)
            .args(&args)
            .output()
            .expect("the shell runs");
        assert!(
            output.status.success(),
            "{name} on the {shell} script: {output:?}"
        );
    }
}

/// Renders a roff man page as text with `man -l` (or `groff -man` where man is missing);
/// `None` when neither is installed.
fn render_man(page: &Path) -> Option<String> {
    let output = if let Some(man) = program("man") {
        std::process::Command::new(man)
            .arg("-l")
            .arg(page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "200")
            .env("LC_ALL", "C")
            .output()
    } else {
        let groff = program("groff")?;
        std::process::Command::new(groff)
            .args(["-man", "-Tascii", "-P-cbou", "-rLL=200n"])
            .arg(page)
            .output()
    }
    .expect("the formatter runs");
    assert!(
        output.status.success(),
        "rendering {}: {output:?}",
        page.display()
    );
    assert!(
        output.stderr.is_empty(),
        "warnings rendering {}: {}",
        page.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn man_writes_a_page_per_subcommand_and_the_main_page_lists_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = cmd()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let listed: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let main_page = dir.path().join("cmi-preflight.1");
    assert_eq!(listed.first(), Some(&main_page));
    let subcommands: Vec<String> = listed[1..]
        .iter()
        .map(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            name.strip_prefix("cmi-preflight-")
                .and_then(|n| n.strip_suffix(".1"))
                .unwrap_or_else(|| panic!("unexpected page {name}"))
                .to_string()
        })
        .collect();
    for expected in ["check", "watch", "completions", "man"] {
        assert!(subcommands.iter().any(|s| s == expected), "{subcommands:?}");
    }

    // The page on stdout is the main page written to the folder.
    let printed = cmd().arg("man").output().expect("runs");
    assert!(printed.status.success());
    assert_eq!(
        printed.stdout,
        std::fs::read(&main_page).expect("main page")
    );

    let Some(main) = render_man(&main_page) else {
        return;
    };
    assert!(main.contains("SUBCOMMANDS"), "{main}");
    for sub in &subcommands {
        assert!(
            main.contains(&format!("cmi-preflight-{sub}(1)")),
            "{sub} not listed:\n{main}"
        );
        let page =
            render_man(&dir.path().join(format!("cmi-preflight-{sub}.1"))).expect("rendered");
        assert!(page.contains(&format!("cmi-preflight-{sub}")), "{page}");
    }
}
