/* `gpuaas server`: open the store, rebuild the state, start the engine and
 * the API, and wait for SIGTERM/SIGINT to shut down cleanly. */
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/auth.h"
#include "api/jwt.h"
#include "core/model.h"
#include "engine/engine.h"
#include "gpuaas/error.h"
#include "lib/clock.h"
#include "lib/tzmonth.h"
#include "exec/exec.h"
#include "server/config.h"
#include "server/gpus.h"
#include "server/pods.h"
#include "server/reports.h"
#include "store/store.h"

static const char server_usage[] =
    "usage: gpuaas server [--config FILE] [--listen ADDR:PORT] [--data DIR]\n"
    "\n"
    "Runs the gpuaas control plane.\n"
    "  --config FILE       YAML configuration (default: the embedded one, a small\n"
    "                      simulated cluster; see `gpuaas server --print-config`)\n"
    "  --listen ADDR:PORT  address of the HTTP API (default 127.0.0.1:8080)\n"
    "  --data DIR          data directory: store and admin token (default ./var)\n"
    "  --print-config      print the embedded default configuration and exit\n";

/* mkdir -p with mode 0700 for the last component. */
static int make_data_dir(const char *path, char *err, size_t err_size)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        snprintf(err, err_size, "data directory path is too long");
        return GPUAAS_EINVAL;
    }
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    snprintf(err, err_size, "cannot create data directory %s: %s", buf, strerror(errno));
    return GPUAAS_EIO;
}

/* Writes the file durably: temp file, fsync, rename, fsync of the directory. */
static int write_secret_file(const char *dir, const char *name, const char *text, char *err, size_t err_size)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
        close(fd);
        goto fail;
    }
    close(fd);
    if (rename(tmp, path) < 0)
        goto fail;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return GPUAAS_EIO;
}

struct token_load {
    struct auth *auth;
    int count;
    int failed;
};

static int load_one_token(const struct store_token *token, void *arg)
{
    struct token_load *tl = arg;
    if (auth_add(tl->auth, token) < 0) {
        tl->failed = 1;
        return 1;
    }
    tl->count++;
    return 0;
}

/* Loads the stored tokens; on the very first start makes the admin token.
 * The file is written before the hash is stored: a crash in between leaves
 * no token stored, so the next start simply makes a new one. */
static int setup_tokens(struct store *store, const struct store_ops *ops, struct auth *auth, const char *data_dir,
                        char *err, size_t err_size)
{
    struct token_load tl = {.auth = auth};
    int r = ops->token_each(store, load_one_token, &tl);
    if (r < 0 || tl.failed) {
        snprintf(err, err_size, "cannot load tokens");
        return r < 0 ? r : GPUAAS_ENOMEM;
    }
    if (tl.count > 0)
        return 0;
    char secret[AUTH_TOKEN_TEXT_MAX];
    struct store_token token = {.created_ms = clock_now_ms()};
    snprintf(token.name, sizeof token.name, "admin");
    snprintf(token.role, sizeof token.role, "%s", AUTH_ROLE_PLATFORM_ADMIN);
    if ((r = auth_generate(secret, sizeof secret, token.hash)) < 0 ||
        (r = write_secret_file(data_dir, "admin.token", secret, err, err_size)) < 0)
        return r;
    memset(secret, 0, sizeof secret);
    if ((r = ops->begin(store)) < 0 || (r = ops->token_insert(store, &token, &token.id)) < 0 ||
        (r = ops->commit(store)) < 0) {
        snprintf(err, err_size, "cannot store the admin token: %s", gpuaas_strerror(r));
        return r;
    }
    fprintf(stderr, "gpuaas: created platform-admin token in %s/admin.token (mode 0600)\n", data_dir);
    return auth_add(auth, &token);
}

/* SSO: a verifier for the configured issuer, and the group-to-role mapping
 * (the shape of an IAM role mapping) as role bindings. */
