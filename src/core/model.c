#include "core/model.h"
#include "core/internal.h"
#include "core/jsontext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpuaas/error.h"
#include "lib/quantity.h"

/* ---- names of states ------------------------------------------------------ */

static const char *const job_state_names[] = {
    [JOB_PENDING] = "Pending", [JOB_RUNNING] = "Running", [JOB_SUCCEEDED] = "Succeeded",
    [JOB_FAILED] = "Failed", [JOB_CANCELLED] = "Cancelled",
};
static const char *const node_state_names[] = {
    [NODE_READY] = "Ready", [NODE_CORDONED] = "Cordoned", [NODE_FAILED] = "Failed",
};

static const char *const pod_state_names[] = {
    [POD_SCHEDULED] = "Scheduled", [POD_RUNNING] = "Running", [POD_SUCCEEDED] = "Succeeded",
    [POD_FAILED] = "Failed",       [POD_KILLED] = "Killed",   [POD_LOST] = "Lost",
};

const char *core_pod_state_name(enum pod_state state) { return pod_state_names[state]; }

int core_pod_state_from_name(const char *name, enum pod_state *ret_state)
{
    for (unsigned i = 0; i < sizeof pod_state_names / sizeof pod_state_names[0]; i++)
        if (strcmp(pod_state_names[i], name) == 0) {
            *ret_state = (enum pod_state)i;
            return 0;
        }
    return GPUAAS_EINVAL;
}

bool core_pod_state_final(enum pod_state state) { return state >= POD_SUCCEEDED; }

const char *core_job_state_name(enum job_state state) { return job_state_names[state]; }
const char *core_node_state_name(enum node_state state) { return node_state_names[state]; }

int core_job_state_from_name(const char *name, enum job_state *ret_state)
{
    for (unsigned i = 0; i < sizeof job_state_names / sizeof job_state_names[0]; i++)
        if (strcmp(job_state_names[i], name) == 0) {
            *ret_state = (enum job_state)i;
            return 0;
        }
    return GPUAAS_EINVAL;
}

int core_node_state_from_name(const char *name, enum node_state *ret_state)
{
    for (unsigned i = 0; i < sizeof node_state_names / sizeof node_state_names[0]; i++)
        if (strcmp(node_state_names[i], name) == 0) {
            *ret_state = (enum node_state)i;
            return 0;
        }
    return GPUAAS_EINVAL;
}

bool core_job_state_final(enum job_state state)
{
    return state == JOB_SUCCEEDED || state == JOB_FAILED || state == JOB_CANCELLED;
}

/* value as printf's "%0*lld" writes it (zeros after the sign up to width);
 * returns the end of what was written */
static char *put_padded(char *out, int64_t value, int width)
{
    char digits[24];
    char *end = digits + sizeof digits, *start = end;
    uint64_t magnitude = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    do {
        *--start = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0) {
        *out++ = '-';
        width--;
    }
    for (int pad = width - (int)(end - start); pad > 0; pad--)
        *out++ = '0';
    while (start < end)
        *out++ = *start++;
    return out;
}

/* Civil date from days since 1970-01-01 (proleptic Gregorian), so that the
 * core formats times without the C library's time-zone machinery. Written
 * digit by digit: snprintf cost a measurable share of each job submission. */
