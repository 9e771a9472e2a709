//! The examples in README.md and docs/ run as written: every configuration file is read by the
//! binary's own command line, every `cogsync …` command parses with it, the OpenID Connect
//! providers file loads, the Rust test example's manifest names the crates it uses, and the
//! README's quick start (Python, boto3) runs against a server.

use std::path::{Path, PathBuf};

use crate::common::*;

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The fenced blocks of `lang` in a page.
fn blocks(page: &Path, lang: &str) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let (mut out, mut current) = (Vec::new(), None::<String>);
    for line in text.lines() {
        let fence = line.trim_start();
        match &mut current {
            None if fence == format!("```{lang}") => current = Some(String::new()),
            Some(block) if fence == "```" => {
                out.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    out
}

/// The command line (from the program's name on) of each `cogsync …` command in a shell block,
/// continuation lines joined and comments dropped; `cargo run --release -- serve` is
/// `cogsync serve`.
fn commands(block: &str) -> Vec<Vec<String>> {
    let joined = block.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        let line = line
            .strip_prefix("cargo run --release -- ")
            .map(|rest| format!("cogsync {rest}"))
            .unwrap_or_else(|| line.to_owned());
        if !line.starts_with("cogsync ") {
            continue;
        }
        out.push(line.split_whitespace().map(str::to_owned).collect());
    }
    out
}

#[test]
fn every_configuration_file_in_the_docs_is_read_by_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let mut read = 0;
    for page in pages() {
        for (n, block) in blocks(&page, "toml").into_iter().enumerate() {
            let parsed: toml::Table = toml::from_str(&block)
                .unwrap_or_else(|e| panic!("{} block {n}: not TOML: {e}", page.display()));
            if parsed.contains_key("dev-dependencies") || parsed.contains_key("dependencies") {
                continue; // a Cargo manifest: see the test below
            }
            let file = dir.path().join(format!("{read}.toml"));
            std::fs::write(&file, &block).unwrap();
            let args = ["cogsync", "serve", "--config", file.to_str().unwrap()];
            if let Err(e) = cogsync::cli::parse(args.iter().map(Into::into).collect()) {
                panic!(
                    "{} block {n} is not a configuration file: {e:?}\n{block}",
                    page.display()
                );
            }
            read += 1;
        }
    }
    assert!(read >= 2, "the running and operations pages each have one");
}

#[test]
fn every_cogsync_command_in_the_docs_parses() {
    let mut parsed = 0;
    for page in pages() {
        for block in blocks(&page, "sh") {
            for command in commands(&block) {
                let args = command.iter().map(Into::into).collect();
                if let Err(e) = cogsync::cli::parse(args) {
                    panic!("{}: `{}`: {e:?}", page.display(), command.join(" "));
                }
                parsed += 1;
            }
        }
    }
    assert!(parsed >= 8, "only {parsed} commands found");
}

#[test]
fn the_test_helpers_manifest_names_every_crate_its_example_uses() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/testing.md");
    let manifest: toml::Table = toml::from_str(&blocks(&page, "toml")[0]).unwrap();
    let deps = manifest["dev-dependencies"].as_table().unwrap();
    let example = &blocks(&page, "rust")[0];
    for (used, krate) in [
        ("cogsync::", "cogsync"),
        ("aws_sdk_cognitoidentity", "aws-sdk-cognitoidentity"),
        ("aws_sdk_cognitosync", "aws-sdk-cognitosync"),
        ("#[tokio::test]", "tokio"),
    ] {
        assert!(example.contains(used), "the example no longer uses {krate}");
        assert!(deps.contains_key(krate), "the manifest misses {krate}");
    }
    let tokio = format!("{:?}", deps["tokio"]);
    assert!(
        tokio.contains("macros"),
        "#[tokio::test] needs tokio's macros: {tokio}"
    );
    assert!(format!("{:?}", deps["cogsync"]).contains("test-server"));
}

