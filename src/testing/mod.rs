//! Helpers for tests, shared by the unit and integration suites: throwaway PostgreSQL
//! databases, and an identity provider's signing keys ([`idp`]). Tests that need PostgreSQL read its URL from `COGSYNC_TEST_DATABASE_URL` and are
//! skipped, with a message on the terminal, when it is unset. Compiled for the crate's own
//! unit tests and with the `testing` feature (the integration tests), never into the server.

pub mod idp;

use std::io::Write;

pub const DATABASE_URL_ENV: &str = "COGSYNC_TEST_DATABASE_URL";

/// A fresh database on the test server, dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// Connection URL of the fresh database.
    pub url: String,
}

/// Tells the person running the tests that `test` did not run. Written to the terminal
/// directly, past the test harness's output capture.
pub fn announce_skip(test: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: needs PostgreSQL; set {DATABASE_URL_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)"
    );
}

/// `url` with its database name replaced by `db` (URL or key=value form).
pub fn with_database(url: &str, db: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let scheme = &url[..url.len() - rest.len()];
        let (main, query) = match rest.split_once('?') {
            Some((m, q)) => (m, format!("?{q}")),
            None => (rest, String::new()),
        };
        let authority = main.split_once('/').map_or(main, |(a, _)| a);
        format!("{scheme}{authority}/{db}{query}")
    } else {
        format!("{url} dbname={db}")
    }
}

async fn admin(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

impl TestDatabase {
    /// A new empty database, or None (after announcing the skip of `test`) without a server.
    pub async fn create(test: &str) -> Option<TestDatabase> {
        Self::create_with(test, "").await
    }

    /// As [`TestDatabase::create`], with `options` after `CREATE DATABASE name` (a locale,
    /// a template).
    pub async fn create_with(test: &str, options: &str) -> Option<TestDatabase> {
        let Ok(admin_url) = std::env::var(DATABASE_URL_ENV) else {
            announce_skip(test);
            return None;
        };
        let name = format!("cogsync_t_{}", uuid::Uuid::new_v4().simple());
        let client = admin(&admin_url).await.unwrap_or_else(|e| {
            panic!("{DATABASE_URL_ENV} is set but PostgreSQL is unreachable: {e}")
        });
        client
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_database(&admin_url, &name);
        Some(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Terminates every session on the database except none of ours (for connection-loss tests).
    pub async fn terminate_connections(&self) -> u64 {
        let client = admin(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("admin connection: {e}"));
        client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                &[&self.name],
            )
            .await
            .map(|rows| rows.len() as u64)
            .unwrap_or_else(|e| panic!("pg_terminate_backend: {e}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(client) = admin(&admin_url).await {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_names_are_swapped_in_both_url_forms() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("host=h user=u dbname=test", "x"),
            "host=h user=u dbname=test dbname=x"
        );
    }
}
