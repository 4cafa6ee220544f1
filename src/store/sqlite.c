/* SQLite store: WAL journal with synchronous=FULL, so a committed batch
 * survives a power cut, not only a crash of the server. Schema changes are
 * numbered migrations recorded in PRAGMA user_version. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/spec.h"
#include "gpuaas/error.h"
#include "store/store.h"

/* Each entry moves the schema from version i to i+1. Never edit a shipped
 * migration; append a new one. */
static const char *const migrations[] = {
    /* 1: namespaces, nodes, jobs, job events, tokens */
    "CREATE TABLE namespaces ("
    "  path TEXT PRIMARY KEY,"
    "  created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE nodes ("
    "  name TEXT PRIMARY KEY,"
    "  doc TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  namespace TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  restarts INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL,"
    "  finished_ms INTEGER NOT NULL,"
    "  UNIQUE (namespace, name));"
    "CREATE TABLE job_events ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  type TEXT NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX job_events_by_job ON job_events (job_id, id);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  hash BLOB NOT NULL UNIQUE,"
    "  role TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL DEFAULT 0,"
    "  revoked INTEGER NOT NULL DEFAULT 0);",
    /* 2: pods: one row per replica attempt, the raw input of metering */
    "CREATE TABLE pods ("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL,"
    "  namespace TEXT NOT NULL,"
    "  job TEXT NOT NULL,"
    "  node TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER NOT NULL,"
    "  doc TEXT NOT NULL);"
    "CREATE INDEX pods_by_namespace ON pods (namespace, job);"
    "CREATE INDEX pods_active ON pods (ended_ms) WHERE ended_ms = 0;",
    /* 3: counters that must survive deletions (the highest job id ever used) */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL) WITHOUT ROWID;",
    /* 4: quotas on namespace subtrees */
    "CREATE TABLE quotas ("
    "  namespace TEXT PRIMARY KEY,"
    "  limits TEXT NOT NULL) WITHOUT ROWID;",
    /* 5: role bindings and the append-only audit log */
    "CREATE TABLE bindings ("
    "  role TEXT NOT NULL,"
    "  is_group INTEGER NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  namespace TEXT NOT NULL,"
    "  PRIMARY KEY (role, is_group, subject, namespace)) WITHOUT ROWID;"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  at_ms INTEGER NOT NULL,"
    "  user TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  namespace TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  code TEXT NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX audit_by_time ON audit (at_ms);"
    /* the log only grows: changing or removing a line is refused */
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"
    "ALTER TABLE tokens ADD COLUMN user TEXT NOT NULL DEFAULT '';",
    /* 6: sampled GPU utilisation per pod and hour (the sums of struct core_pod_util) */
    "CREATE TABLE pod_util_hourly ("
    "  pod_id INTEGER NOT NULL,"
    "  hour_ms INTEGER NOT NULL,"
    "  samples INTEGER NOT NULL,"
    "  sampled_milli_ms INTEGER NOT NULL,"
    "  util_milli_ms INTEGER NOT NULL,"
    "  idle_milli_ms INTEGER NOT NULL,"
    "  mem_ms INTEGER NOT NULL,"
    "  mem_mib_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (pod_id, hour_ms)) WITHOUT ROWID;",
    /* 7: monthly reports, written once when a month closes (the primary key
     * makes a second one for the same month impossible) */
    "CREATE TABLE reports ("
    "  month TEXT PRIMARY KEY,"
    "  generated_ms INTEGER NOT NULL,"
    "  json TEXT NOT NULL);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

enum stmt_id {
    STMT_NS_PUT,
    STMT_NS_DELETE,
    STMT_NODE_PUT,
    STMT_JOB_PUT,
    STMT_JOB_STATUS,
    STMT_JOB_DELETE,
    STMT_JOB_ID_HIGH,
    STMT_JOB_EVENTS_DELETE,
    STMT_EVENT_INSERT,
    STMT_BINDING_PUT,
    STMT_BINDING_DELETE,
    STMT_AUDIT_APPEND,
    STMT_QUOTA_PUT,
    STMT_QUOTA_DELETE,
    STMT_POD_PUT,
    STMT_EVENTS_SELECT,
    STMT_UTIL_ADD,
    STMT_UTIL_RANGE,
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_COUNT
};

