/* `gpuaas sim --timeline` and `gpuaas sim --philly`: a time-based replay of
 * a trace through the live scheduler itself (core_apply and core_schedule,
 * the queue, fair share, backfill and placement of src/core), on virtual
 * time. Jobs are submitted at their trace time and each pod ends its
 * trace duration after it was placed; events at the same second form one
 * batch, followed by one scheduling pass, as in the engine. Prints queueing
 * delay, job completion time and GPU utilisation over time. */
#include "sim/replay.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "core/spec.h"
#include "sim/csv.h"

#define REPLAY_JOBS_MAX 2000000
#define UTIL_POINTS 240 /* samples of utilisation over the span */

struct rjob {
    int64_t submit_ms, duration_ms;
    int32_t replicas, gpus, milli;
    int64_t cpu_milli, mem_bytes;
    char ns[48];
    char selector_key[32], selector_value[64];
    /* results */
    uint64_t id;         /* core job id, 0: refused */
    int64_t placed_ms;   /* first placement, 0: never */
    int64_t ended_ms;
    int32_t ended_pods;
};

struct rnode {
    char name[32];
    int64_t cpu_milli, mem_bytes;
    int gpus;
    char model[32];
    char label_key[32], label_value[64];
};

struct replay {
    struct rjob *jobs;
    size_t job_count, job_cap;
    struct rnode *nodes;
    size_t node_count, node_cap;
    char namespaces[64][48];
    size_t ns_count;
    int64_t gpu_total; /* whole GPUs */
};

struct heap_item {
    int64_t at;
    uint64_t pod_id;
};

struct heap {
    struct heap_item *v;
    size_t n, cap;
};

static int heap_push(struct heap *h, struct heap_item it)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        struct heap_item *grown = realloc(h->v, cap * sizeof *grown);
        if (!grown)
            return -1;
        h->v = grown;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2].at > it.at) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = it;
    return 0;
}

static struct heap_item heap_pop(struct heap *h)
{
    struct heap_item top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        struct heap_item *best = &last;
        if (l < h->n && h->v[l].at < best->at) {
            m = l;
            best = &h->v[l];
        }
        if (r < h->n && h->v[r].at < best->at)
            m = r;
        if (m == i)
            break;
        h->v[i] = h->v[m];
        i = m;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

static void replay_free(struct replay *rp)
{
    free(rp->jobs);
    free(rp->nodes);
    memset(rp, 0, sizeof *rp);
}

static struct rjob *job_add(struct replay *rp)
{
    if (rp->job_count == rp->job_cap) {
        size_t cap = rp->job_cap ? rp->job_cap * 2 : 1024;
        if (cap > REPLAY_JOBS_MAX)
            return NULL;
        struct rjob *grown = realloc(rp->jobs, cap * sizeof *grown);
        if (!grown)
            return NULL;
        rp->jobs = grown;
        rp->job_cap = cap;
    }
    struct rjob *j = &rp->jobs[rp->job_count++];
    memset(j, 0, sizeof *j);
    return j;
}

static struct rnode *node_add(struct replay *rp)
{
    if (rp->node_count == rp->node_cap) {
        size_t cap = rp->node_cap ? rp->node_cap * 2 : 256;
        if (cap > CORE_NODES_MAX * 2)
            return NULL;
        struct rnode *grown = realloc(rp->nodes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        rp->nodes = grown;
        rp->node_cap = cap;
    }
    struct rnode *n = &rp->nodes[rp->node_count++];
    memset(n, 0, sizeof *n);
    return n;
}

static int ns_add(struct replay *rp, const char *ns)
{
    for (size_t i = 0; i < rp->ns_count; i++)
        if (strcmp(rp->namespaces[i], ns) == 0)
            return 0;
    if (rp->ns_count == sizeof rp->namespaces / sizeof rp->namespaces[0])
        return -1;
    snprintf(rp->namespaces[rp->ns_count++], sizeof rp->namespaces[0], "%s", ns);
    return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

static int column(const struct csv *csv, const char *path, const char *name, char *err, size_t size)
{
    int c = csv_column(csv, name);
    if (c < 0)
        return fail(err, size, "%s:1: no column '%s'", path, name);
    return c;
}

/* A number of seconds, possibly with decimals ("66.0"); -1 if not. */
static int64_t seconds_ms(const char *text)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v >= 0) || v > 1e11)
        return -1;
    return (int64_t)llround(v * 1000.0);
}

/* ---- openb ------------------------------------------------------------------------------ */

