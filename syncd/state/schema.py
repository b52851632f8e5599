"""The state DB's schema, as migrations keyed by PRAGMA user_version: each entry
takes a database from version n to n + 1, and a shipped entry is never edited."""

from __future__ import annotations

MIGRATIONS = [
    """
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        db TEXT NOT NULL, doc_id TEXT NOT NULL, attachment TEXT NOT NULL, target TEXT NOT NULL,
        account_id TEXT NOT NULL, pvt_type TEXT NOT NULL,
        object_key TEXT NOT NULL, digest TEXT, length INTEGER NOT NULL, content_type TEXT NOT NULL,
        may_exist INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'synced', 'offloaded')),
        etag TEXT, md5 TEXT,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_attempt_at REAL NOT NULL DEFAULT 0,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, synced_at REAL,
        UNIQUE (db, doc_id, attachment, target)
    );
    CREATE INDEX items_due ON items (status, next_attempt_at);
    CREATE INDEX items_account ON items (account_id, pvt_type, target);
    CREATE TABLE cursors (feed TEXT PRIMARY KEY, seq TEXT NOT NULL, updated_at REAL NOT NULL);
    CREATE TABLE databases (name TEXT PRIMARY KEY, account_id TEXT NOT NULL, found_at REAL NOT NULL);
    CREATE TABLE problems (scope TEXT PRIMARY KEY, message TEXT NOT NULL, since REAL NOT NULL);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, side TEXT NOT NULL, action TEXT NOT NULL,
        account_id TEXT, db TEXT, doc_id TEXT, target TEXT, object_key TEXT, reason TEXT NOT NULL
    );
    """,
    # 2: two-way sync. missing_since: when a listing, event or stat first saw the
    # object gone (a delete needs a second sighting a grace period later).
    # listing: one backend listing streamed to disk, never held in memory.
    """
    ALTER TABLE items ADD COLUMN missing_since REAL;
    ALTER TABLE items ADD COLUMN kazoo_deleted_at REAL;
    CREATE INDEX items_missing ON items (missing_since) WHERE missing_since IS NOT NULL;
    CREATE INDEX items_key ON items (object_key);
    CREATE TABLE listing (
        target TEXT NOT NULL, object_key TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT, md5 TEXT,
        scan INTEGER NOT NULL, PRIMARY KEY (target, object_key)
    ) WITHOUT ROWID;
    CREATE TABLE targets (
        target TEXT PRIMARY KEY, location TEXT NOT NULL, marker_at REAL, last_scan REAL, last_scan_objects INTEGER
    );
    CREATE TABLE holds (
        account_id TEXT PRIMARY KEY, message TEXT NOT NULL, planned INTEGER NOT NULL, since REAL NOT NULL
    );
    CREATE INDEX audit_account ON audit (account_id, at);
    """,
    # 3: a target's items in key order, as its listing is stored: comparing the
    # two and finding orphans are then walks of two indexes, not sorts.
    """
    CREATE INDEX items_target_key ON items (target, object_key);
    """,
    # 4: backends with ids of their own (Drive): object_id finds the item a
    # change feed names by id. upload_sessions: resumable uploads survive a
    # restart; a session belongs to one version (digest, length) of the bytes.
    """
    ALTER TABLE items ADD COLUMN object_id TEXT;
    CREATE INDEX items_object_id ON items (target, object_id) WHERE object_id IS NOT NULL;
    CREATE TABLE upload_sessions (
        item_id INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
        version TEXT NOT NULL, session TEXT NOT NULL, saved_at REAL NOT NULL
    );
    """,
    # 5: the fax outbox. One row per file version handled, keyed by the job id
    # derived from it; written before Kazoo is asked, so a crash never sends twice.
    """
    CREATE TABLE fax_jobs (
        job_id TEXT PRIMARY KEY, outbox TEXT NOT NULL, account_id TEXT NOT NULL,
        source_key TEXT NOT NULL, source_etag TEXT NOT NULL, fingerprint TEXT NOT NULL, size INTEGER NOT NULL,
        to_number TEXT,
        status TEXT NOT NULL CHECK (status IN ('submitting', 'submitted', 'completed', 'failed', 'rejected')),
        detail TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, filed_at REAL, updated_at REAL NOT NULL
    );
    CREATE INDEX fax_jobs_source ON fax_jobs (outbox, source_key, source_etag);
    CREATE INDEX fax_jobs_open ON fax_jobs (outbox, status) WHERE filed_at IS NULL;
    """,
    # 6: CDR export. cdrs is the queue every sink reads in seq order; a changed CDR is
    # replaced by a new row (a new, higher seq), so each sink sees it again and upserts it.
    # cdr_sinks holds each sink's cursor (the last seq it holds) and its last error.
    """
    CREATE TABLE cdrs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        db TEXT NOT NULL, doc_id TEXT NOT NULL, account_id TEXT NOT NULL, rev TEXT NOT NULL,
        started INTEGER, doc BLOB NOT NULL, recorded_at REAL NOT NULL,
        UNIQUE (db, doc_id)
    );
    CREATE TABLE cdr_sinks (
        sink TEXT PRIMARY KEY, seq INTEGER NOT NULL DEFAULT 0, exported INTEGER NOT NULL DEFAULT 0,
        newest_started INTEGER, exported_at REAL, last_error TEXT, error_at REAL
    );
    """,
    # 7: files sinks regenerate one account's day from the queue: find it by index.
    """
    CREATE INDEX cdrs_partition ON cdrs (account_id, started);
    """,
    # 8: the spreadsheet a Sheets sink writes each account's (or account-month's) CDRs into.
    """
    CREATE TABLE cdr_sheets (
        sink TEXT NOT NULL, book TEXT NOT NULL, spreadsheet_id TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (sink, book)
    );
    """,
    # 9: a files sink's closed days: the seq each object of the day covers up to. The day's
    # cdrs.<fmt> holds rows up to the first bound and is never written again; CDRs that arrive or
    # change later go into late-<bound>.<fmt> parts, each covering up to the next bound.
    """
    CREATE TABLE cdr_days (
        sink TEXT NOT NULL, account_id TEXT NOT NULL, day INTEGER NOT NULL, bounds TEXT NOT NULL,
        PRIMARY KEY (sink, account_id, day)
    );
    """,
    # 10: a files sink's day written while open: `bounds` then holds the seq its object covers up
    # to, and that object is final once the day closes (later CDRs go into late parts).
    """
    ALTER TABLE cdr_days ADD COLUMN open INTEGER NOT NULL DEFAULT 0;
    """,
    # 11: a media library's music-on-hold folders. One row per folder (scope) that holds files:
    # the playlist media syncd made of them, what it was made from, the doc whose
    # music_on_hold.media_id syncd set, and that field's value before (JSON; null: it had none),
    # which is put back when the folder empties.
    """
    CREATE TABLE moh_playlists (
        library TEXT NOT NULL, scope TEXT NOT NULL, media_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
        doc_id TEXT, previous TEXT, updated_at REAL NOT NULL,
        PRIMARY KEY (library, scope)
    );
    """,
    # 12: the referrer index: which docs of the followed account databases name which media
    # (bare, or /<account>/<media>), so a media delete asks one indexed query instead of reading
    # every doc of the account. ref_docs keeps each indexed doc's revision number, so an older
    # revision read late never replaces a newer one; its cursor per database is `refs:<db>`.
    """
    CREATE TABLE ref_docs (
        db TEXT NOT NULL, doc_id TEXT NOT NULL, rev_gen INTEGER NOT NULL, PRIMARY KEY (db, doc_id)
    ) WITHOUT ROWID;
    CREATE TABLE refs (
        media_account TEXT NOT NULL, media_key TEXT NOT NULL, db TEXT NOT NULL, doc_id TEXT NOT NULL,
        label TEXT NOT NULL, path TEXT NOT NULL,
        PRIMARY KEY (media_account, media_key, db, doc_id, path)
    ) WITHOUT ROWID;
    CREATE INDEX refs_doc ON refs (db, doc_id);
    """,
    # 13: when a music-on-hold folder was first seen empty: its hold music is put back only a grace
    # period later, and never while the account's deletes are held (the guard), as a delete is.
    """
    ALTER TABLE moh_playlists ADD COLUMN empty_since REAL;
    """,
    # 14: the files a playlist was made from, so a file gone from its folder is a removal (grace
    # period, guard, audit) as the whole folder going is; empty_since now means "since files went".
    """
    ALTER TABLE moh_playlists ADD COLUMN files TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
