/* The store: where every acknowledged change lives. A table of functions
 * (SQLite now, PostgreSQL later); the engine is the only caller, from its
 * own thread, so implementations need no locking of their own. */
#ifndef GPUAAS_STORE_H
#define GPUAAS_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "core/model.h"

struct store;

struct store_token {
    int64_t id;
    char name[64];      /* unique label */
    char user[128];     /* whose identity the token carries ("" : name) */
    unsigned char hash[32]; /* BLAKE2b-256 of the secret */
    char role[32];
    int64_t created_ms;
    int64_t expires_ms; /* 0: never */
    int revoked;
};

/* One line of the audit log: who did what, where, and how it ended. */
struct store_audit {
    int64_t at_ms;
    char user[128];
    char method[8];
    char path[256];
    char namespace_path[NS_PATH_MAX + 1];
    unsigned status;     /* 0 until the outcome is known */
    unsigned ok_status;  /* the status to record on success (200, 201) */
    char code[32];
    char message[256];
};

struct store_ops {
    const char *name;
    /* Opens (creating and migrating as needed). err gets a human message. */
    int (*open)(const char *location, struct store **ret_store, char *err, size_t err_size);
    void (*close)(struct store *store);
    int (*schema_version)(struct store *store);
    /* Rebuilds the core state from what is stored. */
    int (*load)(struct store *store, struct core_state *st, char *err, size_t err_size);
    /* A batch: begin, any number of effects, commit (durable on return). */
    int (*begin)(struct store *store);
    int (*apply)(struct store *store, const struct core_effect *effect);
    int (*commit)(struct store *store);
    int (*rollback)(struct store *store);
    /* Job events, oldest first, at most `limit`: new {"items":[...],"count":N}. */
    int (*job_events)(struct store *store, uint64_t job_id, int limit, json_t **ret_list);
    /* API tokens. */
    int (*token_insert)(struct store *store, const struct store_token *token, int64_t *ret_id);
    /* Calls fn for every token; stops early if fn returns non-zero. */
    int (*token_each)(struct store *store, int (*fn)(const struct store_token *token, void *arg), void *arg);
    /* Marks a token revoked; GPUAAS_ENOTFOUND if there is none with that id. */
    int (*token_revoke)(struct store *store, int64_t id);
    /* Appends to the audit log (inside the current batch). */
    int (*audit_append)(struct store *store, const struct store_audit *record);
    /* Audit records with at_ms >= since_ms, oldest first, at most limit:
     * new {"items":[...],"count":N}. */
    int (*audit_list)(struct store *store, int64_t since_ms, int limit, json_t **ret_list);
    /* PRAGMA integrity_check (or the backend's equivalent): 0 if sound. */
    int (*check)(struct store *store, char *err, size_t err_size);
    /* A pod's utilisation summed over the hourly rollups whose hour starts
     * in [from_ms, to_ms) (metering a pod that crosses a month's edge). */
    int (*pod_util_range)(struct store *store, uint64_t pod_id, int64_t from_ms, int64_t to_ms,
                          struct core_pod_util *ret);
    /* Counters kept across restarts: sets key to value unless it has one,
     * then reads it back into *ret_value. */
    int (*meta_init)(struct store *store, const char *key, int64_t value, int64_t *ret_value);
    /* Monthly reports, one per month ("YYYY-MM"), never replaced: insert
     * answers GPUAAS_EEXIST when the month has one already (inside the
     * caller's begin/commit). */
    int (*report_insert)(struct store *store, const char *month, int64_t generated_ms, const char *json_text);
    /* GPUAAS_ENOTFOUND when the month has none; *ret_json is malloc'd. */
    int (*report_get)(struct store *store, const char *month, int64_t *ret_generated_ms, char **ret_json);
    /* Calls fn for every stored report, oldest month first; stops early
     * if fn returns non-zero. */
    int (*report_each)(struct store *store,
                       int (*fn)(const char *month, int64_t generated_ms, const char *json_text, void *arg),
                       void *arg);
};

extern const struct store_ops store_sqlite_ops;

#endif