void core_format_time(int64_t ms, char *out, size_t out_size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int millis = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ"; a year needs at most 20 characters */
    char text[48], *p = text;
    p = put_padded(p, y, 4);
    *p++ = '-';
    p = put_padded(p, m, 2);
    *p++ = '-';
    p = put_padded(p, d, 2);
    *p++ = 'T';
    p = put_padded(p, sod / 3600, 2);
    *p++ = ':';
    p = put_padded(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_padded(p, sod % 60, 2);
    *p++ = '.';
    p = put_padded(p, millis, 3);
    *p++ = 'Z';
    if (!out_size)
        return;
    /* cut to fit, as snprintf did */
    size_t len = (size_t)(p - text) < out_size ? (size_t)(p - text) : out_size - 1;
    memcpy(out, text, len);
    out[len] = '\0';
}

/* ---- state ---------------------------------------------------------------- */

int core_state_init(struct core_state *st)
{
    memset(st, 0, sizeof *st);
    hmap_init(&st->namespaces);
    hmap_init(&st->jobs);
    hmap_init(&st->nodes);
    hmap_init(&st->jobs_by_id);
    hmap_init(&st->pods);
    ledger_init(&st->ledger);
    hmap_init(&st->shapes);
    place_cluster_init(&st->place);
    st->place_dirty = true;
    st->node_gen = 1;
    st->cfg.place_policy = PLACE_POLICY_DEFAULT;
    st->cfg.candidate_limit = PLACE_CANDIDATES_DEFAULT;
    st->cfg.aging_ms = 3600000;
    st->cfg.fair_share_half_life_ms = 3600000;
    st->next_job_id = 1;
    st->next_pod_id = 1;
    st->cfg.restart_backoff_ms = 10000;
    st->cfg.restart_backoff_max_ms = 300000;
    st->cfg.stop_grace_ms = 10000;
    st->bindings = calloc(16, sizeof *st->bindings);
    if (!st->bindings)
        return GPUAAS_ENOMEM;
    st->binding_cap = 16;
    st->bindings[0] = (struct rbac_binding){.role = ROLE_PLATFORM_ADMIN, .is_group = true};
    snprintf(st->bindings[0].subject, sizeof st->bindings[0].subject, "%s", CORE_PLATFORM_ADMINS_GROUP);
    st->binding_count = 1;
    return 0;
}

static void job_free(struct core_job *job)
{
    if (!job)
        return;
    spec_release(&job->spec);
    free(job->spec_text);
    free(job);
}

void core_state_free(struct core_state *st)
{
    if (!st)
        return;
    void *value;
    for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);)
        free(value);
    for (size_t it = 0; hmap_next(&st->jobs, &it, NULL, &value);)
        job_free(value);
    for (size_t it = 0; hmap_next(&st->nodes, &it, NULL, &value);)
        free(value);
    for (size_t it = 0; hmap_next(&st->pods, &it, NULL, &value);)
        free(value);
    sched_free(st);
    ledger_free(&st->ledger);
    free(st->bindings);
    hmap_free(&st->namespaces);
    hmap_free(&st->jobs);
    hmap_free(&st->jobs_by_id);
    hmap_free(&st->nodes);
    hmap_free(&st->pods);
}

static void job_key(char *out, size_t size, const char *ns, const char *name)
{
    snprintf(out, size, "%s\x1f%s", ns, name);
}

const struct core_namespace *core_find_namespace(const struct core_state *st, const char *path)
{
    return hmap_get(&st->namespaces, path);
}

const struct core_job *core_find_job(const struct core_state *st, const char *ns, const char *name)
{
    char key[sizeof ((struct core_job *)0)->key];
    job_key(key, sizeof key, ns, name);
    return hmap_get(&st->jobs, key);
}

const struct core_node *core_find_node(const struct core_state *st, const char *name)
{
    return hmap_get(&st->nodes, name);
}

const struct core_pod *core_find_pod(const struct core_state *st, uint64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)id);
    return hmap_get(&st->pods, key);
}

const struct core_job *core_find_job_by_id(const struct core_state *st, uint64_t id)
{
    char key[24];
    snprintf(key, sizeof key, "%llu", (unsigned long long)id);
    return hmap_get(&st->jobs_by_id, key);
}

/* ---- replies and effects -------------------------------------------------- */

int core_reply_error(struct core_reply *reply, int err, const char *field, const char *fmt, ...)
{
    reply->err = err;
    snprintf(reply->field, sizeof reply->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reply->message, sizeof reply->message, fmt, ap);
    va_end(ap);
    return err;
}