static const char *const stmt_sql[STMT_COUNT] = {
    [STMT_NS_PUT] = "INSERT INTO namespaces (path, created_ms) VALUES (?1, ?2) "
                    "ON CONFLICT (path) DO UPDATE SET created_ms = excluded.created_ms",
    [STMT_NS_DELETE] = "DELETE FROM namespaces WHERE path = ?1",
    [STMT_NODE_PUT] = "INSERT INTO nodes (name, doc, updated_ms) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_ms = excluded.updated_ms",
    [STMT_JOB_PUT] = "INSERT INTO jobs (id, namespace, name, spec, state, reason, restarts, created_ms, "
                     "updated_ms, finished_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
                     "ON CONFLICT (id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                     "restarts = excluded.restarts, updated_ms = excluded.updated_ms, "
                     "finished_ms = excluded.finished_ms",
    [STMT_JOB_STATUS] = "UPDATE jobs SET state = ?2, reason = ?3, restarts = ?4, updated_ms = ?5, finished_ms = ?6 "
                        "WHERE id = ?1",
    [STMT_JOB_ID_HIGH] = "INSERT INTO meta (key, value) VALUES ('deleted_job_id_max', ?1) "
                         "ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
    [STMT_JOB_DELETE] = "DELETE FROM jobs WHERE id = ?1",
    [STMT_JOB_EVENTS_DELETE] = "DELETE FROM job_events WHERE job_id = ?1",
    [STMT_POD_PUT] = "INSERT INTO pods (id, job_id, namespace, job, node, state, started_ms, ended_ms, doc) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET "
                     "state = excluded.state, started_ms = excluded.started_ms, ended_ms = excluded.ended_ms, "
                     "doc = excluded.doc",
    [STMT_BINDING_PUT] = "INSERT OR IGNORE INTO bindings (role, is_group, subject, namespace) VALUES (?1, ?2, ?3, ?4)",
    [STMT_BINDING_DELETE] = "DELETE FROM bindings WHERE role = ?1 AND is_group = ?2 AND subject = ?3 AND namespace = ?4",
    [STMT_AUDIT_APPEND] = "INSERT INTO audit (at_ms, user, method, path, namespace, status, code, message) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_QUOTA_PUT] = "INSERT INTO quotas (namespace, limits) VALUES (?1, ?2) "
                       "ON CONFLICT (namespace) DO UPDATE SET limits = excluded.limits",
    [STMT_QUOTA_DELETE] = "DELETE FROM quotas WHERE namespace = ?1",
    [STMT_EVENT_INSERT] = "INSERT INTO job_events (job_id, at_ms, type, message) VALUES (?1, ?2, ?3, ?4)",
    [STMT_EVENTS_SELECT] = "SELECT at_ms, type, message FROM ("
                           "SELECT id, at_ms, type, message FROM job_events WHERE job_id = ?1 "
                           "ORDER BY id DESC LIMIT ?2) ORDER BY id",
    [STMT_UTIL_ADD] = "INSERT INTO pod_util_hourly (pod_id, hour_ms, samples, sampled_milli_ms, util_milli_ms, "
                      "idle_milli_ms, mem_ms, mem_mib_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                      "ON CONFLICT (pod_id, hour_ms) DO UPDATE SET samples = samples + excluded.samples, "
                      "sampled_milli_ms = sampled_milli_ms + excluded.sampled_milli_ms, "
                      "util_milli_ms = util_milli_ms + excluded.util_milli_ms, "
                      "idle_milli_ms = idle_milli_ms + excluded.idle_milli_ms, "
                      "mem_ms = mem_ms + excluded.mem_ms, mem_mib_ms = mem_mib_ms + excluded.mem_mib_ms",
    [STMT_UTIL_RANGE] = "SELECT count(*), total(samples), total(sampled_milli_ms), total(util_milli_ms), "
                        "total(idle_milli_ms), total(mem_ms), total(mem_mib_ms) FROM pod_util_hourly "
                        "WHERE pod_id = ?1 AND hour_ms >= ?2 AND hour_ms < ?3",
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT_COUNT];
};

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t err_size)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, err_size, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return GPUAAS_EIO;
    }
    return 0;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *stmt;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return version;
}

static int migrate(sqlite3 *db, char *err, size_t err_size)
{
    int version = user_version(db);
    if (version < 0) {
        snprintf(err, err_size, "cannot read schema version: %s", sqlite3_errmsg(db));
        return GPUAAS_EIO;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(err, err_size, "store schema version %d is newer than this gpuaas (%d)", version,
                 SCHEMA_VERSION);
        return GPUAAS_EINVAL;
    }
    for (; version < SCHEMA_VERSION; version++) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version + 1);
        int r = exec_sql(db, "BEGIN IMMEDIATE", err, err_size);
        if (r == 0)
            r = exec_sql(db, migrations[version], err, err_size);
        if (r == 0)
            r = exec_sql(db, sql, err, err_size);
        if (r == 0)
            r = exec_sql(db, "COMMIT", err, err_size);
        if (r < 0) {
            char ignored[8];
            exec_sql(db, "ROLLBACK", ignored, sizeof ignored);
            return r;
        }
    }
    return 0;
}