#[test]
fn the_oidc_providers_file_in_the_docs_loads() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/devices-and-logins.md");
    let example = blocks(&page, "json")
        .into_iter()
        .find(|b| b.contains("\"issuer\""))
        .expect("the providers file example");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.json");
    std::fs::write(&file, &example).unwrap();
    // The keys it names, beside it (a relative jwks_file is read from the file's directory).
    let named: serde_json::Value = serde_json::from_str(&example).unwrap();
    for p in named.as_array().unwrap() {
        if let Some(jwks) = p["jwks_file"].as_str() {
            let keys = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]});
            std::fs::write(dir.path().join(jwks), keys.to_string()).unwrap();
        }
    }
    let providers = cogsync::identity::oidc_verify::OidcProvider::load_all(&file).unwrap();
    assert_eq!(providers.len(), named.as_array().unwrap().len());
}

#[test]
fn the_provider_secrets_file_in_the_docs_loads() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/devices-and-logins.md");
    let example = blocks(&page, "json")
        .into_iter()
        .find(|b| b.contains("graph.facebook.com"))
        .expect("the provider secrets example");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("provider-secrets.json");
    std::fs::write(&file, &example).unwrap();
    let settings = cogsync::integrations::logins::ProviderSettings::load(
        Default::default(),
        Some(&file),
        Some("5566=from-the-environment"),
    )
    .unwrap();
    let apps: Vec<&String> = settings.facebook_app_secrets.keys().collect();
    assert_eq!(apps, ["1122334455", "5566"]);
    assert!(!format!("{settings:?}").contains("from-the-environment"));
}

/// A Python with boto3: `COGSYNC_TEST_PYTHON` (`.ci/run` points it at its virtualenv), else
/// `python3` if it has boto3.
fn python_with_boto3(test: &str) -> Option<String> {
    let candidates = std::env::var("COGSYNC_TEST_PYTHON")
        .into_iter()
        .chain(["python3".to_owned()]);
    for python in candidates {
        let has = std::process::Command::new(&python)
            .args(["-c", "import boto3"])
            .output()
            .is_ok_and(|o| o.status.success());
        if has {
            return Some(python);
        }
    }
    eprintln!(
        "SKIPPED {test}: needs Python with boto3; set COGSYNC_TEST_PYTHON (e.g. a virtualenv's python with boto3)"
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_and_the_device_example_run_against_a_server() {
    let test = "docs_examples::the_readme_quick_start_and_the_device_example_run_against_a_server";
    let Some(python) = python_with_boto3(test) else {
        return;
    };
    let s = TestServer::start().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The README's example, then the devices page's (which uses the README's `pool`).
    let readme = blocks(&root.join("README.md"), "python").remove(0);
    let devices = blocks(&root.join("docs/devices-and-logins.md"), "python").remove(0);
    let script = format!("{readme}\n{devices}\nprint('OK', identity)\n")
        .replace("http://127.0.0.1:8080", &s.endpoint);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-c", &script])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK us-east-1:"));
}

#[test]
fn the_webhook_verification_snippet_accepts_cogsync_signatures_and_nothing_else() {
    use cogsync::integrations::webhook::signature::{sign, WebhookKey};
    let python = std::env::var("COGSYNC_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let runs = std::process::Command::new(&python)
        .args(["-c", "import sys; assert sys.version_info >= (3, 9)"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        eprintln!(
            "SKIPPED docs_examples::the_webhook_verification_snippet…: needs Python 3.9 or later"
        );
        return;
    }
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/streams-push-triggers.md");
    let snippet = blocks(&page, "python")
        .into_iter()
        .find(|b| b.contains("def verify("))
        .expect("the verification snippet");
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let key = WebhookKey::parse(secret).unwrap();
    let (id, now) = ("cogsync_42", cogsync::testing::idp::now_s());
    let body = r#"{"identityPoolId":"us-east-1:p","dataSetName":"ds","syncCount":3}"#;
    let signature = sign(&key, id, now, body.as_bytes());
    let check = |body: &str, ts: i64| {
        let script = format!(
            "{snippet}\nh = {{'Webhook-Id': '{id}', 'Webhook-Timestamp': '{ts}', 'Webhook-Signature': '{signature}'}}\nprint(verify('{secret}', h, {body:?}.encode()))\n"
        );
        let out = std::process::Command::new(&python)
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(check(body, now), "True");
    assert_eq!(
        check(&body.replace('3', "4"), now),
        "False",
        "a changed body"
    );
    assert_eq!(check(body, now - 3600), "False", "another timestamp");
}