static int load_openb(struct replay *rp, const char *nodes_path, const char *pods_path, char *err, size_t size)
{
    struct csv nodes = {0}, pods = {0};
    int rc = -1;
    if (csv_load(nodes_path, &nodes, err, size) < 0 || csv_load(pods_path, &pods, err, size) < 0)
        goto out;
    int c_cpu = column(&nodes, nodes_path, "cpu_milli", err, size), c_mem, c_gpu, c_model;
    if (c_cpu < 0 || (c_mem = column(&nodes, nodes_path, "memory_mib", err, size)) < 0 ||
        (c_gpu = column(&nodes, nodes_path, "gpu", err, size)) < 0 ||
        (c_model = column(&nodes, nodes_path, "model", err, size)) < 0)
        goto out;
    for (size_t r = 0; r < nodes.rows; r++) {
        int64_t cpu, mem, gpus;
        const char *model = csv_field(&nodes, r, c_model);
        if (csv_int(csv_field(&nodes, r, c_cpu), 1, 10000000, &cpu) < 0 ||
            csv_int(csv_field(&nodes, r, c_mem), 1, 100000000, &mem) < 0 ||
            csv_int(csv_field(&nodes, r, c_gpu), 0, CORE_NODE_GPUS_MAX, &gpus) < 0 || strlen(model) > 31) {
            fail(err, size, "%s:%zu: bad cpu_milli, memory_mib, gpu or model", nodes_path, nodes.lines[r]);
            goto out;
        }
        struct rnode *n = node_add(rp);
        if (!n) {
            fail(err, size, "%s: too many nodes", nodes_path);
            goto out;
        }
        snprintf(n->name, sizeof n->name, "n%05zu", r);
        n->cpu_milli = cpu;
        n->mem_bytes = mem << 20;
        n->gpus = (int)gpus;
        snprintf(n->model, sizeof n->model, "%s", gpus ? model : "");
        rp->gpu_total += gpus;
    }
    int p_cpu = column(&pods, pods_path, "cpu_milli", err, size), p_mem, p_num, p_milli, p_spec, p_create, p_delete,
        p_sched;
    if (p_cpu < 0 || (p_mem = column(&pods, pods_path, "memory_mib", err, size)) < 0 ||
        (p_num = column(&pods, pods_path, "num_gpu", err, size)) < 0 ||
        (p_milli = column(&pods, pods_path, "gpu_milli", err, size)) < 0 ||
        (p_create = column(&pods, pods_path, "creation_time", err, size)) < 0 ||
        (p_delete = column(&pods, pods_path, "deletion_time", err, size)) < 0)
        goto out;
    p_spec = csv_column(&pods, "gpu_spec");
    p_sched = csv_column(&pods, "scheduled_time");
    for (size_t r = 0; r < pods.rows; r++) {
        int64_t cpu, mem, num, milli, created, deleted, scheduled = -1;
        if (csv_int(csv_field(&pods, r, p_cpu), 0, 10000000, &cpu) < 0 ||
            csv_int(csv_field(&pods, r, p_mem), 0, 100000000, &mem) < 0 ||
            csv_int(csv_field(&pods, r, p_num), 0, CORE_NODE_GPUS_MAX, &num) < 0 ||
            csv_int(csv_field(&pods, r, p_milli), 0, 1000, &milli) < 0 ||
            csv_int(csv_field(&pods, r, p_create), 0, INT64_C(100000000000), &created) < 0) {
            fail(err, size, "%s:%zu: bad cpu_milli, memory_mib, num_gpu, gpu_milli or creation_time", pods_path,
                 pods.lines[r]);
            goto out;
        }
        if (csv_int(csv_field(&pods, r, p_delete), 0, INT64_C(100000000000), &deleted) < 0)
            continue; /* never deleted in the trace: no duration */
        if (p_sched >= 0 && csv_int(csv_field(&pods, r, p_sched), 0, INT64_C(100000000000), &scheduled) < 0)
            scheduled = -1;
        int64_t start = scheduled >= created ? scheduled : created;
        if (deleted <= start)
            continue;
        struct rjob *j = job_add(rp);
        if (!j) {
            fail(err, size, "%s: too many pods", pods_path);
            goto out;
        }
        j->submit_ms = created * 1000;
        j->duration_ms = (deleted - start) * 1000;
        j->replicas = 1;
        j->gpus = num > 0 && milli >= 1000 ? (int32_t)num : 0;
        j->milli = num > 0 && milli < 1000 ? (int32_t)milli : 0;
        j->cpu_milli = cpu;
        j->mem_bytes = mem << 20;
        snprintf(j->ns, sizeof j->ns, "openb");
        /* the core's selector takes one model: a list of several is not kept */
        const char *spec = p_spec >= 0 ? csv_field(&pods, r, p_spec) : "";
        if (*spec && !strchr(spec, '|') && strlen(spec) < sizeof j->selector_value && (j->gpus || j->milli)) {
            snprintf(j->selector_key, sizeof j->selector_key, "gpuaas.io/gpu-model");
            snprintf(j->selector_value, sizeof j->selector_value, "%s", spec);
        }
    }
    if (ns_add(rp, "openb") < 0)
        goto out;
    rc = 0;
out:
    csv_free(&nodes);
    csv_free(&pods);
    return rc;
}