static void sqlite_close(struct store *store)
{
    if (!store)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(store->stmt[i]);
    sqlite3_close(store->db);
    free(store);
}

static int sqlite_open(const char *location, struct store **ret_store, char *err, size_t err_size)
{
    struct store *store = calloc(1, sizeof *store);
    int r = GPUAAS_EIO;
    if (!store)
        return GPUAAS_ENOMEM;
    if (sqlite3_open_v2(location, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, err_size, "cannot open %s: %s", location,
                 store->db ? sqlite3_errmsg(store->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(store->db, 5000);
    /* FULL in WAL mode fsyncs the WAL on every commit: durable against power loss */
    if ((r = exec_sql(store->db,
                      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                      "PRAGMA wal_autocheckpoint = 256;",
                      err, err_size)) < 0)
        goto fail;
    if ((r = migrate(store->db, err, err_size)) < 0)
        goto fail;
    for (int i = 0; i < STMT_COUNT; i++)
        if (sqlite3_prepare_v3(store->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &store->stmt[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, err_size, "prepare: %s", sqlite3_errmsg(store->db));
            r = GPUAAS_EIO;
            goto fail;
        }
    *ret_store = store;
    return 0;
fail:
    sqlite_close(store);
    return r;
}

static int sqlite_schema_version(struct store *store) { return user_version(store->db); }

/* Runs a prepared statement that returns no rows, then resets it. */
static int step_done(struct store *store, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "gpuaas: store: %s\n", sqlite3_errmsg(store->db));
        return GPUAAS_EIO;
    }
    return 0;
}

static int sqlite_begin(struct store *store) { return step_done(store, store->stmt[STMT_BEGIN]); }
static int sqlite_commit(struct store *store) { return step_done(store, store->stmt[STMT_COMMIT]); }
static int sqlite_rollback(struct store *store) { return step_done(store, store->stmt[STMT_ROLLBACK]); }

/* A status change rewrites only the status columns; the spec never changes. */
static int put_job_status(struct store *store, const struct core_job *job)
{
    sqlite3_stmt *s = store->stmt[STMT_JOB_STATUS];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)job->id);
    sqlite3_bind_text(s, 2, core_job_state_name(job->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, job->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, job->restarts);
    sqlite3_bind_int64(s, 5, job->updated_ms);
    sqlite3_bind_int64(s, 6, job->finished_ms);
    int r = step_done(store, s);
    if (r == 0 && sqlite3_changes(store->db) == 0)
        return GPUAAS_ENOTFOUND;
    return r;
}

static int put_job(struct store *store, const struct core_job *job)
{
    sqlite3_stmt *s = store->stmt[STMT_JOB_PUT];
    /* the text the core made at submit, else made here */
    char *spec = job->spec_text ? NULL : json_dumps(job->spec.document, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!spec && !job->spec_text)
        return GPUAAS_ENOMEM;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)job->id);
    sqlite3_bind_text(s, 2, job->spec.namespace_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, job->spec.name, -1, SQLITE_STATIC);
    if (spec)
        sqlite3_bind_text(s, 4, spec, -1, free);
    else
        sqlite3_bind_text(s, 4, job->spec_text, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, core_job_state_name(job->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, job->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 7, job->restarts);
    sqlite3_bind_int64(s, 8, job->created_ms);
    sqlite3_bind_int64(s, 9, job->updated_ms);
    sqlite3_bind_int64(s, 10, job->finished_ms);
    return step_done(store, s);
}

static int put_node(struct store *store, const struct core_node *node)
{
    json_t *doc = core_render_node(node);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text)
        return GPUAAS_ENOMEM;
    sqlite3_stmt *s = store->stmt[STMT_NODE_PUT];
    sqlite3_bind_text(s, 1, node->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, text, -1, free);
    sqlite3_bind_int64(s, 3, node->updated_ms);
    return step_done(store, s);
}

static int put_pod(struct store *store, const struct core_pod *pod)
{
    json_t *doc = core_render_pod(pod);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text)
        return GPUAAS_ENOMEM;
    sqlite3_stmt *s = store->stmt[STMT_POD_PUT];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)pod->id);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)pod->job_id);
    sqlite3_bind_text(s, 3, pod->namespace_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, pod->job_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, pod->node, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, core_pod_state_name(pod->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 7, pod->started_ms);
    sqlite3_bind_int64(s, 8, pod->ended_ms);
    sqlite3_bind_text(s, 9, text, -1, free);
    return step_done(store, s);
}