static int reply_object(struct core_reply *reply, json_t *object)
{
    if (!object)
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory rendering the reply");
    reply->object = object;
    reply->err = 0;
    return 0;
}

void core_reply_clear(struct core_reply *reply)
{
    if (!reply)
        return;
    json_decref(reply->object);
    free(reply->text);
    memset(reply, 0, sizeof *reply);
}

void core_cmd_clear(struct core_cmd *cmd)
{
    if (!cmd)
        return;
    spec_release(&cmd->job);
    free(cmd->node);
    cmd->node = NULL;
    free(cmd->quota);
    cmd->quota = NULL;
    free(cmd->util_sample);
    cmd->util_sample = NULL;
}

void core_effects_init(struct core_effects *fx) { memset(fx, 0, sizeof *fx); }

void core_effects_free(struct core_effects *fx)
{
    if (!fx)
        return;
    free(fx->items);
    memset(fx, 0, sizeof *fx);
}

struct core_effect *core_effect_add(struct core_effects *fx, enum core_effect_kind kind)
{
    static struct core_effect overflow; /* written, never read: the engine stops on out_of_memory */
    if (fx->count == fx->capacity) {
        unsigned capacity = fx->capacity ? fx->capacity * 2 : 32;
        struct core_effect *items = realloc(fx->items, capacity * sizeof *items);
        if (!items) {
            fx->out_of_memory = true;
            return &overflow;
        }
        fx->items = items;
        fx->capacity = capacity;
    }
    struct core_effect *e = &fx->items[fx->count++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

void core_effect_event(struct core_effects *fx, uint64_t job_id, int64_t now_ms, const char *type, const char *fmt,
                       ...)
{
    struct core_effect *e = core_effect_add(fx, CORE_EFFECT_EVENT);
    e->job_id = job_id;
    e->at_ms = now_ms;
    snprintf(e->event_type, sizeof e->event_type, "%s", type);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->event_message, sizeof e->event_message, fmt, ap);
    va_end(ap);
}

/* ---- namespaces ----------------------------------------------------------- */

static struct core_namespace *namespace_insert(struct core_state *st, const char *path, int depth,
                                               int64_t created_ms)
{
    struct core_namespace *ns = calloc(1, sizeof *ns);
    if (!ns)
        return NULL;
    snprintf(ns->path, sizeof ns->path, "%s", path);
    ns->depth = depth;
    ns->created_ms = created_ms;
    quota_amounts_unlimited(&ns->quota);
    quota_amounts_zero(&ns->used);
    if (hmap_put(&st->namespaces, ns->path, ns) < 0) {
        free(ns);
        return NULL;
    }
    return ns;
}

/* The parent path of "a/b/c" is "a/b"; false for a top-level namespace. */
static bool namespace_parent(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return false;
    snprintf(out, size, "%.*s", (int)(slash - path), path);
    return true;
}

static int apply_namespace_create(struct core_state *st, struct core_cmd *cmd, int64_t now_ms,
                                  struct core_effects *fx, struct core_reply *reply)
{
    const char *why;
    int depth;
    if (names_check_namespace(cmd->namespace_path, &depth, &why) < 0)
        return core_reply_error(reply, GPUAAS_EINVAL, "name", "namespace '%.200s' %s", cmd->namespace_path, why);
    if (core_find_namespace(st, cmd->namespace_path))
        return core_reply_error(reply, GPUAAS_EEXIST, "name", "namespace '%s' already exists",
                           cmd->namespace_path);