/* ---- philly ------------------------------------------------------------------------------ */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "2017-10-09 07:01:55" as ms since the epoch, or -1. */
static int64_t parse_timestamp(const char *s)
{
    int y, mo, d, h, mi, se;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &tail) != 6 || mo < 1 || mo > 12 || d < 1 ||
        d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970 || y > 9999)
        return -1;
    return ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)se * 1000;
}

#define PHILLY_NODE_GPUS 8

static int load_philly(struct replay *rp, const char *jobs_path, const char *vc_path, double scale, char *err,
                       size_t size)
{
    struct csv vcs = {0}, jobs = {0};
    int rc = -1;
    if (csv_load(vc_path, &vcs, err, size) < 0 || csv_load(jobs_path, &jobs, err, size) < 0)
        goto out;
    int c_vc = column(&vcs, vc_path, "vc", err, size), c_num;
    if (c_vc < 0 || (c_num = column(&vcs, vc_path, "node num", err, size)) < 0)
        goto out;
    for (size_t r = 0; r < vcs.rows; r++) {
        int64_t n;
        const char *vc = csv_field(&vcs, r, c_vc);
        if (csv_int(csv_field(&vcs, r, c_num), 1, 100000, &n) < 0 || !*vc || strlen(vc) > 32) {
            fail(err, size, "%s:%zu: bad vc or node num", vc_path, vcs.lines[r]);
            goto out;
        }
        char ns[48];
        snprintf(ns, sizeof ns, "philly/vc-%s", vc);
        if (ns_add(rp, ns) < 0) {
            fail(err, size, "%s: more than 64 virtual clusters", vc_path);
            goto out;
        }
        int64_t nodes = (int64_t)llround((double)n * scale);
        for (int64_t i = 0; i < (nodes < 1 ? 1 : nodes); i++) {
            struct rnode *node = node_add(rp);
            if (!node || rp->node_count > CORE_NODES_MAX) {
                fail(err, size, "%s: more than %d nodes", vc_path, CORE_NODES_MAX);
                goto out;
            }
            snprintf(node->name, sizeof node->name, "vc-%.8s-%04lld", vc, (long long)i);
            node->gpus = PHILLY_NODE_GPUS;
            snprintf(node->model, sizeof node->model, "P100");
            snprintf(node->label_key, sizeof node->label_key, "vc");
            snprintf(node->label_value, sizeof node->label_value, "%s", vc);
            rp->gpu_total += PHILLY_NODE_GPUS;
        }
    }
    int c_ts = column(&jobs, jobs_path, "timestamp", err, size), c_dur, c_gpus, c_cluster;
    if (c_ts < 0 || (c_dur = column(&jobs, jobs_path, "duration", err, size)) < 0 ||
        (c_gpus = column(&jobs, jobs_path, "num_gpus", err, size)) < 0 ||
        (c_cluster = column(&jobs, jobs_path, "cluster", err, size)) < 0)
        goto out;
    for (size_t r = 0; r < jobs.rows; r++) {
        int64_t at = parse_timestamp(csv_field(&jobs, r, c_ts)), dur = seconds_ms(csv_field(&jobs, r, c_dur)), gpus;
        if (at < 0 || dur < 0 || csv_int(csv_field(&jobs, r, c_gpus), 0, 100000, &gpus) < 0) {
            fail(err, size, "%s:%zu: bad timestamp, duration or num_gpus", jobs_path, jobs.lines[r]);
            goto out;
        }
        char ns[48];
        snprintf(ns, sizeof ns, "philly/vc-%.32s", csv_field(&jobs, r, c_cluster));
        size_t k = 0;
        while (k < rp->ns_count && strcmp(rp->namespaces[k], ns) != 0)
            k++;
        if (k == rp->ns_count || gpus == 0 || dur == 0)
            continue; /* a virtual cluster the layout does not have, or nothing to run */
        struct rjob *j = job_add(rp);
        if (!j) {
            fail(err, size, "%s: too many jobs", jobs_path);
            goto out;
        }
        /* more GPUs than a node: a gang of equal replicas on whole nodes' worth */
        int32_t replicas = (int32_t)((gpus + PHILLY_NODE_GPUS - 1) / PHILLY_NODE_GPUS);
        j->submit_ms = at;
        j->duration_ms = dur;
        j->replicas = replicas;
        j->gpus = (int32_t)((gpus + replicas - 1) / replicas);
        snprintf(j->ns, sizeof j->ns, "%s", ns);
        snprintf(j->selector_key, sizeof j->selector_key, "vc");
        snprintf(j->selector_value, sizeof j->selector_value, "%s", ns + strlen("philly/vc-"));
    }
    rc = 0;
out:
    csv_free(&vcs);
    csv_free(&jobs);
    return rc;
}

