//! Notifications. In-app notices are written in the same transaction as what caused
//! them; an e-mail then tells each recipient who has an address that there is
//! something new, and nothing more: no name, no patient, no health data, no link to a
//! record. Where mail goes is pluggable ([`Mailer`]); the embedded default writes each
//! mail as a file in the data directory's outbox, for a mail relay to pick up.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use sammen_domain::ids::UserId;
use sammen_store::Notice;

use crate::Sammen;

/// Sends one e-mail. Implementations must not block for long: they run after the
/// write has committed, on the request's task.
pub trait Mailer: Send + Sync {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String>;
}

/// Sends nothing (tests, and installations without mail).
#[derive(Debug, Default)]
pub struct NoMail;

impl Mailer for NoMail {
    fn send(&self, _: &str, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Writes each mail as an RFC 5322 message in a directory (`<data dir>/outbox`).
#[derive(Debug)]
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Self {
        FileMailer { dir }
    }
}

impl Mailer for FileMailer {
    fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create the outbox: {e}"))?;
        let name = format!("{}.eml", crate::ids::secret_hex());
        let mail = format!(
            "To: {to}\r\nFrom: Sammen <noreply@sammen.invalid>\r\nSubject: {subject}\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
            body.replace('\n', "\r\n")
        );
        std::fs::write(self.dir.join(name), mail).map_err(|e| format!("cannot write to the outbox: {e}"))
    }
}

#[derive(Deserialize)]
struct MailText {
    subject: String,
    body: String,
}

#[derive(Deserialize)]
struct MailTexts {
    da: MailText,
    en: MailText,
}

/// The notification mail: Danish first, English beside it, from the translation file.
pub fn notification_text() -> (String, String) {
    static TEXTS: OnceLock<MailTexts> = OnceLock::new();
    let t = TEXTS.get_or_init(|| {
        serde_json::from_str(include_str!("../i18n/notification.json")).expect("i18n/notification.json parses")
    });
    (format!("{} / {}", t.da.subject, t.en.subject), format!("{}\n\n{}\n", t.da.body, t.en.body))
}

impl Sammen {
    /// E-mails each recipient of these notices once. A failure is logged (without the
    /// address) and does not undo the write: the in-app notice is already durable.
    pub(crate) async fn mail_notices(&self, notices: &[Notice]) {
        if notices.is_empty() {
            return;
        }
        let recipients: BTreeSet<UserId> = notices.iter().map(|n| n.recipient).collect();
        let Ok(dir) = self.directory().await else { return };
        let (subject, body) = notification_text();
        for user in dir.users.iter().filter(|u| recipients.contains(&u.id) && !u.disabled) {
            if let Some(to) = user.email.as_deref() {
                if let Err(e) = self.mailer.send(to, &subject, &body) {
                    tracing::warn!(error = %e, "a notification e-mail could not be sent");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_says_nothing_about_anyone() {
        let (subject, body) = notification_text();
        assert!(subject.contains("Sammen") && body.contains("Sammen"));
        assert!(body.lines().count() >= 3, "Danish and English: {body}");
        // No placeholders to fill: nothing from the record can get in.
        assert!(!body.contains('{') && !subject.contains('{'));
    }

    #[test]
    fn the_file_mailer_writes_one_file_per_mail() {
        let dir = std::env::temp_dir().join(format!("sammen-outbox-{}", crate::ids::secret_hex()));
        let m = FileMailer::new(dir.clone());
        m.send("gp@example.org", "Ny besked", "Log ind.").unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(text.starts_with("To: gp@example.org\r\n") && text.ends_with("Log ind."));
        let _ = std::fs::remove_dir_all(dir);
    }
}