static int setup_sso(const json_t *sso, struct auth *auth, struct engine *engine, char *err, size_t err_size)
{
    if (!sso)
        return 0;
    struct jwt_config jc = {
        .issuer = json_string_value(json_object_get(sso, "issuer")),
        .audience = json_string_value(json_object_get(sso, "audience")),
        .groups_claim = json_string_value(json_object_get(sso, "groups_claim")),
        .username_claim = json_string_value(json_object_get(sso, "username_claim")),
    };
    struct jwt_verifier *v = NULL;
    char why[256] = "";
    int r = jwt_verifier_load(&jc, json_string_value(json_object_get(sso, "jwks")), &v, why, sizeof why);
    if (r < 0) {
        snprintf(err, err_size, "sso: %s", why);
        return r;
    }
    auth_set_sso(auth, v);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(sso, "role_mappings"), i, m) {
        const char *group = json_string_value(json_object_get(m, "group"));
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *ns = json_string_value(json_object_get(m, "namespace"));
        struct engine_request *req = calloc(1, sizeof *req);
        if (!req)
            return GPUAAS_ENOMEM;
        req->cmd.kind = CORE_CMD_BINDING_PUT;
        req->cmd.binding.is_group = true;
        req->cmd.binding_namespace_may_be_missing = true; /* mappings may name namespaces made later */
        if (!group || !role || rbac_role_from_name(role, &req->cmd.binding.role) < 0) {
            snprintf(err, err_size, "sso.role_mappings[%zu]: needs group and a role (platform-admin, "
                                    "namespace-admin, developer, viewer)", i);
            free(req);
            return GPUAAS_EINVAL;
        }
        snprintf(req->cmd.binding.subject, sizeof req->cmd.binding.subject, "%s", group);
        snprintf(req->cmd.binding.namespace_path, sizeof req->cmd.binding.namespace_path, "%s", ns ? ns : "");
        r = engine_call(engine, req);
        if (r == GPUAAS_EEXIST)
            r = 0; /* mapped on an earlier start */
        if (r < 0)
            snprintf(err, err_size, "sso.role_mappings[%zu]: %s", i, req->reply.message);
        core_reply_clear(&req->reply);
        free(req);
        if (r < 0)
            return r;
    }
    fprintf(stderr, "gpuaas: SSO: ID tokens from %s accepted (%zu role mappings)\n", jc.issuer,
            json_array_size(json_object_get(sso, "role_mappings")));
    return 0;
}