/* ---- the replay -------------------------------------------------------------------------- */

static int cmp_submit(const void *x, const void *y)
{
    const struct rjob *a = x, *b = y;
    return a->submit_ms < b->submit_ms ? -1 : a->submit_ms > b->submit_ms;
}

struct result {
    size_t submitted, refused, placed, unplaced;
    double wait_p50, wait_p95, wait_p99, wait_mean;
    double jct_p50, jct_p95, jct_p99, jct_mean;
    double big_wait_p50, big_wait_p95, big_wait_mean; /* jobs of 8 GPUs or more */
    size_t big;
    double util_mean;
    double util[UTIL_POINTS];
    int util_points;
    int64_t span_ms;
    double wall_s;
};

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    size_t i = (size_t)ceil(p * (double)n) - 1;
    return v[i < n ? i : n - 1];
}

static int apply_cmd(struct core_state *st, struct core_cmd *cmd, int64_t now, struct core_effects *fx)
{
    struct core_reply reply;
    memset(&reply, 0, sizeof reply);
    int r = core_apply(st, cmd, now, fx, &reply);
    core_reply_clear(&reply);
    return r;
}

static void put_node(struct core_state *st, const struct rnode *n, int64_t now, struct core_effects *fx)
{
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_NODE_PUT;
    struct core_node *node = calloc(1, sizeof *node);
    if (!node)
        return;
    snprintf(node->name, sizeof node->name, "%s", n->name);
    node->state = NODE_READY;
    node->cpu_milli = n->cpu_milli;
    node->memory_bytes = n->mem_bytes;
    node->gpu_count = (uint32_t)n->gpus;
    for (int g = 0; g < n->gpus; g++) {
        struct core_gpu *gpu = &node->gpus[g];
        gpu->index = (uint32_t)g;
        snprintf(gpu->uuid, sizeof gpu->uuid, "GPU-%s-%d", n->name, g);
        snprintf(gpu->model, sizeof gpu->model, "%s", n->model);
        gpu->memory_bytes = INT64_C(16) << 30;
    }
    if (n->label_key[0]) {
        snprintf(node->labels[0].key, sizeof node->labels[0].key, "%s", n->label_key);
        snprintf(node->labels[0].value, sizeof node->labels[0].value, "%s", n->label_value);
        node->label_count = 1;
    }
    cmd.node = node;
    apply_cmd(st, &cmd, now, fx);
    core_cmd_clear(&cmd);
}

static int submit_job(struct core_state *st, struct rjob *j, size_t index, int64_t now, struct core_effects *fx)
{
    char name[24], cpu[32], mem[32];
    snprintf(name, sizeof name, "j%zu", index);
    json_t *res = json_object();
    if (j->gpus)
        json_object_set_new(res, "gpus", json_integer(j->gpus));
    else if (j->milli)
        json_object_set_new(res, "gpu_milli", json_integer(j->milli));
    if (j->cpu_milli) {
        snprintf(cpu, sizeof cpu, "%lldm", (long long)j->cpu_milli);
        json_object_set_new(res, "cpu", json_string(cpu));
    }
    if (j->mem_bytes) {
        snprintf(mem, sizeof mem, "%lldMi", (long long)(j->mem_bytes >> 20));
        json_object_set_new(res, "memory", json_string(mem));
    }
    json_t *spec = json_pack("{s:s,s:s,s:[s],s:o,s:i}", "name", name, "namespace", j->ns, "command", "true",
                             "resources", res, "replicas", j->replicas);
    if (spec && j->selector_key[0])
        json_object_set_new(spec, "selector", json_pack("{s:s}", j->selector_key, j->selector_value));
    struct core_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.kind = CORE_CMD_JOB_SUBMIT;
    struct spec_error serr;
    int r = spec ? spec_parse_job(spec, NULL, &cmd.job, &serr) : -1;
    json_decref(spec);
    if (r < 0)
        return -1;
    struct core_reply reply;
    memset(&reply, 0, sizeof reply);
    r = core_apply(st, &cmd, now, fx, &reply);
    core_reply_clear(&reply);
    core_cmd_clear(&cmd);
    if (r < 0)
        return -1;
    j->id = st->next_job_id - 1;
    return 0;
}