static int sqlite_apply(struct store *store, const struct core_effect *e)
{
    sqlite3_stmt *s;
    int r;
    switch (e->kind) {
    case CORE_EFFECT_NAMESPACE_PUT:
        s = store->stmt[STMT_NS_PUT];
        sqlite3_bind_text(s, 1, e->ns->path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, e->ns->created_ms);
        return step_done(store, s);
    case CORE_EFFECT_NAMESPACE_DELETE:
        s = store->stmt[STMT_QUOTA_DELETE]; /* its quota goes with it */
        sqlite3_bind_text(s, 1, e->path, -1, SQLITE_TRANSIENT);
        if ((r = step_done(store, s)) < 0)
            return r;
        s = store->stmt[STMT_NS_DELETE];
        sqlite3_bind_text(s, 1, e->path, -1, SQLITE_TRANSIENT);
        return step_done(store, s);
    case CORE_EFFECT_JOB_PUT:
        if (!e->created) {
            r = put_job_status(store, e->job);
            if (r != GPUAAS_ENOTFOUND)
                return r;
        }
        return put_job(store, e->job);
    case CORE_EFFECT_JOB_DELETE:
        s = store->stmt[STMT_JOB_DELETE];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)e->job_id);
        if ((r = step_done(store, s)) < 0)
            return r;
        s = store->stmt[STMT_JOB_EVENTS_DELETE];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)e->job_id);
        if ((r = step_done(store, s)) < 0)
            return r;
        s = store->stmt[STMT_JOB_ID_HIGH];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)e->job_id);
        return step_done(store, s);
    case CORE_EFFECT_NODE_PUT:
        return put_node(store, e->node);
    case CORE_EFFECT_POD_PUT:
        return put_pod(store, e->pod);
    case CORE_EFFECT_QUOTA_PUT: {
        json_t *limits = quota_to_json(&e->ns->quota, true);
        char *text = limits ? json_dumps(limits, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(limits);
        if (!text)
            return GPUAAS_ENOMEM;
        s = store->stmt[STMT_QUOTA_PUT];
        sqlite3_bind_text(s, 1, e->ns->path, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, text, -1, free);
        return step_done(store, s);
    }
    case CORE_EFFECT_BINDING_PUT:
    case CORE_EFFECT_BINDING_DELETE:
        s = store->stmt[e->kind == CORE_EFFECT_BINDING_PUT ? STMT_BINDING_PUT : STMT_BINDING_DELETE];
        sqlite3_bind_text(s, 1, rbac_role_name(e->binding.role), -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, e->binding.is_group);
        sqlite3_bind_text(s, 3, e->binding.subject, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 4, e->binding.namespace_path, -1, SQLITE_TRANSIENT);
        return step_done(store, s);
    case CORE_EFFECT_QUOTA_DELETE:
        s = store->stmt[STMT_QUOTA_DELETE];
        sqlite3_bind_text(s, 1, e->path, -1, SQLITE_TRANSIENT);
        return step_done(store, s);
    case CORE_EFFECT_POD_START:
    case CORE_EFFECT_POD_STOP:
        return 0; /* actions for the executor, nothing to store */
    case CORE_EFFECT_POD_UTIL:
        s = store->stmt[STMT_UTIL_ADD];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)e->pod_id);
        sqlite3_bind_int64(s, 2, e->at_ms);
        sqlite3_bind_int64(s, 3, e->util.samples);
        sqlite3_bind_int64(s, 4, e->util.sampled_milli_ms);
        sqlite3_bind_int64(s, 5, e->util.util_milli_ms);
        sqlite3_bind_int64(s, 6, e->util.idle_milli_ms);
        sqlite3_bind_int64(s, 7, e->util.mem_ms);
        sqlite3_bind_int64(s, 8, e->util.mem_mib_ms);
        return step_done(store, s);
    case CORE_EFFECT_EVENT:
        s = store->stmt[STMT_EVENT_INSERT];
        sqlite3_bind_int64(s, 1, (sqlite3_int64)e->job_id);
        sqlite3_bind_int64(s, 2, e->at_ms);
        sqlite3_bind_text(s, 3, e->event_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, e->event_message, -1, SQLITE_STATIC);
        return step_done(store, s);
    }
    return GPUAAS_EINVAL;
}

