#include "support_metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

char *sm_scrape(struct th_http *h)
{
    struct th_resp r;
    long st = th_call(h, "GET", "/metrics", NULL, NULL, &r);
    if (st != 200)
        th_note("GET /metrics -> %ld %.300s", st, r.body);
    assert_int_equal(st, 200);
    char *text = strdup(r.body);
    th_resp_free(&r);
    assert_non_null(text);
    return text;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sm_check_format(const char *text, int *ret_empty, char *empty_names, size_t empty_size)
{
    enum { FAMILIES_MAX = 128 };
    char declared[FAMILIES_MAX][96];
    char type[FAMILIES_MAX][16];
    int samples_of[FAMILIES_MAX] = {0};
    int families = 0;
    size_t keys_cap = 1024, keys_count = 0;
    char **keys = malloc(keys_cap * sizeof *keys);
    assert_non_null(keys);
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        char buf[2048];
        size_t len = (size_t)(end - line);
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0) {
            char name[96];
            assert_int_equal(sscanf(buf + 7, "%95s", name), 1);
            assert_true(strlen(buf) > 8 + strlen(name)); /* a help text */
            for (int f = 0; f < families; f++)
                if (strcmp(declared[f], name) == 0)
                    fail_msg("family %s declared twice", name);
            char type_line[160];
            snprintf(type_line, sizeof type_line, "# TYPE %s ", name);
            const char *next = end + 1;
            assert_int_equal(strncmp(next, type_line, strlen(type_line)), 0);
            assert_true(families < FAMILIES_MAX);
            assert_int_equal(sscanf(next + strlen(type_line), "%15s", type[families]), 1);
            if (strcmp(type[families], "counter") == 0 && strstr(name, "_total") != name + strlen(name) - 6)
                fail_msg("counter %s does not end in _total", name);
            snprintf(declared[families++], sizeof declared[0], "%s", name);
            line = strchr(next, '\n') + 1; /* the TYPE line */
            continue;
        }
        if (buf[0] == '#')
            fail_msg("unexpected comment: %s", buf);
        /* a sample belongs to the family declared last */
        if (families == 0)
            fail_msg("sample before any HELP/TYPE: %s", buf);
        int f = families - 1;
        size_t name_len = strcspn(buf, "{ ");
        size_t dl = strlen(declared[f]);
        const char *suffix = buf + dl;
        size_t suffix_len = name_len - dl;
        bool known = dl <= name_len && strncmp(declared[f], buf, dl) == 0;
        if (known && strcmp(type[f], "histogram") == 0)
            known = (suffix_len == 7 && strncmp(suffix, "_bucket", 7) == 0) ||
                    (suffix_len == 4 && strncmp(suffix, "_sum", 4) == 0) ||
                    (suffix_len == 6 && strncmp(suffix, "_count", 6) == 0);
        else if (known)
            known = suffix_len == 0;
        if (!known)
            fail_msg("sample outside its family (last declared %s): %s", declared[f], buf);
        samples_of[f]++;
        const char *value = strrchr(buf, ' ');
        assert_non_null(value);
        char *num_end;
        strtod(value + 1, &num_end);
        if (*num_end != '\0' || num_end == value + 1)
            fail_msg("bad value in: %s", buf);
        if (buf[name_len] == '{' && !strstr(buf, "} "))
            fail_msg("bad labels in: %s", buf);
        if (keys_count == keys_cap) {
            keys_cap *= 2;
            keys = realloc(keys, keys_cap * sizeof *keys);
            assert_non_null(keys);
        }
        keys[keys_count] = strndup(buf, (size_t)(value - buf));
        assert_non_null(keys[keys_count]);
        keys_count++;
        line = end + 1;
    }
    qsort(keys, keys_count, sizeof *keys, compare_strings);
    for (size_t i = 1; i < keys_count; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0)
            fail_msg("duplicate series: %s", keys[i]);
    for (size_t i = 0; i < keys_count; i++)
        free(keys[i]);
    free(keys);
    int empty = 0;
    if (empty_names && empty_size)
        empty_names[0] = '\0';
    for (int f = 0; f < families; f++)
        if (samples_of[f] == 0) {
            empty++;
            if (empty_names)
                snprintf(empty_names + strlen(empty_names), empty_size - strlen(empty_names), "%s ", declared[f]);
        }
    if (ret_empty)
        *ret_empty = empty;
    return families;
}