static int64_t pod_milli(const struct core_pod *pod)
{
    int64_t m = 0;
    for (uint32_t d = 0; d < pod->device_count; d++)
        m += pod->devices[d].milli;
    return m;
}

static int run(struct replay *rp, const struct core_config *cfg, struct result *res)
{
    struct core_state st;
    struct core_effects fx;
    struct heap ends = {0};
    int rc = -1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(res, 0, sizeof *res);
    if (core_state_init(&st) < 0)
        return -1;
    core_effects_init(&fx);
    st.cfg.place_policy = cfg->place_policy;
    st.cfg.candidate_limit = cfg->candidate_limit;
    st.cfg.aging_ms = cfg->aging_ms;
    st.cfg.fair_share_half_life_ms = cfg->fair_share_half_life_ms;
    st.cfg.backfill_off = cfg->backfill_off;
    qsort(rp->jobs, rp->job_count, sizeof *rp->jobs, cmp_submit);
    int64_t start = rp->job_count ? rp->jobs[0].submit_ms : 0;
    for (size_t i = 0; i < rp->ns_count; i++) {
        struct core_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.kind = CORE_CMD_NAMESPACE_CREATE;
        snprintf(cmd.namespace_path, sizeof cmd.namespace_path, "%s", rp->namespaces[i]);
        apply_cmd(&st, &cmd, start, &fx);
    }
    for (size_t i = 0; i < rp->node_count; i++)
        put_node(&st, &rp->nodes[i], start, &fx);
    /* job index by core id */
    size_t *by_id = calloc(rp->job_count + 2, sizeof *by_id);
    double *wait = malloc((rp->job_count + 1) * sizeof *wait), *jct = malloc((rp->job_count + 1) * sizeof *jct);
    double *big = malloc((rp->job_count + 1) * sizeof *big);
    if (!by_id || !wait || !jct || !big)
        goto out;
    int64_t alloc_milli = 0, now = start, last = start;
    double util_integral = 0;
    size_t next = 0;
    /* utilisation samples: allocated / capacity at UTIL_POINTS instants over the submit span */
    int64_t span_end = rp->job_count ? rp->jobs[rp->job_count - 1].submit_ms : start;
    int64_t step = (span_end - start) / UTIL_POINTS + 1;
    int sampled = 0;
    while (next < rp->job_count || ends.n) {
        int64_t t_submit = next < rp->job_count ? rp->jobs[next].submit_ms : INT64_MAX;
        int64_t t_end = ends.n ? ends.v[0].at : INT64_MAX;
        now = t_submit < t_end ? t_submit : t_end;
        while (sampled < UTIL_POINTS && start + sampled * step <= now)
            res->util[sampled++] = (double)alloc_milli / (double)(rp->gpu_total * 1000);
        util_integral += (double)alloc_milli * (double)(now - last);
        last = now;
        fx.count = 0;
        /* one batch: every exit and submission of this second */
        while (ends.n && ends.v[0].at <= now) {
            struct heap_item it = heap_pop(&ends);
            struct core_cmd cmd;
            memset(&cmd, 0, sizeof cmd);
            cmd.kind = CORE_CMD_POD_EXITED;
            cmd.pod_id = it.pod_id;
            const struct core_pod *pod = core_find_pod(&st, it.pod_id);
            if (!pod)
                continue;
            alloc_milli -= pod_milli(pod);
            size_t k = by_id[pod->job_id];
            if (apply_cmd(&st, &cmd, now, &fx) == 0 && k) {
                struct rjob *j = &rp->jobs[k - 1];
                if (++j->ended_pods == j->replicas)
                    j->ended_ms = now;
            }
        }
        while (next < rp->job_count && rp->jobs[next].submit_ms <= now) {
            struct rjob *j = &rp->jobs[next];
            res->submitted++;
            if (submit_job(&st, j, next, now, &fx) < 0)
                res->refused++;
            else if (j->id < rp->job_count + 2)
                by_id[j->id] = next + 1;
            next++;
        }
        core_schedule(&st, now, &fx);
        if (fx.out_of_memory)
            goto out;
        for (unsigned e = 0; e < fx.count; e++) {
            if (fx.items[e].kind != CORE_EFFECT_POD_START)
                continue;
            const struct core_pod *pod = core_find_pod(&st, fx.items[e].pod_id);
            size_t k = pod && pod->job_id < rp->job_count + 2 ? by_id[pod->job_id] : 0;
            if (!k)
                continue;
            struct rjob *j = &rp->jobs[k - 1];
            if (!j->placed_ms)
                j->placed_ms = now;
            alloc_milli += pod_milli(pod);
            if (heap_push(&ends, (struct heap_item){.at = now + j->duration_ms, .pod_id = pod->id}) < 0)
                goto out;
        }
    }
    while (sampled < UTIL_POINTS && start + sampled * step <= span_end)
        res->util[sampled++] = 0;
    res->util_points = sampled;
    size_t nw = 0, nj = 0;
    for (size_t i = 0; i < rp->job_count; i++) {
        const struct rjob *j = &rp->jobs[i];
        if (!j->id)
            continue;
        if (!j->placed_ms) {
            res->unplaced++;
            continue;
        }
        res->placed++;
        wait[nw++] = (double)(j->placed_ms - j->submit_ms) / 1000.0;
        if ((int64_t)j->gpus * j->replicas >= 8)
            big[res->big++] = wait[nw - 1];
        if (j->ended_ms)
            jct[nj++] = (double)(j->ended_ms - j->submit_ms) / 1000.0;
    }
    qsort(wait, nw, sizeof *wait, cmp_double);
    qsort(jct, nj, sizeof *jct, cmp_double);
    double sw = 0, sj = 0;
    for (size_t i = 0; i < nw; i++)
        sw += wait[i];
    for (size_t i = 0; i < nj; i++)
        sj += jct[i];
    res->wait_mean = nw ? sw / (double)nw : NAN;
    qsort(big, res->big, sizeof *big, cmp_double);
    double sb = 0;
    for (size_t i = 0; i < res->big; i++)
        sb += big[i];
    res->big_wait_mean = res->big ? sb / (double)res->big : NAN;
    res->big_wait_p50 = pct(big, res->big, 0.50);
    res->big_wait_p95 = pct(big, res->big, 0.95);
    res->jct_mean = nj ? sj / (double)nj : NAN;
    res->wait_p50 = pct(wait, nw, 0.50);
    res->wait_p95 = pct(wait, nw, 0.95);
    res->wait_p99 = pct(wait, nw, 0.99);
    res->jct_p50 = pct(jct, nj, 0.50);
    res->jct_p95 = pct(jct, nj, 0.95);
    res->jct_p99 = pct(jct, nj, 0.99);
    res->span_ms = now - start;
    res->util_mean = res->span_ms > 0 ? util_integral / ((double)res->span_ms * (double)(rp->gpu_total * 1000)) : 0;
    rc = 0;
out:
    clock_gettime(CLOCK_MONOTONIC, &t1);
    res->wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    free(by_id);
    free(wait);
    free(jct);
    free(big);
    free(ends.v);
    core_effects_free(&fx);
    core_state_free(&st);
    return rc;
}

