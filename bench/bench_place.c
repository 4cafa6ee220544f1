/* Placement decisions per second on one core, and the time of one decision
 * (p50, p99), on a synthetic cluster: 10,000 nodes with 8 GPUs each (80,000
 * GPUs of five models, 5 % of the nodes with their GPUs in MIG mode) and
 * 100,000 pending jobs of mixed shapes (whole GPUs 1..8, shares, MIG slices,
 * CPU only, some bound to GPU models). A decision is place_choose plus
 * place_commit when the pod fits. The cluster is kept busy but not full:
 * while more than 85 % of the GPU milli is taken, a random running pod
 * leaves before the next decision (not timed).
 *
 *   bench_place [--jobs N] [--nodes N] [--candidates K] [--policy P] [--seed S]
 * prints one RESULT line: policy, candidates, decisions, placed, rate, p50_us, p99_us, max_us. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/place.h"
#include "core/prng.h"

struct held {
    struct place_pod pod;
    struct place_choice choice;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long jobs = 100000, nodes = 10000, candidates = PLACE_CANDIDATES_DEFAULT;
    uint64_t seed = 1;
    enum place_policy policy = PLACE_POLICY_DEFAULT;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--jobs") == 0)
            jobs = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--nodes") == 0)
            nodes = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--candidates") == 0)
            candidates = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--policy") == 0) {
            if (place_policy_from_name(argv[i + 1], &policy) < 0) {
                fprintf(stderr, "bench_place: unknown policy %s\n", argv[i + 1]);
                return 2;
            }
        } else {
            fprintf(stderr, "bench_place: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (jobs < 1 || jobs > 10000000 || nodes < 1 || nodes > 200000 || candidates < 0) {
        fprintf(stderr, "bench_place: bad sizes\n");
        return 2;
    }
    struct place_cluster cl;
    struct prng rng;
    place_cluster_init(&cl);
    prng_seed(&rng, seed);
    cl.candidate_limit = (uint32_t)candidates;
    static const char *models[] = {"A100", "H100", "V100", "T4", "L4"};
    int mig_small = place_mig_profile_id(&cl, "1g.10gb", true);
    int mig_large = place_mig_profile_id(&cl, "3g.40gb", true);
    for (int m = 0; m < 5; m++)
        place_model_id(&cl, models[m], true);
    int zones[4];
    for (int z = 0; z < 4; z++) {
        char value[8];
        snprintf(value, sizeof value, "z%d", z);
        zones[z] = place_label_id(&cl, "gpuaas.io/zone", value, true);
    }
    for (long i = 0; i < nodes; i++) {
        struct place_node n;
        memset(&n, 0, sizeof n);
        int model = (int)(i % 5);
        n.cpu_milli = n.cpu_free = 96000 + 32000 * (i % 3);
        n.mem = n.mem_free = (int64_t)(768 + 256 * (i % 3)) << 10; /* MiB */
        n.gpu_count = 8;
        n.labels[0] = (uint16_t)zones[i % 4];
        n.label_count = 1;
        bool mig = model == 0 && i % 20 == 0; /* 5 % of the nodes: A100s in MIG mode */
        for (int g = 0; g < 8; g++) {
            n.gpu_model[g] = (uint8_t)model;
            n.gpu_free[g] = PLACE_MILLI;
            if (mig) {
                n.gpu_mig[g] = true;
                n.mig_count[g] = 3;
                n.mig_profile[g][0] = (uint8_t)mig_small;
                n.mig_profile[g][1] = (uint8_t)mig_small;
                n.mig_profile[g][2] = (uint8_t)mig_large;
            }
        }
        if (place_node_add(&cl, &n) < 0) {
            fprintf(stderr, "bench_place: cannot add node %ld\n", i);
            return 1;
        }
    }
    /* the shapes and how often each comes */
    struct place_pod shapes[16];
    int64_t weights[16];
    size_t nshapes = 0;