double sm_sample(const char *text, const char *prefix, bool *found)
{
    size_t plen = strlen(prefix);
    for (const char *line = text; *line;) {
        if (strncmp(line, prefix, plen) == 0) {
            const char *nl = strchr(line, '\n');
            /* the value is after the last space of the line */
            const char *last = line;
            for (const char *p = line; p < (nl ? nl : line + strlen(line)); p++)
                if (*p == ' ')
                    last = p;
            *found = true;
            return strtod(last + 1, NULL);
        }
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    *found = false;
    return 0;
}

double sm_sum(const char *text, const char *prefix, int *ret_count)
{
    size_t plen = strlen(prefix);
    double sum = 0;
    int count = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, prefix, plen) == 0) {
            const char *last = line;
            for (const char *p = line; p < (nl ? nl : line + strlen(line)); p++)
                if (*p == ' ')
                    last = p;
            sum += strtod(last + 1, NULL);
            count++;
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    if (ret_count)
        *ret_count = count;
    return sum;
}

char *sm_job(const char *name, const char *ns, int gpus, const char *mig, bool selector_none, int restart_limit,
             const char *shell_command)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:[s,s,s]}", "kind", "Job", "name", name, "namespace", ns, "command", "sh",
                          "-c", shell_command);
    assert_non_null(j);
    if (gpus > 0)
        json_object_set_new(j, "resources", json_pack("{s:i}", "gpus", gpus));
    else if (mig)
        json_object_set_new(j, "resources", json_pack("{s:s}", "mig", mig));
    if (selector_none)
        json_object_set_new(j, "selector", json_pack("{s:s}", "gx-metrics-pool", "none"));
    else if (gpus > 0 || mig)
        /* on the local host's A10Gs, which have readings: the scheduler's
         * packing is otherwise free to pick a simulated node */
        json_object_set_new(j, "selector", json_pack("{s:s}", "gpuaas.io/gpu-model", "A10G"));
    if (restart_limit > 0)
        json_object_set_new(j, "restart", json_pack("{s:s,s:i}", "policy", "OnFailure", "limit", restart_limit));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(text);
    return text;
}

bool sm_find_program(const char *name, char *out, size_t out_size)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        snprintf(out, out_size, "%.*s/%s", (int)len, path, name);
        if (len && access(out, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

char *sm_config(const char *label_style)
{
    char *text = NULL;
    int n = asprintf(&text,
                     "restart_backoff: 200ms\n"
                     "stop_grace: 2s\n"
                     "nvml_library: /nonexistent/gpuaas-test/libnvidia-ml.so.1\n"
                     "metrics:\n"
                     "  label_style: %s\n"
                     "nodes:\n"
                     "  - name: local\n"
                     "    cpu: 16\n"
                     "    memory: 64Gi\n"
                     "    labels: {gpuaas.io/capacity-type: on-demand}\n"
                     "    gpus: discover\n"
                     "  - name: sim-spot\n"
                     "    cpu: 8\n"
                     "    memory: 32Gi\n"
                     "    labels: {gpuaas.io/capacity-type: spot}\n"
                     "    gpus:\n"
                     "      - {model: T4, memory: 16Gi, count: 2}\n",
                     label_style);
    assert_true(n > 0);
    return text;
}

static const struct th_server *leftover_server;
static const char *const *leftover_namespaces;

static int leftover_procs(pid_t *pids, int max)
{
    char pods_dir[600], env[300];
    snprintf(pods_dir, sizeof pods_dir, "%s/pods/", leftover_server->data_dir);
    struct th_proc_match shim = {.cmd_word = "__exec-shim", .cmd_sub = pods_dir};
    int n = th_find_procs(&shim, 0, pids, max);
    for (const char *const *ns = leftover_namespaces; *ns && n < max; ns++) {
        snprintf(env, sizeof env, "GPUAAS_NAMESPACE=%s", *ns);
        struct th_proc_match job = {.env_entry = env};
        n += th_find_procs(&job, 0, pids ? pids + n : NULL, max - n);
    }
    return n;
}

void sm_kill_leftovers(const struct th_server *s, const char *const *namespaces)
{
    if (!s->data_dir[0])
        return;
    leftover_server = s;
    leftover_namespaces = namespaces;
    th_kill_procs(leftover_procs, "teardown: killing a process the test's server left");
}

int sm_server_start(struct th_server *s, struct th_http *http, const char *name, const char *label_style)
{
    int r;
    if (label_style) {
        char *config = sm_config(label_style);
        r = th_server_start_config(s, name, config);
        free(config);
    } else {
        r = th_server_start(s, name);
    }
    if (r != 0 || th_http_init(http, s) != 0)
        return -1;
    th_log_server = s;
    return 0;
}

int sm_server_stop(struct th_server *s, struct th_http *http, const char *const *namespaces)
{
    th_http_free(http);
    int rc = th_server_stop(s);
    sm_kill_leftovers(s, namespaces);
    th_server_destroy(s);
    return rc == 0 ? 0 : -1;
}