/* ---- the verb ------------------------------------------------------------------------------ */

static const char usage_text[] =
    "Usage: gpuaas sim --timeline --nodes NODES.csv --pods PODS.csv [options]\n"
    "       gpuaas sim --philly JOBS.csv --vc VC.csv [--scale-vc F] [options]\n"
    "\n"
    "Time-based replay through the live scheduler (queue, priorities, fair share,\n"
    "backfill, placement) on virtual time: each job is submitted at its trace time,\n"
    "each pod ends its trace duration after it was placed. Prints queueing delay\n"
    "and job completion time (p50, p95, p99, mean, seconds) and GPU utilisation\n"
    "(allocated GPU / capacity: mean over the run and over time).\n"
    "\n"
    "  --timeline        openb pods: submitted at creation_time, run deletion_time -\n"
    "                    scheduled_time (or - creation_time); gpu_spec kept when it\n"
    "                    names one model\n"
    "  --philly FILE     Philly jobs (timestamp,duration,num_gpus,cluster); more than\n"
    "                    8 GPUs become a gang of 8-GPU replicas\n"
    "  --vc FILE         virtual clusters (vc,node num) of 8-GPU nodes; a namespace and\n"
    "                    a node label per virtual cluster\n"
    "  --scale-vc F      nodes per virtual cluster times F (default 1, 0.01 .. 100)\n"
    "  --compress F      arrivals F times closer together, durations kept (default 1)\n"
    "  --policy P        fgdpack (default), fgd, bestfit, firstfit\n"
    "  --candidates K    nodes scored per decision (default 128, 0: all)\n"
    "  --backfill on|off (default on)\n"
    "  --fair-share DUR  fair-share half-life (default 1h; 0: off)\n"
    "  --aging DUR       one priority class per DUR waited (default 1h; 0: off)\n"
    "  -o FORMAT         table (default) or json\n"
    "  --timing          print the replay's run time on standard error\n"
    "\n"
    "Example (the Philly job list, virtual clusters at a quarter of their size):\n"
    "  gpuaas sim --philly philly.csv --vc philly_vc.csv --scale-vc 0.25\n"
    "\n"
    "Exit codes: 0 ok, 2 bad usage or a malformed input file (the line is named).\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nSee 'gpuaas sim --help' for usage.\n", stderr);
    return 2;
}

