/* `gpuaas sim`: loading openb-style traces and the inflation replay. */
#include "sim/sim.h"
#include "sim/replay.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/prng.h"
#include "gpuaas/error.h"
#include "sim/csv.h"

#define SIM_NODES_MAX 200000
#define SIM_CPU_MAX 100000000LL  /* milli-CPU on one node or pod */
#define SIM_MEM_MAX (1LL << 40) /* MiB */

static const int checkpoint_pct[SIM_CHECKPOINTS] = {80, 90, 100, 110, 120, 130};

void sim_trace_free(struct sim_trace *tr)
{
    if (!tr)
        return;
    place_cluster_free(&tr->cluster);
    free(tr->pods);
    memset(tr, 0, sizeof *tr);
}

static bool model_name_ok(const char *s)
{
    if (!*s || strlen(s) > PLACE_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return false;
    return true;
}

static int need_column(const struct csv *csv, const char *path, const char *name, char *err, size_t err_size)
{
    int c = csv_column(csv, name);
    if (c < 0)
        snprintf(err, err_size, "%s:1: no column '%s'", path, name);
    return c;
}


/* The cpu_milli and memory_mib columns of row r (nodes and pods alike). */
static int read_cpu_mem(const struct csv *csv, size_t r, int c_cpu, int c_mem, const char *path, int64_t *cpu,
                        int64_t *mem, char *err, size_t err_size)
{
    if (csv_int(csv_field(csv, r, c_cpu), 0, SIM_CPU_MAX, cpu) < 0) {
        snprintf(err, err_size, "%s:%zu: cpu_milli '%.40s' is not a whole number of milli-CPU", path, csv->lines[r],
                 csv_field(csv, r, c_cpu));
        return GPUAAS_EINVAL;
    }
    if (csv_int(csv_field(csv, r, c_mem), 0, SIM_MEM_MAX, mem) < 0) {
        snprintf(err, err_size, "%s:%zu: memory_mib '%.40s' is not a whole number of MiB", path, csv->lines[r],
                 csv_field(csv, r, c_mem));
        return GPUAAS_EINVAL;
    }
    return 0;
}

static int load_nodes(struct sim_trace *tr, const char *path, char *err, size_t err_size)
{
    struct csv csv;
    int rc = -1;
    if (csv_load(path, &csv, err, err_size) < 0)
        return -1;
    int c_cpu = need_column(&csv, path, "cpu_milli", err, err_size);
    int c_mem = c_cpu < 0 ? -1 : need_column(&csv, path, "memory_mib", err, err_size);
    int c_gpu = c_mem < 0 ? -1 : need_column(&csv, path, "gpu", err, err_size);
    int c_model = c_gpu < 0 ? -1 : need_column(&csv, path, "model", err, err_size);
    if (c_model < 0)
        goto out;
    if (csv.rows == 0 || csv.rows > SIM_NODES_MAX) {
        snprintf(err, err_size, "%s: %zu nodes (1 to %d expected)", path, csv.rows, SIM_NODES_MAX);
        goto out;
    }
    for (size_t r = 0; r < csv.rows; r++) {
        struct place_node n;
        int64_t cpu, mem, gpus;
        const char *model = csv_field(&csv, r, c_model);
        memset(&n, 0, sizeof n);
        if (read_cpu_mem(&csv, r, c_cpu, c_mem, path, &cpu, &mem, err, err_size) < 0)
            goto out;
        if (csv_int(csv_field(&csv, r, c_gpu), 0, PLACE_GPUS_MAX, &gpus) < 0) {
            snprintf(err, err_size, "%s:%zu: gpu '%.40s' is not a GPU count from 0 to %d", path, csv.lines[r],
                     csv_field(&csv, r, c_gpu), PLACE_GPUS_MAX);
            goto out;
        }
        int model_id = -1;
        if (gpus > 0) {
            if (!model_name_ok(model)) {
                snprintf(err, err_size, "%s:%zu: model '%.40s' is not a GPU model name", path, csv.lines[r], model);
                goto out;
            }
            model_id = place_model_id(&tr->cluster, model, true);
            if (model_id < 0) {
                snprintf(err, err_size, "%s:%zu: more than %d GPU models", path, csv.lines[r], PLACE_MODELS_MAX);
                goto out;
            }
        }
        n.cpu_milli = n.cpu_free = cpu;
        n.mem = n.mem_free = mem;
        n.gpu_count = (uint8_t)gpus;
        for (int64_t g = 0; g < gpus; g++) {
            n.gpu_model[g] = (uint8_t)model_id;
            n.gpu_free[g] = PLACE_MILLI;
        }
        if (place_node_add(&tr->cluster, &n) < 0) {
            snprintf(err, err_size, "%s:%zu: cannot add the node (out of memory)", path, csv.lines[r]);
            goto out;
        }
        tr->gpus += gpus;
    }
    rc = 0;
out:
    csv_free(&csv);
    return rc;
}

static int load_pods(struct sim_trace *tr, const char *path, char *err, size_t err_size)
{
    struct csv csv;
    int rc = -1;
    int64_t *weights = NULL;
    if (csv_load(path, &csv, err, err_size) < 0)
        return -1;
    int c_cpu = need_column(&csv, path, "cpu_milli", err, err_size);
    int c_mem = c_cpu < 0 ? -1 : need_column(&csv, path, "memory_mib", err, err_size);
    int c_num = c_mem < 0 ? -1 : need_column(&csv, path, "num_gpu", err, err_size);
    int c_milli = c_num < 0 ? -1 : need_column(&csv, path, "gpu_milli", err, err_size);
    int c_spec = csv_column(&csv, "gpu_spec"); /* optional */
    if (c_milli < 0)
        goto out;
    if (csv.rows == 0) {
        snprintf(err, err_size, "%s: no pods", path);
        goto out;
    }
    tr->pods = calloc(csv.rows, sizeof *tr->pods);
    weights = malloc(csv.rows * sizeof *weights);
    if (!tr->pods || !weights) {
        snprintf(err, err_size, "%s: out of memory", path);
        goto out;
    }
    bool any_gpu = false;
    for (size_t r = 0; r < csv.rows; r++) {
        struct place_pod *p = &tr->pods[r];
        int64_t cpu, mem, num, milli;
        const char *spec = csv_field(&csv, r, c_spec);
        if (read_cpu_mem(&csv, r, c_cpu, c_mem, path, &cpu, &mem, err, err_size) < 0)
            goto out;
        if (csv_int(csv_field(&csv, r, c_num), 0, PLACE_GPUS_MAX, &num) < 0) {
            snprintf(err, err_size, "%s:%zu: num_gpu '%.40s' is not a GPU count from 0 to %d", path, csv.lines[r],
                     csv_field(&csv, r, c_num), PLACE_GPUS_MAX);
            goto out;
        }
        if (csv_int(csv_field(&csv, r, c_milli), 0, PLACE_MILLI, &milli) < 0) {
            snprintf(err, err_size, "%s:%zu: gpu_milli '%.40s' is not a milli-GPU amount from 0 to 1000", path,
                     csv.lines[r], csv_field(&csv, r, c_milli));
            goto out;
        }
        if ((num == 0) != (milli == 0) || (num > 1 && milli != PLACE_MILLI)) {
            snprintf(err, err_size,
                     "%s:%zu: num_gpu %lld with gpu_milli %lld: expected 0 and 0, 1 and 1..1000, or N > 1 and 1000",
                     path, csv.lines[r], (long long)num, (long long)milli);
            goto out;
        }
        p->cpu_milli = cpu;
        p->mem = mem;
        p->mig_profile = -1;
        if (milli == PLACE_MILLI)
            p->num_gpu = (int32_t)num;
        else
            p->gpu_milli = (int32_t)milli;
        any_gpu |= num > 0;
        if (*spec) {
            /* every name in the list must look like a model; unknown ones match no node */
            char copy[CSV_FIELD_MAX + 1];
            snprintf(copy, sizeof copy, "%s", spec);
            for (char *save = NULL, *tok = strtok_r(copy, "|", &save); tok; tok = strtok_r(NULL, "|", &save))
                if (!model_name_ok(tok)) {
                    snprintf(err, err_size, "%s:%zu: gpu_spec '%.80s' is not a list of GPU models like A|B", path,
                             csv.lines[r], spec);
                    goto out;
                }
            if (spec[0] == '|' || spec[strlen(spec) - 1] == '|' || strstr(spec, "||") ||
                place_model_mask(&tr->cluster, spec, &p->model_mask) < 0) {
                snprintf(err, err_size, "%s:%zu: gpu_spec '%.80s' is not a list of at most %d GPU models", path,
                         csv.lines[r], spec, PLACE_MODELS_MAX);
                goto out;
            }
        }
        weights[r] = 1;
    }
    if (!any_gpu) {
        snprintf(err, err_size, "%s: no pod asks for a GPU; nothing to replay", path);
        goto out;
    }
    tr->pod_count = csv.rows;
    if (place_set_workload(&tr->cluster, tr->pods, weights, tr->pod_count) < 0) {
        snprintf(err, err_size, "%s: out of memory", path);
        goto out;
    }
    rc = 0;
out:
    free(weights);
    csv_free(&csv);
    return rc;
}

int sim_trace_load(struct sim_trace *tr, const char *nodes_path, const char *pods_path, char *err, size_t err_size)
{
    memset(tr, 0, sizeof *tr);
    place_cluster_init(&tr->cluster);
    if (load_nodes(tr, nodes_path, err, err_size) < 0 || load_pods(tr, pods_path, err, err_size) < 0) {
        sim_trace_free(tr);
        return -1;
    }
    if (tr->gpus == 0) {
        snprintf(err, err_size, "%s: no node has a GPU", nodes_path);
        sim_trace_free(tr);
        return -1;
    }
    return 0;
}

static int64_t pod_gpu_milli(const struct place_pod *p)
{
    return p->num_gpu > 0 ? (int64_t)p->num_gpu * PLACE_MILLI : p->gpu_milli;
}

void sim_inflate_run(struct sim_trace *tr, enum place_policy policy, double inflate, uint64_t seed,
                     double ret_alloc[SIM_CHECKPOINTS], double ret_frag[SIM_CHECKPOINTS])
{
    struct place_cluster *cl = &tr->cluster;
    struct prng rng;
    int64_t capacity = cl->gpu_milli_total;
    int64_t target = (int64_t)llround(inflate * (double)capacity);
    int64_t arrived = 0;
    int next = 0;
    place_cluster_reset(cl);
    prng_seed(&rng, seed);
    for (int k = 0; k < SIM_CHECKPOINTS; k++)
        ret_alloc[k] = ret_frag[k] = NAN;
    while (arrived < target) {
        const struct place_pod *pod = &tr->pods[prng_below(&rng, tr->pod_count)];
        struct place_choice choice;
        arrived += pod_gpu_milli(pod);
        if (place_choose(cl, pod, policy, &choice))
            place_commit(cl, pod, &choice);
        while (next < SIM_CHECKPOINTS && arrived * 100 >= (int64_t)checkpoint_pct[next] * capacity &&
               checkpoint_pct[next] <= inflate * 100 + 1e-9) {
            ret_alloc[next] = 100.0 * (double)(capacity - cl->gpu_milli_free) / (double)capacity;
            ret_frag[next] = 100.0 * place_cluster_frag(cl) / (double)capacity;
            next++;
        }
    }
}

/* ---- the verb -------------------------------------------------------------------------- */

static const char usage_text[] =
    "Usage: gpuaas sim --nodes NODES.csv --pods PODS.csv [--inflate F] [--seeds N] [--seed S]\n"
    "                  [--policy P[,P...]] [--candidates K] [-o table|json]\n"
    "\n"
    "Replays a GPU cluster trace on the placement core, on virtual time (inflation\n"
    "replay): pods are drawn with replacement from PODS.csv in an order fixed by the\n"
    "seed and placed one at a time until the GPU they ask for reaches F x the\n"
    "cluster's GPU capacity; pods never leave; a pod that fits nowhere is skipped.\n"
    "Prints the GPU allocation ratio (allocated / total milli-GPU) and the expected\n"
    "fragmentation (free GPU the workload's pods cannot use, % of capacity) when the\n"
    "arrived request reaches 80, 90, 100, 110, 120 and 130 % of capacity: mean and\n"
    "standard deviation over the seeds, one column pair per policy.\n"
    "\n"
    "  --nodes FILE      columns cpu_milli,memory_mib,gpu,model (by header name)\n"
    "  --pods FILE       columns cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec]\n"
    "  --inflate F       arrived GPU request as a multiple of capacity (default 1.3, at most 10)\n"
    "  --seeds N         runs with seeds S .. S+N-1 (default 10, at most 1000)\n"
    "  --seed S          the first seed (default 1)\n"
    "  --policy LIST     fgdpack (default), fgd, bestfit, firstfit; comma-separated\n"
    "  --candidates K    fgdpack scores the first K fitting nodes (default 128, 0: all)\n"
    "  -o FORMAT         table (default) or json\n"
    "  --timing          print the time per run on standard error\n"
    "\n"
    "Example (the public Alibaba openb trace):\n"
    "  gpuaas sim --nodes openb_node_list_gpu_node.csv --pods openb_pod_list_default.csv \\\n"
    "             --inflate 1.3 --seeds 10 --policy fgdpack,fgd,bestfit\n"
    "\n"
    "Time-based replay through the live scheduler: gpuaas sim --timeline ... or\n"
    "gpuaas sim --philly ... (see gpuaas sim --timeline --help).\n"
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

struct stats {
    double mean, sd;
    int n;
};

static struct stats stats_of(const double *v, int n)
{
    struct stats s = {0, 0, 0};
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) {
            s.mean += v[i];
            s.n++;
        }
    if (!s.n)
        return s;
    s.mean /= s.n;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]))
            s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = s.n > 1 ? sqrt(s.sd / (s.n - 1)) : 0;
    return s;
}

