//! A stand-in for the customer's payment app, for `qrpos qr issue --host`: it enrols the
//! customer at a payment host once (the bank's 3-legged flow, followed as a browser would)
//! and keeps the credential the host gave, then asks the host for one-time codes.

use std::path::{Path, PathBuf};

use crate::protocol::host::{CodeReply, EnrolReply, CODES_PATH, ENROL_PATH};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("payment host URL {0:?}: {1}")]
    Url(String, String),
    #[error("the payment host could not be reached: {0}")]
    Unreachable(String),
    #[error("the payment host refused: HTTP {0} {1}")]
    Refused(u16, String),
    #[error("the wallet file {0}: {1}")]
    Wallet(PathBuf, String),
}

/// A fresh one-time code for `user` from the host at `host_url`, enrolling them first if
/// `wallet_dir` holds no credential of theirs (or the host no longer knows it).
pub async fn code_from_host(
    host_url: &str,
    user: &str,
    wallet_dir: &Path,
) -> Result<String, AppError> {
    let base = reqwest::Url::parse(host_url.trim_end_matches('/'))
        .map_err(|e| AppError::Url(host_url.into(), e.to_string()))?;
    let loopback = matches!(base.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if base.scheme() != "https" && !loopback {
        return Err(AppError::Url(
            host_url.into(),
            "use https unless the host is on this machine".into(),
        ));
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| AppError::Unreachable(e.to_string()))?;
    let wallet = wallet_dir.join(format!("wallet-{user}.json"));
    let mut me = match std::fs::read_to_string(&wallet)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(me) => me,
        None => enrol(&http, &base, user, &wallet).await?,
    };
    for attempt in 0..2 {
        let r = http
            .post(format!(
                "{}{CODES_PATH}",
                base.as_str().trim_end_matches('/')
            ))
            .basic_auth(&me.customer_id, Some(&me.credential))
            .json(&serde_json::json!({}))
            .send()
            .await
            .map_err(|e| AppError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        if status == 401 && attempt == 0 {
            // The host no longer knows this credential (a new host database): enrol again.
            me = enrol(&http, &base, user, &wallet).await?;
            continue;
        }
        let text = r.text().await.unwrap_or_default();
        if status != 200 {
            return Err(AppError::Refused(status, text));
        }
        let code: CodeReply =
            serde_json::from_str(&text).map_err(|e| AppError::Refused(status, e.to_string()))?;
        return Ok(code.code);
    }
    Err(AppError::Refused(
        401,
        "the host refused the credential it just gave".into(),
    ))
}

/// The 3-legged flow through the host (redirects followed), the credential kept in `wallet`.
async fn enrol(
    http: &reqwest::Client,
    base: &reqwest::Url,
    user: &str,
    wallet: &Path,
) -> Result<EnrolReply, AppError> {
    let mut url = reqwest::Url::parse(&format!(
        "{}{ENROL_PATH}",
        base.as_str().trim_end_matches('/')
    ))
    .map_err(|e| AppError::Url(base.to_string(), e.to_string()))?;
    url.query_pairs_mut().append_pair("sandbox_user", user);
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| AppError::Unreachable(e.to_string()))?;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    if status != 200 {
        return Err(AppError::Refused(status, text));
    }
    let me: EnrolReply =
        serde_json::from_str(&text).map_err(|e| AppError::Refused(status, e.to_string()))?;
    let fail = |e: std::io::Error| AppError::Wallet(wallet.to_path_buf(), e.to_string());
    if let Some(dir) = wallet.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(wallet)
            .map_err(fail)?;
        f.write_all(serde_json::to_string(&me).unwrap_or_default().as_bytes())
            .map_err(fail)?;
    }
    Ok(me)
}