    /* like mkdir -p: create the missing ancestors, outermost first */
    char paths[NS_DEPTH_MAX][NS_PATH_MAX + 1];
    int missing = 0;
    snprintf(paths[0], sizeof paths[0], "%s", cmd->namespace_path);
    missing = 1;
    while (missing < depth && namespace_parent(paths[missing - 1], paths[missing], sizeof paths[0]) &&
           !core_find_namespace(st, paths[missing]))
        missing++;
    if (st->namespaces.count + (size_t)missing > CORE_NAMESPACES_MAX)
        return core_reply_error(reply, GPUAAS_ELIMIT, NULL, "the server holds the maximum of %d namespaces",
                           CORE_NAMESPACES_MAX);

    struct core_namespace *created[NS_DEPTH_MAX] = {0};
    for (int i = missing - 1; i >= 0; i--) {
        int level = depth - i;
        created[i] = namespace_insert(st, paths[i], level, now_ms);
        if (!created[i]) {
            for (int j = i + 1; j < missing; j++)
                free(hmap_remove(&st->namespaces, paths[j]));
            return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
        }
    }
    /* count children only once every insert succeeded */
    for (int i = missing - 1; i >= 0; i--) {
        char parent[NS_PATH_MAX + 1];
        if (namespace_parent(paths[i], parent, sizeof parent))
            ((struct core_namespace *)hmap_get(&st->namespaces, parent))->children++;
        core_effect_add(fx, CORE_EFFECT_NAMESPACE_PUT)->ns = created[i];
    }
    return reply_object(reply, core_render_namespace(created[0]));
}

static int apply_namespace_delete(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                                  struct core_reply *reply)
{
    struct core_namespace *ns = hmap_get(&st->namespaces, cmd->namespace_path);
    if (!ns)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "namespace '%.200s' not found",
                           cmd->namespace_path);
    if (ns->children)
        return core_reply_error(reply, GPUAAS_ECONFLICT, NULL,
                           "namespace '%s' has %u child namespace(s); delete them first", ns->path,
                           ns->children);
    if (ns->jobs)
        return core_reply_error(reply, GPUAAS_ECONFLICT, NULL, "namespace '%s' still has %u job(s); delete them first",
                           ns->path, ns->jobs);
    json_t *rendered = core_render_namespace(ns);
    if (!rendered)
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    char parent[NS_PATH_MAX + 1];
    if (namespace_parent(ns->path, parent, sizeof parent))
        ((struct core_namespace *)hmap_get(&st->namespaces, parent))->children--;
    struct core_effect *e = core_effect_add(fx, CORE_EFFECT_NAMESPACE_DELETE);
    snprintf(e->path, sizeof e->path, "%s", ns->path);
    free(hmap_remove(&st->namespaces, cmd->namespace_path));
    return reply_object(reply, rendered);
}

int core_restore_namespace(struct core_state *st, const char *path, int64_t created_ms)
{
    int depth;
    if (names_check_namespace(path, &depth, NULL) < 0)
        return GPUAAS_EINVAL;
    if (core_find_namespace(st, path))
        return GPUAAS_EEXIST;
    if (!namespace_insert(st, path, depth, created_ms))
        return GPUAAS_ENOMEM;
    return 0;
}

void core_restore_next_job_id(struct core_state *st, uint64_t next)
{
    if (next > st->next_job_id)
        st->next_job_id = next;
}

/* Child counts are derived, so they are recomputed after a restore. */
void core_restore_finish(struct core_state *st)
{
    sched_restore_finish(st);
    void *value;
    for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);) {
        struct core_namespace *ns = value;
        ns->children = 0;
    }
    for (size_t it = 0; hmap_next(&st->namespaces, &it, NULL, &value);) {
        char parent[NS_PATH_MAX + 1];
        struct core_namespace *ns = value, *up;
        if (namespace_parent(ns->path, parent, sizeof parent) && (up = hmap_get(&st->namespaces, parent)))
            up->children++;
    }
}

/* ---- jobs ----------------------------------------------------------------- */

