//! The effective configuration: defaults, overridden by `SAMMEN_*` environment
//! variables (and `DATABASE_URL`), overridden by command-line options. Secrets (the
//! database password) never print.

use clap::Args;
use std::path::PathBuf;
use time::OffsetDateTime;

/// Options every subcommand accepts, so each works on the same database as `serve`.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where the embedded database and other files live.
    #[arg(long, global = true, env = "SAMMEN_DATA_DIR", default_value = "./sammen-data")]
    pub data_dir: PathBuf,

    /// A postgres:// URL selects PostgreSQL; without it, SQLite in the data directory.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Freeze the clock at this instant (RFC 3339), for demos and tests.
    #[arg(long, global = true, env = "SAMMEN_NOW", value_parser = parse_instant)]
    pub now: Option<OffsetDateTime>,

    /// Notification e-mails: written as files to the data directory's outbox, or off.
    #[arg(long, global = true, env = "SAMMEN_MAIL", value_enum, default_value = "outbox")]
    pub mail: Mail,
}

/// Where notification e-mails go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mail {
    /// One file per mail in `<data dir>/outbox`, for a mail relay to send.
    Outbox,
    Off,
}

impl Global {
    pub fn mailer(&self) -> std::sync::Arc<dyn sammen_app::notify::Mailer> {
        match self.mail {
            Mail::Outbox => std::sync::Arc::new(sammen_app::notify::FileMailer::new(self.data_dir.join("outbox"))),
            Mail::Off => std::sync::Arc::new(sammen_app::notify::NoMail),
        }
    }
}

fn parse_instant(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|_| "use RFC 3339, e.g. 2026-03-01T09:00:00Z".to_string())
}

/// Which engine the configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineChoice {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Global {
    pub fn engine(&self) -> Result<EngineChoice, String> {
        match self.database_url.as_deref().map(str::trim) {
            None | Some("") => Ok(EngineChoice::Sqlite(self.data_dir.join("sammen.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(EngineChoice::Postgres(url.to_string()))
            }
            Some(url) if url.starts_with("sqlite://") => {
                Ok(EngineChoice::Sqlite(PathBuf::from(url.trim_start_matches("sqlite://"))))
            }
            Some(url) => Err(format!(
                "the database URL must start with postgres:// (or be left out for the embedded SQLite database); got a URL starting with '{}'",
                url.split("://").next().unwrap_or("").chars().take(20).collect::<String>()
            )),
        }
    }
}

/// A URL with its password replaced by `****`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "****".into();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{user}:****@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_string(),
    };
    // Query parameters may carry a password too.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(url: Option<&str>) -> Global {
        Global { data_dir: PathBuf::from("/d"), database_url: url.map(String::from), now: None, mail: Mail::Off }
    }

    #[test]
    fn engine_from_scheme() {
        assert_eq!(global(None).engine(), Ok(EngineChoice::Sqlite(PathBuf::from("/d/sammen.db"))));
        assert_eq!(global(Some("postgres://u@h/db")).engine(), Ok(EngineChoice::Postgres("postgres://u@h/db".into())));
        let err = global(Some("mysql://root:secret@h/db")).engine().unwrap_err();
        assert!(err.contains("postgres://") && !err.contains("secret"), "{err}");
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:****@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db?user=u&password=secret"), "postgres://h/db?user=u&password=****");
        assert!(!redact_url("nonsense secret").contains("secret"));
    }
}
