//! Identities and pool settings kept in memory, for an engine whose database only this
//! process writes (SQLite): every request reads its identity, and every UpdateRecords its
//! pool's settings, though neither changes but by a write that passes here.
//!
//! Identities never change once created, only go (deleted, merged away, their pool deleted);
//! settings change only through this store. Each such write drops what it touched after it
//! commits. A read that raced with such a write does not put its possibly older answer back:
//! every drop moves a generation on, and an answer read under an older generation is not
//! kept. Bounded (least recently used go first).

use std::sync::Mutex;

use hashlink::LruCache;

use crate::store::{IdentityRecord, PoolSettings};

/// Entries kept per kind.
const CAPACITY: usize = 16_384;

pub struct ReadCache {
    inner: Mutex<Inner>,
}

struct Inner {
    generation: u64,
    identities: LruCache<String, IdentityRecord>,
    settings: LruCache<String, PoolSettings>,
}

/// The cache's generation when a read started; keep its answer only if it has not moved.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl Default for ReadCache {
    fn default() -> Self {
        ReadCache {
            inner: Mutex::new(Inner {
                generation: 0,
                identities: LruCache::new(CAPACITY),
                settings: LruCache::new(CAPACITY),
            }),
        }
    }
}

impl ReadCache {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        self.inner.lock().ok().map(|mut inner| f(&mut inner))
    }

    /// Taken before reading the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.with(|i| i.generation).unwrap_or(u64::MAX))
    }

    pub fn identity(&self, id: &str) -> Option<IdentityRecord> {
        self.with(|i| i.identities.get(id).cloned()).flatten()
    }

    pub fn settings(&self, pool_id: &str) -> Option<PoolSettings> {
        self.with(|i| i.settings.get(pool_id).cloned()).flatten()
    }

    /// Keeps an identity read under `ticket`, unless something was dropped since.
    pub fn keep_identity(&self, ticket: Ticket, identity: &IdentityRecord) {
        self.with(|i| {
            if i.generation == ticket.0 {
                i.identities.insert(identity.id.clone(), identity.clone());
            }
        });
    }

    /// Keeps a pool's settings read under `ticket`, unless something was dropped since.
    pub fn keep_settings(&self, ticket: Ticket, pool_id: &str, settings: &PoolSettings) {
        self.with(|i| {
            if i.generation == ticket.0 {
                i.settings.insert(pool_id.to_owned(), settings.clone());
            }
        });
    }

    /// After a write that deleted identities (by id).
    pub fn drop_identities<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        self.with(|i| {
            i.generation += 1;
            for id in ids {
                i.identities.remove(id);
            }
        });
    }

    /// After a write that changed a pool's settings.
    pub fn drop_settings(&self, pool_id: &str) {
        self.with(|i| {
            i.generation += 1;
            i.settings.remove(pool_id);
        });
    }

    /// After a write that deleted a pool (its identities and settings with it).
    pub fn drop_all(&self) {
        self.with(|i| {
            i.generation += 1;
            i.identities.clear();
            i.settings.clear();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: &str) -> IdentityRecord {
        IdentityRecord {
            id: id.into(),
            pool_id: "p".into(),
            created_ms: 1,
            last_modified_ms: 1,
        }
    }

    #[test]
    fn an_answer_read_before_a_drop_is_not_kept() {
        let cache = ReadCache::default();
        let before = cache.ticket();
        cache.drop_identities(["a"]);
        cache.keep_identity(before, &identity("a"));
        assert_eq!(cache.identity("a"), None, "read before the delete: stale");
        let after = cache.ticket();
        cache.keep_identity(after, &identity("a"));
        assert_eq!(cache.identity("a"), Some(identity("a")));
        cache.drop_identities(["a"]);
        assert_eq!(cache.identity("a"), None);
    }

    #[test]
    fn dropping_a_pool_drops_everything() {
        let cache = ReadCache::default();
        let t = cache.ticket();
        cache.keep_identity(t, &identity("a"));
        cache.keep_settings(t, "p", &PoolSettings::default());
        cache.drop_all();
        assert_eq!((cache.identity("a"), cache.settings("p")), (None, None));
    }
}