static double round4(double x) { return round(x * 10000.0) / 10000.0; }

int sim_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--timeline") == 0 || strcmp(argv[i], "--philly") == 0 ||
            strncmp(argv[i], "--philly=", 9) == 0)
            return sim_replay_main(argc, argv);
    static const struct option opts[] = {
        {"nodes", required_argument, NULL, 'N'},   {"pods", required_argument, NULL, 'P'},
        {"inflate", required_argument, NULL, 'i'}, {"seeds", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},    {"policy", required_argument, NULL, 'p'},
        {"candidates", required_argument, NULL, 'k'}, {"output", required_argument, NULL, 'o'},
        {"timing", no_argument, NULL, 't'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *nodes = NULL, *pods = NULL, *output = "table";
    double inflate = 1.3;
    int64_t seeds = 10, seed0 = 1, candidate_limit = PLACE_CANDIDATES_DEFAULT;
    enum place_policy policies[PLACE_POLICY_COUNT] = {PLACE_POLICY_DEFAULT};
    int npolicies = 1;
    bool timing = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'N': nodes = optarg; break;
        case 'P': pods = optarg; break;
        case 'o': output = optarg; break;
        case 't': timing = true; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'i':
            inflate = strtod(optarg, &end);
            if (*end || end == optarg || !(inflate > 0 && inflate <= 10))
                return usage_error("--inflate '%s': expected a number above 0, at most 10", optarg);
            break;
        case 's':
            if (csv_int(optarg, 1, SIM_SEEDS_MAX, &seeds) < 0)
                return usage_error("--seeds '%s': expected a count from 1 to 1000", optarg);
            break;
        case 'S':
            if (csv_int(optarg, 0, INT64_MAX / 2, &seed0) < 0)
                return usage_error("--seed '%s': expected a whole number", optarg);
            break;
        case 'k':
            if (csv_int(optarg, 0, 1000000, &candidate_limit) < 0)
                return usage_error("--candidates '%s': expected a count from 0 to 1000000", optarg);
            break;
        case 'p': {
            char list[256];
            if (strlen(optarg) >= sizeof list)
                return usage_error("--policy '%.80s': too long", optarg);
            snprintf(list, sizeof list, "%s", optarg);
            npolicies = 0;
            for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                enum place_policy p;
                if (place_policy_from_name(tok, &p) < 0)
                    return usage_error("unknown policy '%s': expected fgdpack, fgd, bestfit or firstfit", tok);
                for (int k = 0; k < npolicies; k++)
                    if (policies[k] == p)
                        return usage_error("policy '%s' named twice", tok);
                policies[npolicies++] = p;
            }
            if (npolicies == 0)
                return usage_error("--policy '%s': name at least one policy", optarg);
            break;
        }
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!nodes || !pods)
        return usage_error("%s", "sim needs --nodes FILE and --pods FILE");
    bool json = strcmp(output, "json") == 0;
    if (!json && strcmp(output, "table") != 0)
        return usage_error("-o '%s': expected table or json", output);

    struct sim_trace tr;
    char err[512];
    if (sim_trace_load(&tr, nodes, pods, err, sizeof err) < 0) {
        fprintf(stderr, "error: %s\n", err);
        return 2;
    }
    tr.cluster.candidate_limit = (uint32_t)candidate_limit;
    double(*alloc)[SIM_SEEDS_MAX][SIM_CHECKPOINTS] = calloc((size_t)npolicies, sizeof *alloc);
    double(*frag)[SIM_SEEDS_MAX][SIM_CHECKPOINTS] = calloc((size_t)npolicies, sizeof *frag);
    if (!alloc || !frag) {
        free(alloc);
        free(frag);
        sim_trace_free(&tr);
        fputs("error: out of memory\n", stderr);
        return 1;
    }
    for (int p = 0; p < npolicies; p++)
        for (int64_t s = 0; s < seeds; s++) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            sim_inflate_run(&tr, policies[p], inflate, (uint64_t)(seed0 + s), alloc[p][s], frag[p][s]);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if (timing)
                fprintf(stderr, "%s seed %lld: %.3f s\n", place_policy_name(policies[p]), (long long)(seed0 + s),
                        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        }
    int rows = 0;
    while (rows < SIM_CHECKPOINTS && checkpoint_pct[rows] <= inflate * 100 + 1e-9)
        rows++;
    int rc = 0;
    if (json) {
        json_t *root = json_object(), *arr = json_array(), *names = json_array();
        for (int p = 0; p < npolicies; p++)
            json_array_append_new(names, json_string(place_policy_name(policies[p])));
        json_object_set_new(root, "nodes", json_integer((json_int_t)tr.cluster.count));
        json_object_set_new(root, "gpus", json_integer((json_int_t)tr.gpus));
        json_object_set_new(root, "pods", json_integer((json_int_t)tr.pod_count));
        json_object_set_new(root, "inflate", json_real(inflate));
        json_object_set_new(root, "seeds", json_integer((json_int_t)seeds));
        json_object_set_new(root, "first_seed", json_integer((json_int_t)seed0));
        json_object_set_new(root, "policies", names);
        for (int k = 0; k < rows; k++) {
            json_t *row = json_object();
            json_object_set_new(row, "arrived_pct", json_integer(checkpoint_pct[k]));
            for (int p = 0; p < npolicies; p++) {
                double a[SIM_SEEDS_MAX], f[SIM_SEEDS_MAX];
                for (int64_t s = 0; s < seeds; s++) {
                    a[s] = alloc[p][s][k];
                    f[s] = frag[p][s][k];
                }
                struct stats sa = stats_of(a, (int)seeds), sf = stats_of(f, (int)seeds);
                json_t *cell = json_object();
                json_object_set_new(cell, "alloc_mean", json_real(round4(sa.mean)));
                json_object_set_new(cell, "alloc_sd", json_real(round4(sa.sd)));
                json_object_set_new(cell, "frag_mean", json_real(round4(sf.mean)));
                json_object_set_new(cell, "frag_sd", json_real(round4(sf.sd)));
                json_object_set_new(row, place_policy_name(policies[p]), cell);
            }
            json_array_append_new(arr, row);
        }
        json_object_set_new(root, "rows", arr);
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10) | JSON_PRESERVE_ORDER);
        json_decref(root);
        if (!text) {
            fputs("error: out of memory\n", stderr);
            rc = 1;
        } else {
            puts(text);
            free(text);
        }
    } else {
        printf("%u nodes, %lld GPUs; %zu pods in the list; inflate %.2f; seeds %lld..%lld\n", tr.cluster.count,
               (long long)tr.gpus, tr.pod_count, inflate, (long long)seed0, (long long)(seed0 + seeds - 1));
        printf("%-8s", "ARRIVED");
        for (int p = 0; p < npolicies; p++) {
            char h[64];
            snprintf(h, sizeof h, "%s ALLOC%%", place_policy_name(policies[p]));
            for (char *q = h; *q; q++)
                *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
            printf("  %-16s  %-13s", h, "FRAG%");
        }
        putchar('\n');
        for (int k = 0; k < rows; k++) {
            printf("%3d%%    ", checkpoint_pct[k]);
            for (int p = 0; p < npolicies; p++) {
                double a[SIM_SEEDS_MAX], f[SIM_SEEDS_MAX];
                for (int64_t s = 0; s < seeds; s++) {
                    a[s] = alloc[p][s][k];
                    f[s] = frag[p][s][k];
                }
                struct stats sa = stats_of(a, (int)seeds), sf = stats_of(f, (int)seeds);
                char ca[32], cf[32];
                snprintf(ca, sizeof ca, "%.2f ± %.2f", sa.mean, sa.sd);
                snprintf(cf, sizeof cf, "%.2f ± %.2f", sf.mean, sf.sd);
                printf("  %-17s  %-14s", ca, cf);
            }
            putchar('\n');
        }
    }
    free(alloc);
    free(frag);
    sim_trace_free(&tr);
    return rc;
}
