/* Job lists for GET /v1/jobs and GET /v1/job-summary: filtered by namespace
 * subtree, state and visibility, paged by job id (a new job always gets a
 * larger id, so a walk with `continue` never misses or repeats a job while
 * others are submitted). Only the jobs of the page are rendered. Pure. */
#ifndef GPUAAS_CORE_JOBLIST_H
#define GPUAAS_CORE_JOBLIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

#define JOBLIST_LIMIT_DEFAULT 1000
#define JOBLIST_LIMIT_MAX 10000
#define JOBLIST_STATES_TEXT_MAX 256 /* ?state= as sent */
#define JOBLIST_CONTINUE_MAX 64     /* a continue token's length */

/* Whether the caller may see jobs of namespace ns (the RBAC filter). */
typedef bool joblist_keep_fn(const char *ns, void *arg);

struct joblist_query {
    const char *prefix;    /* namespace subtree; NULL or "": every namespace */
    unsigned states;       /* bit (1u << enum job_state) per state wanted; 0: all */
    uint64_t after_id;     /* only jobs with a larger id (from a continue token); 0: from the start */
    size_t limit;          /* 1..JOBLIST_LIMIT_MAX items at most */
    joblist_keep_fn *keep; /* NULL: every namespace is visible */
    void *keep_arg;
};

/* {"items":[Job...] (by id), "count": items, "total": all matching,
 *  "remaining": matching after this page, "continue": token (only when
 *  remaining > 0)}. *ret is new, owned by the caller. Returns 0,
 * GPUAAS_EINVAL (limit out of range) or GPUAAS_ENOMEM. */
int joblist_page(const struct core_state *st, const struct joblist_query *q, json_t **ret);

/* Counts without items: {"total": N, "by_state": {"Pending": n, ...every
 * state}, "namespaces": [{"namespace", "total", "by_state"}] in name order,
 * only namespaces with jobs}. prefix and keep as in joblist_query. */
int joblist_summary(const struct core_state *st, const char *prefix, joblist_keep_fn *keep, void *keep_arg,
                    json_t **ret);

/* "Pending,Running" (case-insensitive, no empty items) -> state bits.
 * Returns 0 or GPUAAS_EINVAL with a reason in why (naming the bad item). */
int joblist_parse_states(const char *text, unsigned *ret_states, char *why, size_t why_size);

/* The continue token after job id `last_id`, and back. Parsing returns 0 or
 * GPUAAS_EINVAL for anything not made by joblist_format_continue. */
void joblist_format_continue(uint64_t last_id, char *out, size_t size);
int joblist_parse_continue(const char *token, uint64_t *ret_after_id);

#endif