/* Registers the configured nodes through the engine, so they are stored. */
static int register_nodes(struct engine *engine, const json_t *nodes, char *err, size_t err_size)
{
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        struct engine_request *req = calloc(1, sizeof *req);
        if (!req)
            return GPUAAS_ENOMEM;
        req->cmd.kind = CORE_CMD_NODE_PUT;
        req->cmd.node = malloc(sizeof *req->cmd.node);
        int r = req->cmd.node ? core_node_from_json(json_array_get(nodes, i), req->cmd.node, err, err_size)
                              : GPUAAS_ENOMEM;
        if (r == 0)
            r = engine_call(engine, req);
        if (r < 0 && req->reply.err)
            snprintf(err, err_size, "node %zu: %s", i, req->reply.message);
        core_reply_clear(&req->reply);
        core_cmd_clear(&req->cmd);
        free(req);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Metering rounds of the local GPUs: one command per round with every
 * device's reading, posted to the engine. A round still queued when the next
 * is due makes the next one skip (the queue never grows with samples). */
struct util_poster {
    struct engine *engine;
    char node[NAME_LABEL_MAX + 1];
    int interval_ms;
    pthread_mutex_t lock;
    bool in_flight;
};

static void util_round_done(struct engine_request *req)
{
    struct util_poster *p = req->done_arg;
    pthread_mutex_lock(&p->lock);
    p->in_flight = false;
    pthread_mutex_unlock(&p->lock);
    core_reply_clear(&req->reply);
    core_cmd_clear(&req->cmd);
    free(req);
}

static void util_round(void *arg, const struct gpu_info *infos, unsigned count)
{
    struct util_poster *p = arg;
    pthread_mutex_lock(&p->lock);
    bool busy = p->in_flight;
    p->in_flight = true;
    pthread_mutex_unlock(&p->lock);
    if (busy)
        return;
    struct engine_request *req = calloc(1, sizeof *req);
    struct core_util_sample *s = req ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        free(req);
        goto skipped;
    }
    snprintf(s->node, sizeof s->node, "%s", p->node);
    s->interval_ms = p->interval_ms;
    for (unsigned i = 0; i < count && s->count < CORE_UTIL_READINGS_MAX; i++) {
        struct core_util_reading *r = &s->readings[s->count++];
        snprintf(r->uuid, sizeof r->uuid, "%s", infos[i].uuid);
        r->util_pct = infos[i].utilization_pct;
        r->memory_used_bytes = infos[i].memory_used_bytes;
        /* NVML has no utilisation per MIG device: slices stay unsampled */
        for (unsigned m = 0; infos[i].mig_mode == 1 && m < infos[i].mig_count && s->count < CORE_UTIL_READINGS_MAX;
             m++) {
            struct core_util_reading *mr = &s->readings[s->count++];
            snprintf(mr->uuid, sizeof mr->uuid, "%s", infos[i].mig[m].uuid);
            mr->util_pct = -1;
            mr->memory_used_bytes = -1;
        }
    }
    req->cmd.kind = CORE_CMD_UTIL_SAMPLE;
    req->cmd.util_sample = s;
    req->done = util_round_done;
    req->done_arg = p;
    if (engine_submit(p->engine, req) == 0)
        return;
    core_cmd_clear(&req->cmd);
    free(req);
skipped:
    pthread_mutex_lock(&p->lock);
    p->in_flight = false;
    pthread_mutex_unlock(&p->lock);
}

static int runner_log_path(void *arg, uint64_t pod_id, char *out, size_t out_size)
{
    struct pod_runner *runner = arg;
    return runner->exec->log_path(runner->exec_ctx, pod_id, out, out_size);
}

/* glibc gives the HTTP thread an arena of its own that grows a page at a
 * time (an mprotect and a page fault per request under load, as jobs kept in
 * memory push its end further). One arena that grows by sbrk in large steps
 * and keeps what it has grown to costs less; the two busy threads seldom
 * contend for its lock. */