static int load_namespaces(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = 0;
    /* parents before children: a shorter path can never sort after its child */
    if (sqlite3_prepare_v2(store->db, "SELECT path, created_ms FROM namespaces ORDER BY length(path), path",
                           -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *path = (const char *)sqlite3_column_text(s, 0);
        if ((r = core_restore_namespace(st, path, sqlite3_column_int64(s, 1))) < 0) {
            snprintf(err, err_size, "stored namespace '%.200s': %s", path, gpuaas_strerror(r));
            break;
        }
    }
    sqlite3_finalize(s);
    return r;
}

static int load_nodes(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT name, doc, updated_ms FROM nodes ORDER BY name", -1, &s, NULL) !=
        SQLITE_OK)
        return GPUAAS_EIO;
    while (r == 0 && sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        json_t *doc = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
        struct core_node *node = malloc(sizeof *node);
        char why[256] = "not JSON";
        if (!node)
            r = GPUAAS_ENOMEM;
        else if (!doc || (r = core_node_from_json(doc, node, why, sizeof why)) < 0) {
            snprintf(err, err_size, "stored node '%.64s': %s", name, why);
            r = GPUAAS_EINVAL;
        } else {
            node->updated_ms = sqlite3_column_int64(s, 2);
            if ((r = core_restore_node(st, node)) < 0)
                snprintf(err, err_size, "stored node '%.64s': %s", name, gpuaas_strerror(r));
        }
        free(node);
        json_decref(doc);
    }
    sqlite3_finalize(s);
    return r;
}

static int load_jobs(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = 0;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, namespace, name, spec, state, reason, restarts, created_ms, updated_ms, "
                           "finished_ms FROM jobs ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    while (r == 0 && sqlite3_step(s) == SQLITE_ROW) {
        struct core_job *job = calloc(1, sizeof *job);
        struct spec_error spec_err;
        const char *ns = (const char *)sqlite3_column_text(s, 1);
        const char *name = (const char *)sqlite3_column_text(s, 2);
        json_error_t jerr;
        json_t *doc = json_loads((const char *)sqlite3_column_text(s, 3), 0, &jerr);
        if (!job) {
            r = GPUAAS_ENOMEM;
        } else if (!doc) {
            snprintf(err, err_size, "stored job %s/%s: spec is not JSON: %s", ns, name, jerr.text);
            r = GPUAAS_EINVAL;
        } else if ((r = spec_parse_job(doc, ns, &job->spec, &spec_err)) < 0) {
            snprintf(err, err_size, "stored job %s/%s: %s: %s", ns, name, spec_err.field, spec_err.message);
        } else if (strcmp(job->spec.name, name) != 0) {
            snprintf(err, err_size, "stored job %s/%s: spec names '%s'", ns, name, job->spec.name);
            spec_release(&job->spec);
            r = GPUAAS_EINVAL;
        } else if ((r = core_job_state_from_name((const char *)sqlite3_column_text(s, 4), &job->state)) < 0) {
            snprintf(err, err_size, "stored job %s/%s: unknown state", ns, name);
            spec_release(&job->spec);
        } else {
            job->id = (uint64_t)sqlite3_column_int64(s, 0);
            snprintf(job->reason, sizeof job->reason, "%s", (const char *)sqlite3_column_text(s, 5));
            job->restarts = sqlite3_column_int(s, 6);
            job->created_ms = sqlite3_column_int64(s, 7);
            job->updated_ms = sqlite3_column_int64(s, 8);
            job->finished_ms = sqlite3_column_int64(s, 9);
            if ((r = core_restore_job(st, job)) < 0) /* takes the spec document */
                snprintf(err, err_size, "stored job %s/%s: %s", ns, name, gpuaas_strerror(r));
        }
        json_decref(doc);
        free(job);
    }
    sqlite3_finalize(s);
    return r;
}

static int load_pods(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT id, doc FROM pods ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    while (r == 0 && sqlite3_step(s) == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
        struct core_pod *pod = malloc(sizeof *pod);
        char why[256] = "not JSON";
        if (!pod)
            r = GPUAAS_ENOMEM;
        else if (!doc || (r = core_pod_from_json(doc, pod, why, sizeof why)) < 0) {
            snprintf(err, err_size, "stored pod %lld: %s", (long long)sqlite3_column_int64(s, 0), why);
            r = GPUAAS_EINVAL;
        } else if ((r = core_restore_pod(st, pod)) < 0) {
            snprintf(err, err_size, "stored pod %lld: %s", (long long)pod->id, gpuaas_strerror(r));
        }
        free(pod);
        json_decref(doc);
    }
    sqlite3_finalize(s);
    return r;
}