static int apply_job_submit(struct core_state *st, struct core_cmd *cmd, int64_t now_ms,
                            struct core_effects *fx, struct core_reply *reply)
{
    struct job_spec *spec = &cmd->job;
    struct core_namespace *ns = hmap_get(&st->namespaces, spec->namespace_path);
    if (!ns)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, "namespace", "namespace '%s' not found",
                           spec->namespace_path);
    if (core_find_job(st, spec->namespace_path, spec->name))
        return core_reply_error(reply, GPUAAS_EEXIST, "name", "job '%s' already exists in namespace '%s'",
                           spec->name, spec->namespace_path);
    if (st->jobs.count >= CORE_JOBS_MAX)
        return core_reply_error(reply, GPUAAS_ELIMIT, NULL, "the server holds the maximum of %d jobs; "
                           "delete finished jobs", CORE_JOBS_MAX);
    int feasible = sched_check_feasible(st, spec, reply);
    if (feasible < 0)
        return feasible;

    struct core_job *job = calloc(1, sizeof *job);
    if (!job)
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    job->id = st->next_job_id;
    snprintf(job->id_key, sizeof job->id_key, "%llu", (unsigned long long)job->id);
    job_key(job->key, sizeof job->key, spec->namespace_path, spec->name);
    job->state = JOB_PENDING;
    snprintf(job->reason, sizeof job->reason, "waiting for placement");
    job->created_ms = job->updated_ms = now_ms;
    char *rendered = NULL;
    size_t rendered_len = 0;
    job->spec = *spec; /* take the spec, document included */
    /* the spec as text once: the store writes it, the reply is built on it;
     * the writer gives json_dumps's bytes for less of the engine's time */
    job->spec_text = jsontext_dumps(spec->document, NULL);
    if (!job->spec_text || hmap_put(&st->jobs, job->key, job) < 0 ||
        hmap_put(&st->jobs_by_id, job->id_key, job) < 0 || !(rendered = core_render_job_text(job, &rendered_len))) {
        hmap_remove(&st->jobs, job->key);
        hmap_remove(&st->jobs_by_id, job->id_key);
        job->spec.document = NULL; /* still the command's */
        free(job->spec_text);
        free(job);
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    }
    spec->document = NULL;
    st->next_job_id++;
    ns->jobs++;
    sched_enqueue(st, job);
    struct core_effect *put = core_effect_add(fx, CORE_EFFECT_JOB_PUT);
    put->job = job;
    put->created = true;
    core_effect_event(fx, job->id, now_ms, "Submitted", "job submitted: %d replica(s)", job->spec.replicas);
    reply->err = 0;
    reply->text = rendered;
    reply->text_len = rendered_len;
    return 0;
}

static struct core_job *job_lookup(struct core_state *st, const struct core_cmd *cmd)
{
    char key[sizeof ((struct core_job *)0)->key];
    job_key(key, sizeof key, cmd->namespace_path, cmd->name);
    return hmap_get(&st->jobs, key);
}

static void job_finish(struct core_job *job, enum job_state state, const char *reason, int64_t now_ms)
{
    job->state = state;
    snprintf(job->reason, sizeof job->reason, "%s", reason);
    job->updated_ms = job->finished_ms = now_ms;
}

static int apply_job_cancel(struct core_state *st, struct core_cmd *cmd, int64_t now_ms,
                            struct core_effects *fx, struct core_reply *reply)
{
    struct core_job *job = job_lookup(st, cmd);
    if (!job)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "job '%s' not found in namespace '%s'", cmd->name,
                           cmd->namespace_path);
    if (core_job_state_final(job->state))
        return core_reply_error(reply, GPUAAS_ECONFLICT, NULL, "job '%s' already finished (%s)",
                           cmd->name, core_job_state_name(job->state));
    json_t *rendered;
    enum job_state old_state = job->state;
    struct core_job saved = *job;
    job_finish(job, JOB_CANCELLED, "cancelled by request", now_ms);
    if (!(rendered = core_render_job(job))) {
        *job = saved;
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    }
    sched_dequeue(st, job);
    sched_stop_job_pods(st, job, now_ms, fx);
    core_effect_add(fx, CORE_EFFECT_JOB_PUT)->job = job;
    core_effect_event(fx, job->id, now_ms, "Cancelled", "cancelled by request while %s",
                 core_job_state_name(old_state));
    return reply_object(reply, rendered);
}

