//! What cogsync persists, as the services see it: one trait per family of operations, each
//! method one transaction. [`Store`] is all of them; a part of the server that needs only some
//! depends on those ([`DispatchStore`] for the outbox dispatcher, [`AdminStore`] for the
//! admin listener). The one implementation is [`SqlStore`](super::sql::SqlStore), whose
//! operations live, family by family, in `store/sql/ops/`.

use async_trait::async_trait;

use super::*;

/// An identity's datasets and records: what the sync operations read and write.
#[async_trait]
pub trait DataStore: Send + Sync {
    /// An identity and a pool's settings, read together (one round trip where the engine
    /// pipelines): what UpdateRecords needs before its transaction.
    async fn identity_and_settings(
        &self,
        identity_id: &str,
        pool_id: &str,
    ) -> StoreResult<(Option<IdentityRecord>, PoolSettings)>;
    /// A dataset's row, live or deleted.
    async fn get_dataset(&self, identity_id: &str, name: &str) -> StoreResult<Option<DatasetRow>>;
    /// Live datasets of an identity ordered by name, strictly after `after`.
    async fn list_datasets(
        &self,
        identity_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DatasetRow>>;
    /// The dataset row and its records with SyncCount > `after_sync_count`, ordered by
    /// (SyncCount, key), strictly after `cursor`, at most `limit`, from one snapshot.
    async fn list_records(
        &self,
        identity_id: &str,
        name: &str,
        after_sync_count: i64,
        cursor: Option<&RecordCursor>,
        limit: usize,
    ) -> StoreResult<RecordsPage>;
    /// Atomically: read the snapshot for `keys`, let `decide` plan, write the plan durably.
    /// Concurrent calls on one dataset are serialised; a refusal writes nothing.
    async fn update_records(
        &self,
        identity_id: &str,
        name: &str,
        keys: Vec<String>,
        decide: UpdateDecider,
    ) -> StoreResult<UpdatePlan>;
    /// [`Self::update_records`] for a copy kept of another deployment's dataset (upstream
    /// mode): `decide` plans from the same snapshot, no outbox, or writes nothing (None).
    /// Answers the plan written.
    async fn mirror_records(
        &self,
        identity_id: &str,
        name: &str,
        keys: Vec<String>,
        decide: MirrorDecider,
    ) -> StoreResult<Option<UpdatePlan>>;
    /// Deletes a live dataset atomically: drops its records and subscriptions and writes what
    /// `decide` makes of its row (the row kept, the outbox events). Returns the row as it was
    /// before; None when there was no live dataset (nothing written).
    async fn delete_dataset(
        &self,
        identity_id: &str,
        name: &str,
        decide: DeleteDecider,
    ) -> StoreResult<Option<DatasetRow>>;
}

/// Identity pools, and each pool's Cognito Sync settings.
#[async_trait]
pub trait PoolStore: Send + Sync {
    async fn create_pool(&self, pool: &PoolRecord) -> StoreResult<()>;
    async fn get_pool(&self, id: &str) -> StoreResult<Option<PoolRecord>>;
    /// Pools ordered by id, strictly after `after`.
    async fn list_pools(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<PoolRecord>>;
    /// Stores what `decide` makes of a pool's description as stored now, in one transaction
    /// serialised with the pool's other writes; None when the pool does not exist.
    async fn update_pool(&self, id: &str, decide: PoolDecider) -> StoreResult<Option<PoolRecord>>;
    /// Deletes a pool with its identities, datasets and records; false when it did not exist.
    async fn delete_pool(&self, id: &str) -> StoreResult<bool>;
    /// A pool's settings (the default, version 0, when never set).
    async fn get_pool_settings(&self, pool_id: &str) -> StoreResult<PoolSettings>;
    /// Stores what `decide` makes of a pool's settings as stored now, in one transaction
    /// serialised with the pool's other settings writes; false when it made nothing of them.
    async fn update_pool_settings(
        &self,
        pool_id: &str,
        decide: SettingsDecider,
    ) -> StoreResult<bool>;
}

/// Identities and the logins linked to them.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn create_identity(&self, identity: &IdentityRecord) -> StoreResult<()>;
    async fn get_identity(&self, id: &str) -> StoreResult<Option<IdentityRecord>>;
    /// Identities of a pool ordered by id, strictly after `after`.
    async fn list_identities(
        &self,
        pool_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<IdentityRecord>>;
    /// How many identities a pool has (for the console's pool list).
    async fn count_identities(&self, pool_id: &str) -> StoreResult<i64>;
    /// The identity a login (provider, subject) is linked to in a pool.
    async fn find_login(
        &self,
        pool_id: &str,
        provider: &str,
        subject: &str,
    ) -> StoreResult<Option<String>>;
    /// Every login linked to an identity, as (provider, subject), ordered.
    async fn logins_of(&self, identity_id: &str) -> StoreResult<Vec<(String, String)>>;
    /// One login transaction: reads what `query` names, lets `decide` plan, and applies the
    /// plan (creating, merging at `now_ms`, unlinking, linking), atomically. Transactions that
    /// write are serialised per pool, across nodes, so concurrent first logins of one user
    /// all see the identity the first one created. A plan that writes nothing is answered
    /// from an unlocked read.
    async fn login_transaction(
        &self,
        pool_id: &str,
        query: LoginQuery,
        now_ms: i64,
        decide: LoginDecider,
        merge: MergeCopier,
    ) -> StoreResult<LoginPlan>;
    /// Deletes an identity with its logins, datasets and records; false when it did not exist.
    async fn delete_identity(&self, id: &str) -> StoreResult<bool>;
}

/// Devices registered for push sync, and their dataset subscriptions.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// The device registered for (identity, platform, token), if any.
    async fn find_device(
        &self,
        identity_id: &str,
        platform: &str,
        token: &str,
    ) -> StoreResult<Option<DeviceRecord>>;
    async fn get_device(&self, id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// Inserts a device, or updates the one with the same id; `AlreadyExists` when another id
    /// holds the same (identity, platform, token).
    async fn put_device(&self, device: &DeviceRecord) -> StoreResult<()>;
    /// Marks a device's endpoint unusable, if the device still uses `endpoint_arn`: a push
    /// queued for an endpoint the device has since replaced by registering again must not
    /// disable the new one.
    async fn disable_device(&self, id: &str, endpoint_arn: &str) -> StoreResult<()>;
    /// Subscribes a device to a dataset (idempotent).
    async fn subscribe(&self, identity_id: &str, dataset: &str, device_id: &str)
        -> StoreResult<()>;
    /// Removes a subscription; false when there was none.
    async fn unsubscribe(
        &self,
        identity_id: &str,
        dataset: &str,
        device_id: &str,
    ) -> StoreResult<bool>;
}

/// The outbox of side effects committed with the data, and bulk-publish jobs.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due outbox events for `node` until `now_ms + lease_ms`: only the
    /// oldest pending event of each stream key, and only if no other node holds it.
    async fn claim_outbox(
        &self,
        node: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<OutboxEvent>>;
    /// Removes a delivered event. When it was its bulk-publish job's last, stores what
    /// `decide` makes of the job on [`BulkEvent::Drained`].
    async fn complete_outbox(&self, id: i64, decide: BulkDecider) -> StoreResult<()>;
    /// Records a failed delivery and releases the claim until `next_attempt_ms`.
    async fn retry_outbox(&self, id: i64, next_attempt_ms: i64, error: &str) -> StoreResult<()>;
    /// Events not yet delivered.
    async fn outbox_backlog(&self) -> StoreResult<i64>;
    /// A pool's delivery target is gone for good (its Kinesis stream was deleted). In one
    /// transaction: stores what `decide` makes of the pool's settings as stored now, drops the
    /// pool's undelivered events for `target` (other targets' events stay), and if any of them
    /// belonged to the pool's bulk publish, drops its other events and stores what `bulk`
    /// makes of the job on [`BulkEvent::DeliveryFailed`] with `message`.
    async fn stream_target_gone(
        &self,
        pool_id: &str,
        target: &str,
        message: &str,
        settings: SettingsDecider,
        bulk: BulkDecider,
    ) -> StoreResult<TargetGone>;
    /// Requests a pool's bulk publish in one transaction, serialised per pool: stores what
    /// `decide` makes of the job on [`BulkEvent::Requested`] (a refusal writes nothing), then
    /// writes, due at `now_ms`, the events `events` makes of every live dataset of the pool;
    /// when there are none, stores what `decide` makes of the job on [`BulkEvent::Drained`].
    async fn start_bulk_publish(
        &self,
        pool_id: &str,
        now_ms: i64,
        decide: BulkDecider,
        events: DatasetEvents,
    ) -> StoreResult<()>;
    /// A pool's stored bulk-publish job; None when never requested.
    async fn bulk_publish(&self, pool_id: &str) -> StoreResult<Option<BulkJob>>;
    /// Drops a pool's undelivered bulk-publish events and stores what `decide` makes of the
    /// job on [`BulkEvent::DeliveryFailed`] with `message`.
    async fn fail_bulk_publish(
        &self,
        pool_id: &str,
        message: &str,
        decide: BulkDecider,
    ) -> StoreResult<()>;
}

/// Whole pools and identities out and in (`cogsync export` / `import`).
#[async_trait]
pub trait TransferStore: Send + Sync {
    /// Every secret, as (name, value), by name.
    async fn secrets(&self) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// A pool with its settings and bulk-publish job; None when it does not exist.
    async fn export_pool(&self, id: &str) -> StoreResult<Option<PoolCopy>>;
    /// An identity with everything stored under it, each dataset's records matching its
    /// row; None when it does not exist.
    async fn export_identity(&self, id: &str) -> StoreResult<Option<IdentityCopy>>;
    /// Writes a pool whole, in one transaction serialised with its settings writes: created or
    /// its description replaced, its settings as `settings` makes of the stored ones, and its
    /// bulk-publish job when given.
    async fn import_pool(
        &self,
        pool: &PoolRecord,
        bulk: Option<&BulkJob>,
        settings: SettingsDecider,
    ) -> StoreResult<()>;
    /// Writes an identity whole, in one transaction serialised with its other writers: the
    /// row (created, or its dates set; nothing at all when the id belongs to another pool),
    /// its logins where no other identity holds them, its devices and subscriptions where
    /// absent, and each dataset as `decide` says.
    async fn import_identity(
        &self,
        copy: IdentityCopy,
        decide: ImportDecider,
    ) -> StoreResult<IdentityImport>;
}

/// The server's own secrets, its schema, and what operators and usage figures read: totals,
/// gauges, the store's observer and its descriptor budget.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Returns the named secret, storing `fresh` first if none exists yet (first caller wins).
    async fn secret(&self, name: &str, fresh: Vec<u8>) -> StoreResult<Vec<u8>>;
    /// The schema version the database is at (what readiness compares with the binary's).
    async fn schema_version(&self) -> StoreResult<i64>;
    /// Totals of one identity's datasets.
    async fn identity_totals(&self, identity_id: &str) -> StoreResult<DatasetTotals>;
    /// Totals of every dataset of a pool's identities.
    async fn pool_totals(&self, pool_id: &str) -> StoreResult<DatasetTotals>;
    /// Undelivered outbox events by stored target: (target, count, oldest `created_ms`).
    async fn outbox_targets(&self) -> StoreResult<Vec<(String, i64, i64)>>;
    /// Bulk-publish jobs by stored status: (status, count).
    async fn bulk_statuses(&self) -> StoreResult<Vec<(String, i64)>>;
    /// From now on, tells `observer` what each operation took (once; later calls are ignored).
    fn observe(&self, observer: std::sync::Arc<dyn StoreObserver>);
    /// File descriptors the store holds at most, for the process's descriptor budget.
    fn descriptors(&self) -> usize;
}

/// Upstream mode: pools' attachments, nodes' heartbeats, identities whose mirror may lag.
#[async_trait]
pub trait UpstreamStore: Send + Sync {
    /// Every pool's attachment row.
    async fn upstream_pools(&self) -> StoreResult<Vec<UpstreamPool>>;
    /// Stores what `decide` makes of a pool's row (under the pool's lock); the row written,
    /// None when the decider left it as it was.
    async fn update_upstream(
        &self,
        pool_id: &str,
        decide: AttachDecider,
    ) -> StoreResult<Option<UpstreamPool>>;
    /// One transaction: `node` was seen at `now_ms` and acknowledges `acks` (pool → version);
    /// nodes unseen for a day are forgotten; answers every pool's attachment row.
    async fn upstream_heartbeat(
        &self,
        node: &str,
        now_ms: i64,
        acks: &std::collections::BTreeMap<String, i64>,
    ) -> StoreResult<Vec<UpstreamPool>>;
    /// Every node's last heartbeat.
    async fn upstream_nodes(&self) -> StoreResult<Vec<NodeBeat>>;
    /// An identity of `pool_id` whose mirror may lag the upstream (marked at `now_ms`).
    async fn mark_dirty(&self, pool_id: &str, identity_id: &str, now_ms: i64) -> StoreResult<()>;
    /// Up to `limit` dirty identities of a pool: (identity, when marked).
    async fn dirty(&self, pool_id: &str, limit: usize) -> StoreResult<Vec<(String, i64)>>;
    /// The identity read whole at `read_ms`: its mark goes unless it was marked again since.
    async fn clear_dirty(&self, pool_id: &str, identity_id: &str, read_ms: i64) -> StoreResult<()>;
}

/// Every family: what the services hold.
pub trait Store:
    DataStore
    + PoolStore
    + IdentityStore
    + DeviceStore
    + TransferStore
    + AdminStore
    + DispatchStore
    + UpstreamStore
{
}

impl<T> Store for T where
    T: DataStore
        + PoolStore
        + IdentityStore
        + DeviceStore
        + TransferStore
        + AdminStore
        + DispatchStore
        + UpstreamStore
{
}

/// What the outbox dispatcher uses: the outbox, pools' settings (whether a pool still
/// streams), and devices (a push endpoint gone).
pub trait DispatchStore: OutboxStore + PoolStore + DeviceStore {}

impl<T: OutboxStore + PoolStore + DeviceStore> DispatchStore for T {}