static int duration_arg(const char *text, int64_t *ret_ms)
{
    if (strcmp(text, "0") == 0) {
        *ret_ms = 0;
        return 0;
    }
    char *end;
    double v = strtod(text, &end);
    double unit = strcmp(end, "s") == 0 ? 1e3 : strcmp(end, "m") == 0 ? 6e4 : strcmp(end, "h") == 0 ? 3.6e6
                  : strcmp(end, "d") == 0 ? 8.64e7 : -1;
    if (end == text || unit < 0 || !(v > 0) || v * unit > 3.2e10)
        return -1;
    *ret_ms = (int64_t)(v * unit);
    return 0;
}

int sim_replay_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeline", no_argument, NULL, 'T'},       {"nodes", required_argument, NULL, 'N'},
        {"pods", required_argument, NULL, 'P'},     {"philly", required_argument, NULL, 'Y'},
        {"vc", required_argument, NULL, 'V'},       {"scale-vc", required_argument, NULL, 'x'},
        {"policy", required_argument, NULL, 'p'},   {"candidates", required_argument, NULL, 'k'},
        {"backfill", required_argument, NULL, 'b'}, {"fair-share", required_argument, NULL, 'f'},
        {"aging", required_argument, NULL, 'a'},    {"output", required_argument, NULL, 'o'},
        {"compress", required_argument, NULL, 'c'}, {"timing", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *nodes = NULL, *pods = NULL, *philly = NULL, *vc = NULL, *output = "table";
    bool timeline = false, timing = false;
    double scale = 1.0, compress = 1.0;
    struct core_config cfg = {.place_policy = PLACE_POLICY_DEFAULT, .candidate_limit = PLACE_CANDIDATES_DEFAULT, .aging_ms = 3600000,
                              .fair_share_half_life_ms = 3600000};
    int64_t k;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'T': timeline = true; break;
        case 't': timing = true; break;
        case 'N': nodes = optarg; break;
        case 'P': pods = optarg; break;
        case 'Y': philly = optarg; break;
        case 'V': vc = optarg; break;
        case 'o': output = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'x':
            scale = strtod(optarg, &end);
            if (*end || end == optarg || !(scale >= 0.01 && scale <= 100))
                return usage_error("--scale-vc '%s': expected a number from 0.01 to 100", optarg);
            break;
        case 'c':
            compress = strtod(optarg, &end);
            if (*end || end == optarg || !(compress >= 1 && compress <= 100000))
                return usage_error("--compress '%s': expected a number from 1 to 100000", optarg);
            break;
        case 'p':
            if (place_policy_from_name(optarg, &cfg.place_policy) < 0)
                return usage_error("unknown policy '%s': expected fgdpack, fgd, bestfit or firstfit", optarg);
            break;
        case 'k':
            if (csv_int(optarg, 0, 1000000, &k) < 0)
                return usage_error("--candidates '%s': expected a count from 0 to 1000000", optarg);
            cfg.candidate_limit = (uint32_t)k;
            break;
        case 'b':
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
                return usage_error("--backfill '%s': expected on or off", optarg);
            cfg.backfill_off = strcmp(optarg, "off") == 0;
            break;
        case 'f':
            if (duration_arg(optarg, &cfg.fair_share_half_life_ms) < 0)
                return usage_error("--fair-share '%s': expected a duration like 1h, or 0", optarg);
            break;
        case 'a':
            if (duration_arg(optarg, &cfg.aging_ms) < 0)
                return usage_error("--aging '%s': expected a duration like 1h, or 0", optarg);
            break;
        default: return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    bool json = strcmp(output, "json") == 0;
    if (!json && strcmp(output, "table") != 0)
        return usage_error("-o '%s': expected table or json", output);
    if (timeline == (philly != NULL))
        return usage_error("%s", "give either --timeline (with --nodes and --pods) or --philly (with --vc)");
    if (timeline && (!nodes || !pods))
        return usage_error("%s", "--timeline needs --nodes FILE and --pods FILE");
    if (philly && !vc)
        return usage_error("%s", "--philly needs --vc FILE");

    struct replay rp = {0};
    char err[512];
    int r = timeline ? load_openb(&rp, nodes, pods, err, sizeof err) : load_philly(&rp, philly, vc, scale, err,
                                                                                   sizeof err);
    if (r < 0) {
        fprintf(stderr, "error: %s\n", err);
        replay_free(&rp);
        return 2;
    }
    if (compress > 1 && rp.job_count) {
        /* arrivals closer together, durations kept: more offered load */
        int64_t first = INT64_MAX;
        for (size_t i = 0; i < rp.job_count; i++)
            first = rp.jobs[i].submit_ms < first ? rp.jobs[i].submit_ms : first;
        for (size_t i = 0; i < rp.job_count; i++)
            rp.jobs[i].submit_ms = first + (int64_t)((double)(rp.jobs[i].submit_ms - first) / compress);
    }
    struct result *res = malloc(sizeof *res);
    if (!res || run(&rp, &cfg, res) < 0) {
        fputs("error: out of memory\n", stderr);
        free(res);
        replay_free(&rp);
        return 1;
    }
    if (json) {
        json_t *util = json_array();
        for (int i = 0; i < res->util_points; i++)
            json_array_append_new(util, json_real(round(res->util[i] * 10000) / 10000));
        json_t *out = json_pack(
            "{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:{s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f,s:f},s:{s:I,s:f,s:f,s:f},s:f,s:o,"
            "s:f}",
            "trace",
            timeline ? "openb-timeline" : "philly", "policy", place_policy_name(cfg.place_policy), "nodes",
            (json_int_t)rp.node_count, "gpus", (json_int_t)rp.gpu_total, "jobs", (json_int_t)res->submitted,
            "refused", (json_int_t)res->refused, "placed", (json_int_t)res->placed, "never_placed",
            (json_int_t)res->unplaced, "queue_delay_s", "p50", res->wait_p50, "p95", res->wait_p95, "p99",
            res->wait_p99, "mean", res->wait_mean, "jct_s", "p50", res->jct_p50, "p95", res->jct_p95, "p99",
            res->jct_p99, "mean", res->jct_mean, "queue_delay_8plus_gpus_s", "jobs", (json_int_t)res->big, "p50",
            res->big_wait_p50, "p95", res->big_wait_p95, "mean", res->big_wait_mean, "gpu_util_mean", res->util_mean, "gpu_util", util, "span_days",
            (double)res->span_ms / 86400000.0);
        char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
        if (text)
            printf("%s\n", text);
        free(text);
        json_decref(out);
    } else {
        printf("trace %s, policy %s, backfill %s: %zu nodes, %lld GPUs, %.1f days\n",
               timeline ? "openb timeline" : "philly", place_policy_name(cfg.place_policy),
               cfg.backfill_off ? "off" : "on", rp.node_count, (long long)rp.gpu_total,
               (double)res->span_ms / 86400000.0);
        printf("jobs %zu: placed %zu, refused at submit %zu, never placed %zu\n", res->submitted, res->placed,
               res->refused, res->unplaced);
        printf("%-22s %12s %12s %12s %12s\n", "", "p50", "p95", "p99", "mean");
        printf("%-22s %12.0f %12.0f %12.0f %12.0f\n", "queueing delay (s)", res->wait_p50, res->wait_p95,
               res->wait_p99, res->wait_mean);
        printf("%-22s %12.0f %12.0f %12.0f %12.0f\n", "job completion (s)", res->jct_p50, res->jct_p95,
               res->jct_p99, res->jct_mean);
        printf("%-22s %12.0f %12.0f %12s %12.0f   (%zu jobs of 8+ GPUs)\n", "  delay, 8+ GPUs (s)", res->big_wait_p50,
               res->big_wait_p95, "", res->big_wait_mean, res->big);
        printf("GPU utilisation: mean %.1f %%; over the submission span (10 points):", 100 * res->util_mean);
        for (int i = 0; i < 10 && res->util_points; i++)
            printf(" %.0f", 100 * res->util[i * res->util_points / 10]);
        printf(" %%\n");
    }
    if (timing)
        fprintf(stderr, "replayed in %.2f s\n", res->wall_s);
    free(res);
    replay_free(&rp);
    return 0;
}