static int apply_job_delete(struct core_state *st, struct core_cmd *cmd, int64_t now_ms,
                            struct core_effects *fx, struct core_reply *reply)
{
    struct core_job *job = job_lookup(st, cmd);
    if (!job)
        return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "job '%s' not found in namespace '%s'", cmd->name,
                           cmd->namespace_path);
    /* an active job is cancelled first; its pods stop and keep their records */
    json_t *rendered;
    if (!core_job_state_final(job->state)) {
        struct core_job saved = *job;
        job_finish(job, JOB_CANCELLED, "cancelled: job deleted", now_ms);
        if (!(rendered = core_render_job(job))) {
            *job = saved;
            return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
        }
        sched_stop_job_pods(st, job, now_ms, fx);
    } else if (!(rendered = core_render_job(job))) {
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    }
    sched_dequeue(st, job);
    struct core_namespace *ns = hmap_get(&st->namespaces, job->spec.namespace_path);
    if (ns)
        ns->jobs--;
    struct core_effect *e = core_effect_add(fx, CORE_EFFECT_JOB_DELETE);
    e->job_id = job->id;
    hmap_remove(&st->jobs, job->key);
    hmap_remove(&st->jobs_by_id, job->id_key);
    job_free(job);
    return reply_object(reply, rendered);
}

int core_restore_job(struct core_state *st, const struct core_job *src)
{
    struct core_job *job = malloc(sizeof *job);
    if (!job) {
        json_decref(src->spec.document);
        return GPUAAS_ENOMEM;
    }
    *job = *src;
    job->spec_text = NULL; /* only the document is taken; the text is remade when needed */
    job->queued = false;
    job->queue_prev = job->queue_next = NULL;
    snprintf(job->id_key, sizeof job->id_key, "%llu", (unsigned long long)job->id);
    job_key(job->key, sizeof job->key, job->spec.namespace_path, job->spec.name);
    struct core_namespace *ns = hmap_get(&st->namespaces, job->spec.namespace_path);
    int r = 0;
    if (!ns)
        r = GPUAAS_ENOTFOUND;
    else if (hmap_get(&st->jobs, job->key))
        r = GPUAAS_EEXIST;
    else if (hmap_put(&st->jobs, job->key, job) < 0)
        r = GPUAAS_ENOMEM;
    else if (hmap_put(&st->jobs_by_id, job->id_key, job) < 0) {
        hmap_remove(&st->jobs, job->key);
        r = GPUAAS_ENOMEM;
    }
    if (r < 0) {
        job_free(job);
        return r;
    }
    ns->jobs++;
    if (job->id >= st->next_job_id)
        st->next_job_id = job->id + 1;
    return 0;
}

/* ---- nodes ---------------------------------------------------------------- */

static int apply_node_put(struct core_state *st, struct core_cmd *cmd, int64_t now_ms,
                          struct core_effects *fx, struct core_reply *reply)
{
    if (!cmd->node)
        return core_reply_error(reply, GPUAAS_EINVAL, NULL, "node command without a node");
    struct core_node *node = hmap_get(&st->nodes, cmd->node->name);
    if (!node) {
        if (st->nodes.count >= CORE_NODES_MAX)
            return core_reply_error(reply, GPUAAS_ELIMIT, NULL, "the server holds the maximum of %d nodes",
                               CORE_NODES_MAX);
        node = malloc(sizeof *node);
        if (!node)
            return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
        *node = *cmd->node;
        if (hmap_put(&st->nodes, node->name, node) < 0) {
            free(node);
            return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
        }
    } else {
        /* a re-registered node keeps what its running pods hold */
        struct core_node_alloc alloc = node->alloc;
        int32_t pods_active = node->pods_active;
        *node = *cmd->node;
        node->alloc = alloc;
        node->pods_active = pods_active;
    }
    node->updated_ms = now_ms;
    sched_nodes_changed(st);
    core_effect_add(fx, CORE_EFFECT_NODE_PUT)->node = node;
    return reply_object(reply, core_render_node(node));
}