/* Each pod's utilisation sums, from its hourly rollups. */
static int load_pod_util(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT pod_id, sum(samples), sum(sampled_milli_ms), sum(util_milli_ms), "
                           "sum(idle_milli_ms), sum(mem_ms), sum(mem_mib_ms) FROM pod_util_hourly GROUP BY pod_id",
                           -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "reading utilisation: %s", sqlite3_errmsg(store->db));
        return GPUAAS_EIO;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct core_pod_util u = {
            .samples = sqlite3_column_int64(s, 1),
            .sampled_milli_ms = sqlite3_column_int64(s, 2),
            .util_milli_ms = sqlite3_column_int64(s, 3),
            .idle_milli_ms = sqlite3_column_int64(s, 4),
            .mem_ms = sqlite3_column_int64(s, 5),
            .mem_mib_ms = sqlite3_column_int64(s, 6),
        };
        /* rollups of a pod that is gone are kept for the record, not loaded */
        core_restore_pod_util(st, (uint64_t)sqlite3_column_int64(s, 0), &u);
    }
    sqlite3_finalize(s);
    return 0;
}

static int sqlite_pod_util_range(struct store *store, uint64_t pod_id, int64_t from_ms, int64_t to_ms,
                                 struct core_pod_util *ret)
{
    sqlite3_stmt *s = store->stmt[STMT_UTIL_RANGE];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)pod_id);
    sqlite3_bind_int64(s, 2, from_ms);
    sqlite3_bind_int64(s, 3, to_ms);
    int r = GPUAAS_EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        /* total() is a float: exact for sums below 2^53 */
        *ret = (struct core_pod_util){
            .samples = (int64_t)sqlite3_column_double(s, 1),
            .sampled_milli_ms = (int64_t)sqlite3_column_double(s, 2),
            .util_milli_ms = (int64_t)sqlite3_column_double(s, 3),
            .idle_milli_ms = (int64_t)sqlite3_column_double(s, 4),
            .mem_ms = (int64_t)sqlite3_column_double(s, 5),
            .mem_mib_ms = (int64_t)sqlite3_column_double(s, 6),
        };
        r = 0;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return r;
}

static int load_quotas(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT namespace, limits FROM quotas", -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    while (r == 0 && sqlite3_step(s) == SQLITE_ROW) {
        const char *ns = (const char *)sqlite3_column_text(s, 0);
        json_t *doc = json_loads((const char *)sqlite3_column_text(s, 1), 0, NULL);
        struct quota_amounts limit;
        char field[64] = "", why[128] = "not JSON";
        if (!doc || quota_from_json(doc, &limit, field, sizeof field, why, sizeof why) < 0) {
            snprintf(err, err_size, "stored quota of '%.200s': %s %s", ns, field, why);
            r = GPUAAS_EINVAL;
        } else if ((r = core_restore_quota(st, ns, &limit)) < 0) {
            snprintf(err, err_size, "stored quota of '%.200s': %s", ns, gpuaas_strerror(r));
        }
        json_decref(doc);
    }
    sqlite3_finalize(s);
    return r;
}

static int load_bindings(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = 0;
    if (sqlite3_prepare_v2(store->db, "SELECT role, is_group, subject, namespace FROM bindings", -1, &s, NULL) !=
        SQLITE_OK)
        return GPUAAS_EIO;
    while (r == 0 && sqlite3_step(s) == SQLITE_ROW) {
        struct rbac_binding b = {.is_group = sqlite3_column_int(s, 1) != 0};
        snprintf(b.subject, sizeof b.subject, "%s", (const char *)sqlite3_column_text(s, 2));
        snprintf(b.namespace_path, sizeof b.namespace_path, "%s", (const char *)sqlite3_column_text(s, 3));
        if (rbac_role_from_name((const char *)sqlite3_column_text(s, 0), &b.role) < 0) {
            snprintf(err, err_size, "stored binding for '%s': unknown role", b.subject);
            r = GPUAAS_EINVAL;
        } else if ((r = core_restore_binding(st, &b)) == GPUAAS_EEXIST) {
            r = 0;
        } else if (r < 0) {
            snprintf(err, err_size, "stored binding for '%s': %s", b.subject, gpuaas_strerror(r));
        }
    }
    sqlite3_finalize(s);
    return r;
}