#define SHAPE(w, cpu_, mem_, ngpu_, milli_, mig_, mask_)                                                                     \
    do {                                                                                                               \
        shapes[nshapes] = (struct place_pod){                                                                          \
            .cpu_milli = (cpu_), .mem = (mem_), .num_gpu = (ngpu_), .gpu_milli = (milli_), .mig_profile = (mig_),            \
            .model_mask = (mask_)};                                                                                     \
        weights[nshapes++] = (w);                                                                                      \
    } while (0)
    SHAPE(30, 12000, 65536, 1, 0, -1, 0);
    SHAPE(8, 8000, 32768, 1, 0, -1, 1u << 1);
    SHAPE(8, 24000, 131072, 2, 0, -1, 0);
    SHAPE(5, 48000, 262144, 4, 0, -1, 0);
    SHAPE(3, 90000, 524288, 8, 0, -1, (1u << 0) | (1u << 1));
    SHAPE(12, 4000, 16384, 0, 500, -1, 0);
    SHAPE(8, 6000, 16384, 0, 250, -1, 1u << 3);
    SHAPE(6, 8000, 32768, 0, 750, -1, 0);
    SHAPE(5, 2000, 8192, 0, 100, -1, 1u << 4);
    SHAPE(8, 16000, 65536, 0, 0, -1, 0);
    SHAPE(4, 4000, 16384, 0, 0, mig_small, 0);
    SHAPE(2, 8000, 32768, 0, 0, mig_large, 0);
#undef SHAPE
    if (place_set_workload(&cl, shapes, weights, nshapes) < 0) {
        fprintf(stderr, "bench_place: out of memory\n");
        return 1;
    }
    int64_t weight_total = 0;
    for (size_t s = 0; s < nshapes; s++)
        weight_total += weights[s];
    /* the pending jobs, drawn from the shapes; a tenth name a zone */
    struct place_pod *pending = malloc((size_t)jobs * sizeof *pending);
    struct held *held = malloc((size_t)jobs * sizeof *held);
    int64_t *lat = malloc((size_t)jobs * sizeof *lat);
    if (!pending || !held || !lat) {
        fprintf(stderr, "bench_place: out of memory\n");
        return 1;
    }
    for (long j = 0; j < jobs; j++) {
        int64_t pick = (int64_t)prng_below(&rng, (uint64_t)weight_total);
        size_t s = 0;
        while (pick >= weights[s])
            pick -= weights[s++];
        pending[j] = shapes[s];
        if (prng_below(&rng, 10) == 0) {
            pending[j].selector[0] = (uint16_t)zones[prng_below(&rng, 4)];
            pending[j].selector_count = 1;
        }
    }
    long nheld = 0, placed = 0;
    int64_t total_ns = 0;
    for (long j = 0; j < jobs; j++) {
        while (nheld > 0 && (cl.gpu_milli_total - cl.gpu_milli_free) * 100 > cl.gpu_milli_total * 85) {
            long k = (long)prng_below(&rng, (uint64_t)nheld);
            place_release(&cl, &held[k].pod, &held[k].choice);
            held[k] = held[--nheld];
        }
        struct place_choice c;
        int64_t t0 = now_ns();
        bool ok = place_choose(&cl, &pending[j], policy, &c);
        if (ok)
            place_commit(&cl, &pending[j], &c);
        int64_t t1 = now_ns();
        lat[j] = t1 - t0;
        total_ns += t1 - t0;
        if (ok) {
            held[nheld].pod = pending[j];
            held[nheld++].choice = c;
            placed++;
        }
    }
    qsort(lat, (size_t)jobs, sizeof *lat, cmp_i64);
    double rate = (double)jobs / ((double)total_ns / 1e9);
    printf("bench_place: %ld nodes, %lld GPUs (%lld milli in MIG-free GPUs), %ld decisions, %ld placed, %s, "
           "candidates %ld\n",
           nodes, (long long)nodes * 8, (long long)cl.gpu_milli_total, jobs, placed, place_policy_name(policy),
           candidates);
    printf("RESULT policy=%s candidates=%ld decisions=%ld placed=%ld rate=%.0f p50_us=%.2f p99_us=%.2f max_us=%.2f "
           "memo_hit=%.3f\n",
           place_policy_name(policy), candidates, jobs, placed, rate, (double)lat[jobs / 2] / 1e3,
           (double)lat[(size_t)((double)jobs * 0.99)] / 1e3, (double)lat[jobs - 1] / 1e3,
           (double)cl.memo_hits / (double)(cl.memo_hits + cl.memo_misses + 1));
    free(pending);
    free(held);
    free(lat);
    place_cluster_free(&cl);
    return 0;
}