int core_restore_node(struct core_state *st, const struct core_node *src)
{
    if (core_find_node(st, src->name))
        return GPUAAS_EEXIST;
    struct core_node *node = malloc(sizeof *node);
    if (!node)
        return GPUAAS_ENOMEM;
    *node = *src;
    memset(&node->alloc, 0, sizeof node->alloc);
    node->pods_active = 0;
    if (hmap_put(&st->nodes, node->name, node) < 0) {
        free(node);
        return GPUAAS_ENOMEM;
    }
    sched_nodes_changed(st);
    return 0;
}

/* ---- role bindings ---------------------------------------------------------- */

static bool binding_same(const struct rbac_binding *a, const struct rbac_binding *b)
{
    return a->role == b->role && a->is_group == b->is_group && strcmp(a->subject, b->subject) == 0 &&
           strcmp(a->namespace_path, b->namespace_path) == 0;
}

static int binding_insert(struct core_state *st, const struct rbac_binding *b)
{
    for (size_t i = 0; i < st->binding_count; i++)
        if (binding_same(&st->bindings[i], b))
            return GPUAAS_EEXIST;
    if (st->binding_count >= RBAC_BINDINGS_MAX)
        return GPUAAS_ELIMIT;
    if (st->binding_count == st->binding_cap) {
        size_t cap = st->binding_cap * 2;
        struct rbac_binding *grown = realloc(st->bindings, cap * sizeof *grown);
        if (!grown)
            return GPUAAS_ENOMEM;
        st->bindings = grown;
        st->binding_cap = cap;
    }
    st->bindings[st->binding_count++] = *b;
    return 0;
}

static int check_binding(const struct core_state *st, const struct rbac_binding *b, bool may_be_missing,
                         struct core_reply *reply)
{
    const char *why;
    if (b->role == ROLE_NONE)
        return core_reply_error(reply, GPUAAS_EINVAL, "role", "unknown role");
    if (!b->subject[0])
        return core_reply_error(reply, GPUAAS_EINVAL, "subject", "a user or group is required");
    if (b->namespace_path[0] && names_check_namespace(b->namespace_path, NULL, &why) < 0)
        return core_reply_error(reply, GPUAAS_EINVAL, "namespace", "'%.200s' %s", b->namespace_path, why);
    if (b->namespace_path[0] && !may_be_missing && !core_find_namespace(st, b->namespace_path))
        return core_reply_error(reply, GPUAAS_ENOTFOUND, "namespace", "namespace '%.200s' not found",
                                b->namespace_path);
    return 0;
}

static int apply_binding_put(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                             struct core_reply *reply)
{
    int r = check_binding(st, &cmd->binding, cmd->binding_namespace_may_be_missing, reply);
    if (r < 0)
        return r;
    json_t *obj = core_render_binding(&cmd->binding);
    if (!obj)
        return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
    if ((r = binding_insert(st, &cmd->binding)) < 0) {
        json_decref(obj);
        return core_reply_error(reply, r, NULL, r == GPUAAS_EEXIST ? "this binding already exists"
                                                                   : "cannot add the binding: %s", gpuaas_strerror(r));
    }
    core_effect_add(fx, CORE_EFFECT_BINDING_PUT)->binding = cmd->binding;
    return reply_object(reply, obj);
}

