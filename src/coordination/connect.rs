//! One client connection to etcd, with the settings of `[coordination]`:
//! TLS (a CA, a client certificate), authentication, and timeouts derived
//! from `lease_ttl` so that no request can outlive the lease it serves.
//!
//! Must never log the password or put it in an error (etcd-client's errors
//! carry no credentials; ours name the file or the endpoint only).

use std::future::Future;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use switchboard_config::EtcdCoordination;

/// How long one request may take: a third of the lease, so a session that
/// stalls is replaced well before its lease expires at the store.
pub(crate) fn request_timeout(etcd: &EtcdCoordination) -> Duration {
    (etcd.lease_ttl / 3).max(Duration::from_millis(500))
}

/// Runs one request within [`request_timeout`]; a late answer is an error.
pub(crate) async fn within<T, E: std::fmt::Display>(
    etcd: &EtcdCoordination,
    what: &str,
    request: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(request_timeout(etcd), request).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("etcd {what}: {e}")),
        Err(_) => Err(format!(
            "etcd {what}: no answer within {} ms",
            request_timeout(etcd).as_millis()
        )),
    }
}

/// Connects to the configured endpoints.
pub(crate) async fn connect(etcd: &EtcdCoordination) -> Result<Client, String> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(request_timeout(etcd))
        // A store member without a raft leader cannot keep our lease:
        // better an error now than a write that waits.
        .with_require_leader(true);
    if let (Some(user), Some(password)) = (&etcd.user, &etcd.password) {
        // etcd's token expires after `--auth-token-ttl` (300 s) without a
        // request, and a quiet cluster sends none but keep-alives (which
        // do not renew it): log in again and retry instead of ending the
        // session on the first write after a calm spell.
        options = options
            .with_user(user.clone(), password.expose().to_string())
            .with_auto_token_refresh(true);
    }
    if let Some(tls) = &etcd.tls {
        let mut config = TlsOptions::new();
        match &tls.ca {
            Some(ca) => {
                let pem = read(ca).await?;
                config = config.ca_certificate(Certificate::from_pem(pem));
            }
            None => config = config.with_native_roots(),
        }
        if let Some(client) = &tls.client {
            let cert = read(&client.cert).await?;
            let key = read(&client.key).await?;
            config = config.identity(Identity::from_pem(cert, key));
        }
        options = options.with_tls(config);
    }
    within(
        etcd,
        "connect",
        Client::connect(etcd.endpoints.clone(), Some(options)),
    )
    .await
}

/// A certificate or key file, named in the error (never its content).
async fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}