static void keep_heap_grown(void)
{
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

int server_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"listen", required_argument, NULL, 'l'},
        {"data", required_argument, NULL, 'd'},   {"print-config", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *listen_arg = NULL, *data_arg = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:l:d:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'l': listen_arg = optarg; break;
        case 'd': data_arg = optarg; break;
        case 'p': fputs(config_default_yaml, stdout); return 0;
        case 'h': fputs(server_usage, stdout); return 0;
        default: fputs(server_usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gpuaas server: unexpected argument '%s'\n%s", argv[optind], server_usage);
        return 2;
    }

    keep_heap_grown();
    char err[1024] = "";
    int exit_code = 1, r;
    struct server_config cfg = {0};
    struct store *store = NULL;
    const struct store_ops *ops = &store_sqlite_ops;
    struct core_state st;
    struct auth *auth = NULL;
    struct engine *engine = NULL;
    struct api_server *api = NULL;
    struct pod_runner runner = {.exec = &exec_local_driver, .clock_ms = clock_now_ms};
    struct pod_adoption *adoptions = NULL;
    struct gpu_source gpus = {0};
    struct tzmonth_table months = {0};
    struct util_poster util_poster = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct report_closer closer;
    size_t adoption_count = 0;
    core_state_init(&st);

    r = config_path ? config_load_file(config_path, &cfg, err, sizeof err)
                    : config_parse(config_default_yaml, strlen(config_default_yaml), &cfg, err, sizeof err);
    if (r < 0) {
        fprintf(stderr, "gpuaas server: config: %s\n", err);
        exit_code = 2;
        goto out;
    }
    int64_t clock_offset;
    if (clock_offset_ms(&clock_offset) < 0) {
        fprintf(stderr, "gpuaas server: %s must be an integer number of milliseconds within +-100 years\n",
                CLOCK_OFFSET_ENV);
        exit_code = 2;
        goto out;
    }
    if (clock_offset)
        fprintf(stderr, "gpuaas: clock shifted by %lld ms (%s, for tests)\n", (long long)clock_offset,
                CLOCK_OFFSET_ENV);
    if (listen_arg)
        snprintf(cfg.listen, sizeof cfg.listen, "%s", listen_arg);
    if (data_arg)
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data_arg);

    /* month boundaries in the metering time zone: computed while this is
     * the only thread (it sets TZ for a moment) */
    if ((r = tzmonth_build(&months, cfg.time_zone, err, sizeof err)) < 0) {
        fprintf(stderr, "gpuaas server: config: metering.time_zone: %s\n", err);
        exit_code = 2;
        goto out;
    }

    /* every thread inherits this mask; the main thread takes the signals */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* this host's GPUs, into the node that asks for discovery */
    if (cfg.discover_node[0]) {
        if ((r = make_data_dir(cfg.data_dir, err, sizeof err)) < 0 ||
            (r = gpus_open(&gpus, cfg.nvml_library[0] ? cfg.nvml_library : NULL,
                           cfg.fake_nvml_library[0] ? cfg.fake_nvml_library : NULL,
                           cfg.fake_nvml[0] ? cfg.fake_nvml : NULL, cfg.data_dir, err, sizeof err)) < 0) {
            fprintf(stderr, "gpuaas server: GPUs: %s\n", err);
            goto out;
        }
        for (size_t i = 0; i < json_array_size(cfg.nodes); i++) {
            json_t *node = json_array_get(cfg.nodes, i);
            if (strcmp(json_string_value(json_object_get(node, "name")), cfg.discover_node) == 0 &&
                (r = gpus_fill_node(&gpus, node, err, sizeof err)) < 0) {
                fprintf(stderr, "gpuaas server: GPUs: %s\n", err);
                goto out;
            }
        }
        gpus_start_sampler(&gpus, cfg.util_sample_ms < 2000 ? (int)cfg.util_sample_ms : 2000);
        fprintf(stderr, "gpuaas: %u GPU(s) on node '%s' through %s\n", gpus.count, cfg.discover_node, gpus.how);
    }

    char db_path[PATH_MAX];
    snprintf(db_path, sizeof db_path, "%s/gpuaas.db", cfg.data_dir);
    if ((r = make_data_dir(cfg.data_dir, err, sizeof err)) < 0 ||
        (r = ops->open(db_path, &store, err, sizeof err)) < 0 ||
        (r = ops->load(store, &st, err, sizeof err)) < 0 || (r = auth_create(&auth)) < 0 ||
        (r = setup_tokens(store, ops, auth, cfg.data_dir, err, sizeof err)) < 0 ||
        (r = report_closer_init(&closer, store, ops, clock_now_ms(), &cfg.prices, cfg.report_title, err,
                                sizeof err)) < 0) {
        fprintf(stderr, "gpuaas server: %s\n", *err ? err : gpuaas_strerror(r));
        goto out;
    }
    closer.months = &months; /* built above, before any thread */
    st.cfg.restart_backoff_ms = cfg.restart_backoff_ms;
    st.cfg.stop_grace_ms = (int32_t)cfg.stop_grace_ms;
    st.cfg.place_policy = (enum place_policy)cfg.sched_policy;
    st.cfg.candidate_limit = cfg.sched_candidates;
    st.cfg.aging_ms = cfg.sched_aging_ms;
    st.cfg.fair_share_half_life_ms = cfg.sched_half_life_ms;
    st.cfg.backfill_off = !cfg.sched_backfill;
    char pods_dir[PATH_MAX];
    snprintf(pods_dir, sizeof pods_dir, "%s/pods", cfg.data_dir);
    if ((r = runner.exec->init(pods_dir, pod_runner_on_exit, &runner, &runner.exec_ctx, err, sizeof err)) < 0 ||
        (r = pod_runner_collect_active(&st, &adoptions, &adoption_count)) < 0) {
        fprintf(stderr, "gpuaas server: executor: %s\n", *err ? err : gpuaas_strerror(r));
        goto out;
    }
    size_t restored_jobs = st.jobs.count, restored_namespaces = st.namespaces.count;
    struct engine_hooks hooks = {
        .action = pod_runner_action, .arg = &runner, .tick = report_closer_tick, .tick_arg = &closer};
    if ((r = engine_start(&st, store, ops, clock_now_ms, &hooks, &engine)) < 0) {
        fprintf(stderr, "gpuaas server: %s\n", gpuaas_strerror(r));
        goto out;
    }
    runner.engine = engine;
    if (gpus.driver) {
        util_poster.engine = engine;
        util_poster.interval_ms = (int)cfg.util_sample_ms;
        snprintf(util_poster.node, sizeof util_poster.node, "%s", cfg.discover_node);
        gpus_set_round_hook(&gpus, util_round, &util_poster, util_poster.interval_ms);
    }
    /* pods the store calls active: adopt them or record how they ended */
    pod_runner_reconcile(&runner, adoptions, adoption_count);
    if ((r = register_nodes(engine, cfg.nodes, err, sizeof err)) < 0 ||
        (r = setup_sso(cfg.sso, auth, engine, err, sizeof err)) < 0) {
        fprintf(stderr, "gpuaas server: %s\n", *err ? err : gpuaas_strerror(r));
        goto out;
    }
    struct api_config api_cfg = {
        .listen = cfg.listen, .log_path = runner_log_path, .log_path_arg = &runner, .prices = &cfg.prices,
        .months = &months, .report_title = cfg.report_title, .metrics_snake_case = cfg.metrics_snake_case};
    if (gpus.driver) {
        api_cfg.gpu_annotate = gpus_annotate;
        api_cfg.gpu_annotate_arg = &gpus;
        api_cfg.gpu_reading = gpus_reading;
        api_cfg.gpu_reading_arg = &gpus;
    }
    if ((r = api_start(&api_cfg, engine, auth, clock_now_ms, &api, err, sizeof err)) < 0) {
        fprintf(stderr, "gpuaas server: %s\n", err);
        goto out;
    }
    fprintf(stderr,
            "gpuaas: serving on http://%.*s:%u  (store %s, %zu namespaces, %zu jobs, %zu nodes)\n"
            "gpuaas: admin token: %s/admin.token\n",
            (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen, api_port(api), db_path, restored_namespaces,
            restored_jobs, st.nodes.count, cfg.data_dir);

    int sig = 0;
    sigwait(&signals, &sig);
    fprintf(stderr, "gpuaas: %s received, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    exit_code = 0;
out:
    api_quiesce(api);
    gpus_stop_sampler(&gpus); /* no more metering rounds for a stopping engine */
    engine_stop(engine); /* answers everything queued; later requests get 503 */
    api_stop(api);       /* no connection can reach the engine after this */
    if (runner.exec_ctx)
        runner.exec->shutdown(runner.exec_ctx); /* pods keep running; the next start adopts them */
    engine_free(engine);
    free(adoptions);
    gpus_close(&gpus);
    tzmonth_free(&months);
    if (store)
        ops->close(store);
    auth_free(auth);
    core_state_free(&st);
    config_release(&cfg);
    return exit_code;
}