static int apply_binding_delete(struct core_state *st, struct core_cmd *cmd, struct core_effects *fx,
                                struct core_reply *reply)
{
    /* [0] is the built-in binding: never removed */
    for (size_t i = 1; i < st->binding_count; i++) {
        if (!binding_same(&st->bindings[i], &cmd->binding))
            continue;
        json_t *obj = core_render_binding(&st->bindings[i]);
        if (!obj)
            return core_reply_error(reply, GPUAAS_ENOMEM, NULL, "out of memory");
        core_effect_add(fx, CORE_EFFECT_BINDING_DELETE)->binding = st->bindings[i];
        st->bindings[i] = st->bindings[--st->binding_count];
        return reply_object(reply, obj);
    }
    return core_reply_error(reply, GPUAAS_ENOTFOUND, NULL, "no such binding");
}

int core_restore_binding(struct core_state *st, const struct rbac_binding *binding)
{
    return binding_insert(st, binding);
}

int core_authorize(const struct core_state *st, const struct rbac_identity *who, enum rbac_action action,
                   const char *ns)
{
    return rbac_decide(st->bindings, st->binding_count, who, action, ns);
}

json_t *core_render_binding(const struct rbac_binding *b)
{
    return json_pack("{s:s,s:s,s:s}", "role", rbac_role_name(b->role), b->is_group ? "group" : "user", b->subject,
                     "namespace", b->namespace_path);
}

json_t *core_list_bindings(const struct core_state *st)
{
    json_t *items = json_array();
    for (size_t i = 0; items && i < st->binding_count; i++) {
        json_t *obj = core_render_binding(&st->bindings[i]);
        if (i == 0 && obj)
            json_object_set_new(obj, "builtin", json_true());
        if (!obj || json_array_append_new(items, obj) < 0) {
            json_decref(items);
            return NULL;
        }
    }
    return items ? json_pack("{s:o,s:I}", "items", items, "count", (json_int_t)json_array_size(items)) : NULL;
}

/* ---- dispatch ------------------------------------------------------------- */

int core_apply(struct core_state *st, struct core_cmd *cmd, int64_t now_ms, struct core_effects *fx,
               struct core_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    fx->count = 0;
    switch (cmd->kind) {
    case CORE_CMD_NAMESPACE_CREATE: return apply_namespace_create(st, cmd, now_ms, fx, reply);
    case CORE_CMD_NAMESPACE_DELETE: return apply_namespace_delete(st, cmd, fx, reply);
    case CORE_CMD_JOB_SUBMIT: return apply_job_submit(st, cmd, now_ms, fx, reply);
    case CORE_CMD_JOB_CANCEL: return apply_job_cancel(st, cmd, now_ms, fx, reply);
    case CORE_CMD_JOB_DELETE: return apply_job_delete(st, cmd, now_ms, fx, reply);
    case CORE_CMD_NODE_PUT: return apply_node_put(st, cmd, now_ms, fx, reply);
    case CORE_CMD_POD_STARTED: return sched_apply_pod_started(st, cmd, now_ms, fx, reply);
    case CORE_CMD_POD_EXITED: return sched_apply_pod_exited(st, cmd, now_ms, fx, reply);
    case CORE_CMD_TICK: return sched_apply_tick(st, now_ms, fx, reply);
    case CORE_CMD_QUOTA_SET: return sched_apply_quota_set(st, cmd, fx, reply);
    case CORE_CMD_QUOTA_DELETE: return sched_apply_quota_delete(st, cmd, fx, reply);
    case CORE_CMD_BINDING_PUT: return apply_binding_put(st, cmd, fx, reply);
    case CORE_CMD_BINDING_DELETE: return apply_binding_delete(st, cmd, fx, reply);
    case CORE_CMD_NOTHING: reply->err = 0; return 0;
    case CORE_CMD_UTIL_SAMPLE: return util_apply_sample(st, cmd, now_ms, fx, reply);
    }
    return core_reply_error(reply, GPUAAS_EINVAL, NULL, "unknown command %d", (int)cmd->kind);
}
