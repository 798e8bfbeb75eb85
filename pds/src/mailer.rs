//! Outgoing email (account deletion, password reset, email confirmation and update tokens).
//!
//! With `PDS_EMAIL_SMTP_URL` set, mail goes out over SMTP. Without it, each message is written
//! as an `.eml` file under `<PDS_DATA_DIRECTORY>/mail-outbox/`, so a small co-op can run the
//! PDS before it has a mail relay and still hand members their tokens (the operator reads
//! the file); start-up logs which of the two is in use.

use std::path::{Path, PathBuf};

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid email address {0:?}")]
    Address(String),
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("writing to the outbox: {0}")]
    File(#[from] lettre::transport::file::Error),
    #[error("{0}")]
    Setup(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Mailer, MailError> {
        let from: Mailbox = config.email_from_address.parse().map_err(|_| MailError::Address(config.email_from_address.clone()))?;
        let transport = match &config.email_smtp_url {
            Some(url) => {
                let smtp = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build();
                tracing::info!("email: sending through SMTP");
                Transport::Smtp(smtp)
            }
            None => {
                let dir = config.data_directory.join("mail-outbox");
                std::fs::create_dir_all(&dir).map_err(|e| MailError::Setup(format!("{}: {e}", dir.display())))?;
                tracing::warn!(outbox = %dir.display(), "PDS_EMAIL_SMTP_URL is not set: email is written to the outbox directory, not sent");
                Transport::Outbox(AsyncFileTransport::new(&dir), dir)
            }
        };
        Ok(Mailer { from, transport })
    }

    /// The outbox directory, when mail is not sent over SMTP.
    pub fn outbox(&self) -> Option<&Path> {
        match &self.transport {
            Transport::Outbox(_, dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to: Mailbox = to.parse().map_err(|_| MailError::Address(to.into()))?;
        let message = Message::builder().from(self.from.clone()).to(to).subject(subject).body(body)?;
        match &self.transport {
            Transport::Smtp(t) => {
                t.send(message).await?;
            }
            Transport::Outbox(t, _) => {
                t.send(message).await?;
            }
        }
        metrics::counter!("pds_emails_sent_total").increment(1);
        Ok(())
    }
}