static int sqlite_load(struct store *store, struct core_state *st, char *err, size_t err_size)
{
    int r;
    if ((r = load_bindings(store, st, err, err_size)) < 0)
        return r;
    if ((r = load_namespaces(store, st, err, err_size)) < 0 || (r = load_quotas(store, st, err, err_size)) < 0)
        return r;
    if ((r = load_nodes(store, st, err, err_size)) < 0 ||
        (r = load_jobs(store, st, err, err_size)) < 0 || (r = load_pods(store, st, err, err_size)) < 0 ||
        (r = load_pod_util(store, st, err, err_size)) < 0)
        return r;
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key = 'deleted_job_id_max'", -1, &s, NULL) !=
        SQLITE_OK)
        return GPUAAS_EIO;
    if (sqlite3_step(s) == SQLITE_ROW)
        core_restore_next_job_id(st, (uint64_t)sqlite3_column_int64(s, 0) + 1);
    sqlite3_finalize(s);
    core_restore_finish(st);
    return 0;
}

static int sqlite_job_events(struct store *store, uint64_t job_id, int limit, json_t **ret_list)
{
    sqlite3_stmt *s = store->stmt[STMT_EVENTS_SELECT];
    json_t *items = json_array();
    int rc;
    if (!items)
        return GPUAAS_ENOMEM;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)job_id);
    sqlite3_bind_int(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        char at[40];
        core_format_time(sqlite3_column_int64(s, 0), at, sizeof at);
        json_array_append_new(items, json_pack("{s:s,s:s,s:s}", "time", at, "type",
                                               (const char *)sqlite3_column_text(s, 1), "message",
                                               (const char *)sqlite3_column_text(s, 2)));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE) {
        json_decref(items);
        return GPUAAS_EIO;
    }
    *ret_list = json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items));
    return *ret_list ? 0 : GPUAAS_ENOMEM;
}

static int sqlite_token_insert(struct store *store, const struct store_token *t, int64_t *ret_id)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT INTO tokens (name, hash, role, created_ms, expires_ms, revoked, user) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_text(s, 1, t->name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, t->hash, sizeof t->hash, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, t->role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, t->created_ms);
    sqlite3_bind_int64(s, 5, t->expires_ms);
    sqlite3_bind_int(s, 6, t->revoked);
    sqlite3_bind_text(s, 7, t->user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_CONSTRAINT)
        return GPUAAS_EEXIST;
    if (rc != SQLITE_DONE)
        return GPUAAS_EIO;
    if (ret_id)
        *ret_id = sqlite3_last_insert_rowid(store->db);
    return 0;
}

static int sqlite_token_each(struct store *store, int (*fn)(const struct store_token *, void *), void *arg)
{
    sqlite3_stmt *s;
    int rc;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT id, name, hash, role, created_ms, expires_ms, revoked, user FROM tokens ORDER BY id",
                           -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_token t = {.id = sqlite3_column_int64(s, 0)};
        snprintf(t.name, sizeof t.name, "%s", (const char *)sqlite3_column_text(s, 1));
        if (sqlite3_column_bytes(s, 2) != (int)sizeof t.hash)
            continue; /* not a hash this version understands: never matches */
        memcpy(t.hash, sqlite3_column_blob(s, 2), sizeof t.hash);
        snprintf(t.role, sizeof t.role, "%s", (const char *)sqlite3_column_text(s, 3));
        t.created_ms = sqlite3_column_int64(s, 4);
        t.expires_ms = sqlite3_column_int64(s, 5);
        t.revoked = sqlite3_column_int(s, 6);
        snprintf(t.user, sizeof t.user, "%s", (const char *)sqlite3_column_text(s, 7));
        if (fn(&t, arg))
            break;
    }
    sqlite3_finalize(s);
    return 0;
}

static int sqlite_token_revoke(struct store *store, int64_t id)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store->db, "UPDATE tokens SET revoked = 1 WHERE id = ?1", -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return GPUAAS_EIO;
    return sqlite3_changes(store->db) ? 0 : GPUAAS_ENOTFOUND;
}

static int sqlite_audit_append(struct store *store, const struct store_audit *a)
{
    sqlite3_stmt *s = store->stmt[STMT_AUDIT_APPEND];
    sqlite3_bind_int64(s, 1, a->at_ms);
    sqlite3_bind_text(s, 2, a->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, a->method, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, a->path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, a->namespace_path, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, (int)a->status);
    sqlite3_bind_text(s, 7, a->code, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, a->message, -1, SQLITE_STATIC);
    return step_done(store, s);
}

