//! The web console: in a real headless Chromium (driven over WebDriver by chromedriver), the
//! operator's round: sign in, find an identity, open a dataset, edit a record, be refused on
//! a stale edit, delete a dataset, sign out. Without the browser the browser test prints
//! SKIPPED; the session and CSRF rules are also checked over plain HTTP, which always runs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::common::*;

fn admin_on(c: &mut cogsync::config::ServerConfig) {
    c.admin_listen = Some("127.0.0.1:0".parse().unwrap());
}

/// The browser: Chromium (`COGSYNC_TEST_CHROMIUM`, else Debian's /usr/bin/chromium).
fn chromium() -> PathBuf {
    std::env::var_os("COGSYNC_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// chromedriver, from `COGSYNC_TEST_CHROMEDRIVER` or the PATH, when Chromium is there too.
fn chromedriver() -> Option<PathBuf> {
    if !chromium().is_file() {
        return None;
    }
    if let Some(p) = std::env::var_os("COGSYNC_TEST_CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver(path: &PathBuf) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    // Ready when it answers; a slow machine only makes this take longer.
    for _ in 0..600 {
        if let Ok(r) = reqwest::get(format!("{}/status", driver.url)).await {
            if r.status().is_success() {
                return driver;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer within a minute");
}

async fn browser(driver: &Driver) -> Client {
    let binary = chromium();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("open a browser session")
}

async fn text_of(b: &Client, css: &str) -> String {
    match b.find(Locator::Css(css)).await {
        Ok(found) => found.text().await.unwrap(),
        Err(e) => panic!(
            "no {css} on {}: {e}\n{}",
            b.current_url().await.unwrap(),
            b.source().await.unwrap()
        ),
    }
}

async fn fill(b: &Client, css: &str, value: &str) {
    let field = b.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(b: &Client, css: &str) {
    follow(b, b.find(Locator::Css(css)).await.unwrap()).await;
}

/// Clicks `element` and waits until the page it leads to has replaced the current one (a
/// click returns before a form's answer has loaded).
async fn follow(b: &Client, element: fantoccini::elements::Element) {
    let old = b.find(Locator::Css("html")).await.unwrap();
    element.click().await.unwrap();
    for _ in 0..1200 {
        match old.tag_name().await {
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    for _ in 0..1200 {
        let state = b
            .execute("return document.readyState", vec![])
            .await
            .unwrap();
        if state == "complete" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the page did not load within a minute");
}

/// Follows the link whose text is `text`.
async fn link(b: &Client, text: &str) {
    follow(b, b.find(Locator::LinkText(text)).await.unwrap()).await;
}

async fn sign_in(b: &Client, admin: &str, key: &str, secret: &str) {
    b.goto(&format!("{admin}/console/")).await.unwrap();
    assert!(b
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/sign-in"));
    fill(b, "input[name=access_key]", key).await;
    fill(b, "input[name=secret]", secret).await;
    click(b, "form button[type=submit]").await;
}

/// The Save button of the `color` record's row.
const SAVE_COLOR: &str = "//tr[td[1]/code[text()='color']]//button[@value='save']";

/// The SyncCount cell of `key`'s row in the dataset page.
async fn sync_count_shown(b: &Client, key: &str) -> String {
    let xpath =
        format!("//table[contains(@class,'records')]//tr[td[1]/code[text()='{key}']]/td[3]");
    b.find(Locator::XPath(&xpath))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn screenshot(b: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, b.screenshot().await.unwrap()).unwrap();
    println!("console screenshot: {}", path.display());
    path
}

/// A pool with a developer provider, user `alice`'s identity, and a dataset `settings` with a
/// live record and a removed one.
async fn fixture(s: &TestServer) -> (String, String) {
    let pool = s
        .identity()
        .create_identity_pool()
        .identity_pool_name("Support desk")
        .allow_unauthenticated_identities(false)
        .developer_provider_name("login.myapp")
        .send()
        .await
        .unwrap()
        .identity_pool_id;
    let id = s
        .identity()
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(&pool)
        .logins("login.myapp", "alice")
        .send()
        .await
        .unwrap()
        .identity_id
        .unwrap();
    let c = s.sync();
    push(
        &c,
        &pool,
        &id,
        "settings",
        vec![replace("color", "blue", 0), replace("old", "x", 0)],
    )
    .await
    .unwrap();
    push(&c, &pool, &id, "settings", vec![remove("old", 1)])
        .await
        .unwrap();
    push(&c, &pool, &id, "scratch", vec![replace("tmp", "1", 0)])
        .await
        .unwrap();
    (pool, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_a_user_edits_a_record_and_signs_out_in_a_real_browser() {
    let Some(driver_path) = chromedriver() else {
        eprintln!(
            "SKIPPED console browser test: needs chromedriver and chromium \
             (apt-get install -y chromium chromium-driver)"
        );
        return;
    };
    let s = TestServer::start_custom(admin_on).await;
    let admin = s.admin.clone().unwrap();
    let (pool, id) = fixture(&s).await;
    let driver = start_driver(&driver_path).await;
    let b = browser(&driver).await;

    // Wrong credentials: refused, with no hint which part was wrong.
    sign_in(&b, &admin, ACCESS_KEY, "not-the-secret").await;
    let refusal = text_of(&b, ".flash.refused").await;
    assert!(
        refusal.contains("not this server's developer credentials"),
        "{refusal}"
    );
    assert!(!refusal.to_lowercase().contains("secret"), "{refusal}");
    assert!(b
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/sign-in"));

    sign_in(&b, &admin, ACCESS_KEY, SECRET_KEY).await;
    assert_eq!(text_of(&b, "h1").await, "Overview");
    let mut charts = Vec::new();
    for title in b
        .find_all(Locator::Css("figure.chart figcaption strong"))
        .await
        .unwrap()
    {
        charts.push(title.text().await.unwrap());
    }
    assert_eq!(
        charts,
        [
            "Request rate",
            "Error rate",
            "p99 latency",
            "Outbox backlog",
            "Bulk publish jobs"
        ]
    );
    assert_eq!(
        b.find_all(Locator::Css("figure.chart svg"))
            .await
            .unwrap()
            .len(),
        5
    );
    screenshot(&b, "overview").await;

    // Overview → pools → the pool → its identities → search by id.
    click(&b, "a.button[href='/console/pools']").await;
    link(&b, "Support desk").await;
    assert_eq!(text_of(&b, "h1").await, "Support desk");
    screenshot(&b, "pool").await;

    // A pool's settings, edited where the API allows: what the SDK then reads.
    let arn = "arn:aws:sns:us-east-1:000000000000:app/GCM/support";
    fill(&b, "textarea[name=application_arns]", arn).await;
    fill(
        &b,
        "input[name=push_role_arn]",
        "arn:aws:iam::000000000000:role/push",
    )
    .await;
    click(&b, "form[action$='/sync'] button").await;
    assert!(text_of(&b, ".flash.done")
        .await
        .contains("Cognito Sync settings saved"));
    let config = s
        .sync()
        .get_identity_pool_configuration()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let push_sync = config.push_sync().unwrap();
    assert_eq!(push_sync.application_arns(), [arn]);
    assert_eq!(
        push_sync.role_arn(),
        Some("arn:aws:iam::000000000000:role/push")
    );
    b.find(Locator::Css("input[name=allow_unauthenticated]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(&b, "form[action$='/identity-pool'] button").await;
    assert!(text_of(&b, ".flash.done")
        .await
        .contains("Identity pool saved"));
    let described = s
        .identity()
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert!(described.allow_unauthenticated_identities());
    assert_eq!(described.developer_provider_name(), Some("login.myapp"));

    // The pool's own quota: alice holds 2 datasets, and may make no third while it is 2.
    let field = "input[name=datasets_per_identity]";
    let server = b.find(Locator::Css(field)).await.unwrap();
    assert_eq!(
        server.attr("placeholder").await.unwrap().as_deref(),
        Some("20 (server)")
    );
    fill(&b, field, "2").await;
    click(&b, "form[action$='/quotas'] button").await;
    assert_eq!(text_of(&b, ".flash.done").await, "Quotas saved.");
    let third = push(&s.sync(), &pool, &id, "third", vec![replace("k", "v", 0)]).await;
    let (code, message) = third.unwrap_err();
    assert_eq!(code, "LimitExceededException", "{message}");
    assert!(message.contains("2 datasets"), "{message}");
    fill(&b, field, "").await;
    click(&b, "form[action$='/quotas'] button").await;
    assert_eq!(text_of(&b, ".flash.done").await, "Quotas saved.");
    assert_eq!(
        b.find(Locator::Css(field))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .as_deref(),
        Some(""),
        "blank again: the server's"
    );

    click(&b, "p.lede a").await;
    fill(&b, "input[name=q]", &id).await;
    click(&b, "form.search button").await;
    assert_eq!(text_of(&b, "h1").await, id);
    let logins = text_of(&b, "main table").await;
    assert!(
        logins.contains("login.myapp") && logins.contains("alice"),
        "{logins}"
    );

    // The dataset: the live record and the tombstone.
    link(&b, "settings").await;
    assert_eq!(text_of(&b, "h1").await, "Dataset settings");
    assert_eq!(sync_count_shown(&b, "color").await, "1");
    let old = b
        .find(Locator::XPath("//tr[td[1]/code[text()='old']]"))
        .await
        .unwrap();
    assert!(old
        .attr("class")
        .await
        .unwrap()
        .unwrap_or_default()
        .contains("tombstone"));
    assert!(old.text().await.unwrap().contains("removed"));

    // Edit: saved through UpdateRecords' rules, with the new SyncCount shown.
    let value = "//tr[td[1]/code[text()='color']]//input[@name='value']";
    let field = b.find(Locator::XPath(value)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys("green").await.unwrap();
    follow(&b, b.find(Locator::XPath(SAVE_COLOR)).await.unwrap()).await;
    let saved = text_of(&b, ".flash.done").await;
    assert!(saved.contains("SyncCount is now 3"), "{saved}");
    assert_eq!(sync_count_shown(&b, "color").await, "3");
    let (records, _) = pull(&s.sync(), &pool, &id, "settings", 0).await;
    let color = records.iter().find(|r| r.key() == Some("color")).unwrap();
    assert_eq!(
        (color.value(), color.sync_count()),
        (Some("green"), Some(3))
    );
    screenshot(&b, "dataset").await;

    // A device writes meanwhile: the page's view is now stale and the edit is refused.
    push(
        &s.sync(),
        &pool,
        &id,
        "settings",
        vec![replace("color", "from-device", 3)],
    )
    .await
    .unwrap();
    let field = b.find(Locator::XPath(value)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys("stale edit").await.unwrap();
    follow(&b, b.find(Locator::XPath(SAVE_COLOR)).await.unwrap()).await;
    let conflict = text_of(&b, ".flash.refused").await;
    assert!(conflict.contains("changed by someone else"), "{conflict}");
    assert!(conflict.contains("it is now 4"), "{conflict}");
    let (records, _) = pull(&s.sync(), &pool, &id, "settings", 0).await;
    let color = records.iter().find(|r| r.key() == Some("color")).unwrap();
    assert_eq!(
        color.value(),
        Some("from-device"),
        "the stale edit was written"
    );
    screenshot(&b, "conflict").await;

    // Delete a dataset, after the confirmation page.
    let identity_page = format!("{admin}/console/pools/{pool}/identities/{id}");
    b.goto(&identity_page).await.unwrap();
    link(&b, "scratch").await;
    click(&b, "a.button.danger").await;
    assert_eq!(text_of(&b, "h1").await, "Delete dataset scratch");
    click(&b, "form button.danger").await;
    assert!(text_of(&b, ".flash.done").await.contains("deleted"));
    let gone = s
        .sync()
        .describe_dataset()
        .identity_pool_id(&pool)
        .identity_id(&id)
        .dataset_name("scratch")
        .send()
        .await;
    assert_eq!(code_of(&gone.unwrap_err()).0, "ResourceNotFoundException");

    // Search by developer user identifier finds the same identity.
    b.goto(&format!("{admin}/console/pools/{pool}/identities?q=alice"))
        .await
        .unwrap();
    assert_eq!(text_of(&b, "h1").await, id);

    // Sign out: no page is reachable any more.
    click(&b, "form.sign-out button").await;
    assert!(b
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/sign-in"));
    b.goto(&identity_page).await.unwrap();
    assert!(b
        .current_url()
        .await
        .unwrap()
        .path()
        .ends_with("/console/sign-in"));
    assert!(!b.source().await.unwrap().contains(&id));
    b.close().await.unwrap();
}

/// The console's rules as plain HTTP sees them: the cookie's attributes, forms refused
/// without the session's token or from another origin, pages refused without a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_are_strict_cookies_and_forms_need_their_token() {
    let s = TestServer::start_custom(admin_on).await;
    let admin = s.admin.clone().unwrap();
    let (pool, id) = fixture(&s).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let anonymous = http
        .get(format!("{admin}/console/pools"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/console/sign-in");

    let wrong = http
        .post(format!("{admin}/console/sign-in"))
        .form(&[("access_key", "AKIDNOTTHEKEY"), ("secret", SECRET_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    let ok = http
        .post(format!("{admin}/console/sign-in"))
        .form(&[("access_key", ACCESS_KEY), ("secret", SECRET_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();

    let page = http
        .get(format!(
            "{admin}/console/pools/{pool}/identities/{id}/datasets/settings"
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "an asset from elsewhere"
    );
    let token = |name: &str| {
        let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
        html[at..].split('"').next().unwrap().to_owned()
    };
    let (csrf, sync_session) = (token("csrf"), token("session"));
    let edit = |csrf: String, origin: Option<&'static str>| {
        let mut req = http
            .post(format!(
                "{admin}/console/pools/{pool}/identities/{id}/datasets/settings"
            ))
            .header("cookie", &session)
            .form(&[
                ("csrf", csrf),
                ("session", sync_session.clone()),
                ("key", "color".into()),
                ("sync_count", "1".into()),
                ("value", "forged".into()),
                ("action", "save".into()),
            ]);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    assert_eq!(edit("wrong".into(), None).await.unwrap().status(), 403);
    assert_eq!(
        edit(csrf.clone(), Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    let (records, _) = pull(&s.sync(), &pool, &id, "settings", 0).await;
    let color = records.iter().find(|r| r.key() == Some("color")).unwrap();
    assert_eq!(color.value(), Some("blue"), "a refused form wrote");
    assert_eq!(edit(csrf, None).await.unwrap().status(), 303);
    let (records, _) = pull(&s.sync(), &pool, &id, "settings", 0).await;
    let color = records.iter().find(|r| r.key() == Some("color")).unwrap();
    assert_eq!(color.value(), Some("forged"));

    // The device port has no console.
    let device = http
        .get(format!("{}/console/", s.endpoint))
        .send()
        .await
        .unwrap();
    assert_ne!(device.status(), 200);
    assert_ne!(device.status(), 303);
}
