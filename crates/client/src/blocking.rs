//! A synchronous client: the async [`super::Client`] on a runtime of its own.

use super::{ClientConfig, Result};
use strata_format::protocol::{
    self as p, HistoryRequest, HistoryResponse, LookupRequest, LookupResponse, PushOptions,
    RowWrite, WriteSummary,
};

/// A blocking client. Each call runs the request to completion on this
/// client's single-threaded runtime.
pub struct Client {
    rt: tokio::runtime::Runtime,
    inner: super::Client,
}

impl Client {
    pub fn connect(cfg: ClientConfig) -> Result<Client> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| super::Error::Invalid(format!("cannot start a runtime: {e}")))?;
        let inner = rt.block_on(super::Client::connect(cfg))?;
        Ok(Client { rt, inner })
    }

    /// The async client this one drives.
    pub fn as_async(&self) -> &super::Client {
        &self.inner
    }

    pub fn limits(&self) -> Result<p::ServerLimits> {
        self.rt.block_on(self.inner.limits())
    }

    pub fn lookup(&self, req: &LookupRequest) -> Result<LookupResponse> {
        self.rt.block_on(self.inner.lookup(req))
    }

    pub fn history(&self, req: &HistoryRequest) -> Result<HistoryResponse> {
        self.rt.block_on(self.inner.history(req))
    }

    pub fn push(&self, view: &str, rows: &[RowWrite]) -> Result<WriteSummary> {
        self.rt.block_on(self.inner.push(view, rows))
    }

    /// [`crate::Client::push_with`]: with a batch id, backfill or force.
    pub fn push_with(
        &self,
        view: &str,
        rows: &[RowWrite],
        opts: &PushOptions,
    ) -> Result<WriteSummary> {
        self.rt.block_on(self.inner.push_with(view, rows, opts))
    }

    pub fn registry_list(&self) -> Result<p::RegistryList> {
        self.rt.block_on(self.inner.registry_list())
    }

    pub fn describe(&self, view: &str) -> Result<p::ViewDescription> {
        self.rt.block_on(self.inner.describe(view))
    }

    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<p::SearchHit>> {
        self.rt.block_on(self.inner.search(query, limit))
    }

    pub fn stats(&self) -> Result<Vec<(String, u64)>> {
        self.rt.block_on(self.inner.stats())
    }

    pub fn health(&self) -> Result<p::Health> {
        self.rt.block_on(self.inner.health())
    }

    pub fn freshness(&self, req: &p::FreshnessRequest) -> Result<p::FreshnessResponse> {
        self.rt.block_on(self.inner.freshness(req))
    }

    pub fn admin(&self, req: &p::AdminRequest) -> Result<p::AdminReport> {
        self.rt.block_on(self.inner.admin(req))
    }

    pub fn export(
        &self,
        start: &p::ExportStart,
        input: impl Iterator<Item = std::io::Result<Vec<u8>>>,
        output: impl FnMut(&[u8]) -> std::result::Result<(), String>,
    ) -> Result<p::ExportDone> {
        self.rt.block_on(self.inner.export(start, input, output))
    }

    #[cfg(any(test, feature = "test-util"))]
    pub fn raw_exchange(
        &self,
        bytes: &[u8],
        finish: bool,
        wait: std::time::Duration,
    ) -> Result<Vec<(p::FrameHeader, Vec<u8>)>> {
        self.rt
            .block_on(self.inner.raw_exchange(bytes, finish, wait))
    }

    /// Closes the connection and waits (at most a second) until the server
    /// has been told, so that its connection slot is freed at once instead
    /// of at its idle timeout. Dropping the client does the same.
    pub fn close(self) {}
}

impl Drop for Client {
    fn drop(&mut self) {
        // `block_on` inside another runtime would panic: a client dropped
        // there closes without waiting.
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        let inner = &self.inner;
        self.rt.block_on(async {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), inner.close()).await;
        });
    }
}