static int sqlite_audit_list(struct store *store, int64_t since_ms, int limit, json_t **ret_list)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT at_ms, user, method, path, namespace, status, code, message FROM audit "
                           "WHERE at_ms >= ?1 ORDER BY id LIMIT ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_int64(s, 1, since_ms);
    sqlite3_bind_int(s, 2, limit);
    json_t *items = json_array();
    int rc;
    while (items && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        char at[40];
        core_format_time(sqlite3_column_int64(s, 0), at, sizeof at);
        json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "time", at, "user",
                                               (const char *)sqlite3_column_text(s, 1), "method",
                                               (const char *)sqlite3_column_text(s, 2), "path",
                                               (const char *)sqlite3_column_text(s, 3), "namespace",
                                               (const char *)sqlite3_column_text(s, 4), "status",
                                               sqlite3_column_int(s, 5), "code",
                                               (const char *)sqlite3_column_text(s, 6), "message",
                                               (const char *)sqlite3_column_text(s, 7)));
    }
    sqlite3_finalize(s);
    if (!items)
        return GPUAAS_ENOMEM;
    *ret_list = json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items));
    return *ret_list ? 0 : GPUAAS_ENOMEM;
}

static int sqlite_check(struct store *store, char *err, size_t err_size)
{
    sqlite3_stmt *s;
    int r = GPUAAS_EIO;
    if (sqlite3_prepare_v2(store->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *result = (const char *)sqlite3_column_text(s, 0);
        r = strcmp(result, "ok") == 0 ? 0 : GPUAAS_EIO;
        snprintf(err, err_size, "%s", result);
    }
    sqlite3_finalize(s);
    return r;
}

static int sqlite_meta_init(struct store *store, const char *key, int64_t value, int64_t *ret_value)
{
    sqlite3_stmt *s;
    int r = GPUAAS_EIO;
    if (sqlite3_prepare_v2(store->db, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING", -1,
                           &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, value);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE ||
        sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        *ret_value = sqlite3_column_int64(s, 0);
        r = 0;
    }
    sqlite3_finalize(s);
    return r;
}

static int sqlite_report_insert(struct store *store, const char *month, int64_t generated_ms, const char *json_text)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(store->db,
                           "INSERT INTO reports (month, generated_ms, json) VALUES (?1, ?2, ?3) "
                           "ON CONFLICT (month) DO NOTHING",
                           -1, &s, NULL) != SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_text(s, 1, month, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, generated_ms);
    sqlite3_bind_text(s, 3, json_text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return GPUAAS_EIO;
    return sqlite3_changes(store->db) ? 0 : GPUAAS_EEXIST;
}

static int sqlite_report_get(struct store *store, const char *month, int64_t *ret_generated_ms, char **ret_json)
{
    sqlite3_stmt *s;
    int r = GPUAAS_ENOTFOUND;
    if (sqlite3_prepare_v2(store->db, "SELECT generated_ms, json FROM reports WHERE month = ?1", -1, &s, NULL) !=
        SQLITE_OK)
        return GPUAAS_EIO;
    sqlite3_bind_text(s, 1, month, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        char *text = strdup((const char *)sqlite3_column_text(s, 1));
        r = text ? 0 : GPUAAS_ENOMEM;
        if (text) {
            *ret_generated_ms = sqlite3_column_int64(s, 0);
            *ret_json = text;
        }
    } else if (rc != SQLITE_DONE) {
        r = GPUAAS_EIO;
    }
    sqlite3_finalize(s);
    return r;
}

static int sqlite_report_each(struct store *store,
                              int (*fn)(const char *month, int64_t generated_ms, const char *json_text, void *arg),
                              void *arg)
{
    sqlite3_stmt *s;
    int rc;
    if (sqlite3_prepare_v2(store->db, "SELECT month, generated_ms, json FROM reports ORDER BY month", -1, &s, NULL) !=
        SQLITE_OK)
        return GPUAAS_EIO;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (fn((const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1),
               (const char *)sqlite3_column_text(s, 2), arg)) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : GPUAAS_EIO;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .load = sqlite_load,
    .begin = sqlite_begin,
    .apply = sqlite_apply,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .job_events = sqlite_job_events,
    .token_insert = sqlite_token_insert,
    .token_each = sqlite_token_each,
    .token_revoke = sqlite_token_revoke,
    .audit_append = sqlite_audit_append,
    .audit_list = sqlite_audit_list,
    .check = sqlite_check,
    .pod_util_range = sqlite_pod_util_range,
    .meta_init = sqlite_meta_init,
    .report_insert = sqlite_report_insert,
    .report_get = sqlite_report_get,
    .report_each = sqlite_report_each,
};
