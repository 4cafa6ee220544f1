/* Unit tests for the placement core, src/core/place.c: label selectors,
 * GPU-model lists, MIG profiles, milli-GPU shares, gang all-or-nothing,
 * multi-GPU pods on one node, the fragmentation measure on hand-checked
 * nodes, the policies' differing choices, the node index's candidate limit,
 * and a seeded random walk of placements and releases under every policy
 * with the books checked after every step (never more than a node has). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/place.h"
#include "core/prng.h"

static struct place_node make_node(struct place_cluster *cl, const char *model, int gpus, int64_t cpu, int64_t mem)
{
    struct place_node n;
    memset(&n, 0, sizeof n);
    n.cpu_milli = n.cpu_free = cpu;
    n.mem = n.mem_free = mem;
    n.gpu_count = (uint8_t)gpus;
    int id = gpus ? place_model_id(cl, model, true) : 0;
    for (int g = 0; g < gpus; g++) {
        n.gpu_model[g] = (uint8_t)id;
        n.gpu_free[g] = PLACE_MILLI;
    }
    return n;
}

static int add(struct place_cluster *cl, const char *model, int gpus, int64_t cpu, int64_t mem)
{
    struct place_node n = make_node(cl, model, gpus, cpu, mem);
    int i = place_node_add(cl, &n);
    assert_true(i >= 0);
    return i;
}

static struct place_pod pod_whole(int gpus, int64_t cpu, int64_t mem)
{
    return (struct place_pod){.cpu_milli = cpu, .mem = mem, .num_gpu = gpus, .mig_profile = -1};
}

static struct place_pod pod_share(int milli, int64_t cpu, int64_t mem)
{
    return (struct place_pod){.cpu_milli = cpu, .mem = mem, .gpu_milli = milli, .mig_profile = -1};
}

static int64_t free_total(const struct place_cluster *cl)
{
    int64_t t = 0;
    for (uint32_t i = 0; i < cl->count; i++)
        for (uint32_t g = 0; g < cl->nodes[i].gpu_count; g++)
            if (!cl->nodes[i].gpu_mig[g])
                t += cl->nodes[i].gpu_free[g];
    return t;
}

static void selectors(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    int zone_a = place_label_id(&cl, "gpuaas.io/zone", "a", true);
    int zone_b = place_label_id(&cl, "gpuaas.io/zone", "b", true);
    int spot = place_label_id(&cl, "gpuaas.io/capacity-type", "spot", true);
    struct place_node n0 = make_node(&cl, "A100", 4, 32000, 1000);
    n0.labels[0] = (uint16_t)zone_a;
    n0.label_count = 1;
    struct place_node n1 = make_node(&cl, "A100", 4, 32000, 1000);
    n1.labels[0] = (uint16_t)zone_b;
    n1.labels[1] = (uint16_t)spot;
    n1.label_count = 2;
    assert_int_equal(place_node_add(&cl, &n0), 0);
    assert_int_equal(place_node_add(&cl, &n1), 1);
    /* an existing pair is found again, an absent one is not created */
    assert_int_equal(place_label_id(&cl, "gpuaas.io/zone", "b", false), zone_b);
    assert_int_equal(place_label_id(&cl, "gpuaas.io/zone", "c", false), -1);

    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        struct place_pod pod = pod_whole(1, 1000, 10);
        struct place_choice c;
        pod.selector[0] = (uint16_t)zone_b;
        pod.selector_count = 1;
        assert_true(place_choose(&cl, &pod, (enum place_policy)p, &c));
        assert_int_equal(c.node, 1);
        /* both labels needed: only node 1 has them */
        pod.selector[1] = (uint16_t)spot;
        pod.selector_count = 2;
        assert_true(place_choose(&cl, &pod, (enum place_policy)p, &c));
        assert_int_equal(c.node, 1);
        /* zone a and spot: no node */
        pod.selector[0] = (uint16_t)zone_a;
        assert_false(place_choose(&cl, &pod, (enum place_policy)p, &c));
    }
    place_cluster_free(&cl);
}

static void gpu_model_lists(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "T4", 2, 16000, 1000);
    add(&cl, "V100M16", 2, 16000, 1000);
    add(&cl, "V100M32", 2, 16000, 1000);
    uint32_t mask;
    assert_int_equal(place_model_mask(&cl, "V100M16|V100M32", &mask), 0);
    assert_int_equal(mask, (1u << 1) | (1u << 2));
    assert_int_equal(place_model_mask(&cl, "", &mask), 0);
    assert_int_equal(mask, 0);
    assert_int_equal(place_model_mask(&cl, "A||B", &mask), -1);

    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        place_cluster_reset(&cl);
        struct place_pod pod = pod_whole(1, 1000, 10);
        assert_int_equal(place_model_mask(&cl, "V100M16|V100M32", &pod.model_mask), 0);
        /* four GPUs of the two models, then nothing: the T4s are never used */
        for (int k = 0; k < 4; k++) {
            struct place_choice c;
            assert_true(place_choose(&cl, &pod, (enum place_policy)p, &c));
            assert_true(c.node == 1 || c.node == 2);
            place_commit(&cl, &pod, &c);
        }
        struct place_choice c;
        assert_false(place_choose(&cl, &pod, (enum place_policy)p, &c));
        assert_int_equal(cl.nodes[0].gpu_free[0] + cl.nodes[0].gpu_free[1], 2000);
        /* a model no node has matches nothing */
        struct place_pod other = pod_share(100, 0, 0);
        assert_int_equal(place_model_mask(&cl, "H100", &other.model_mask), 0);
        assert_false(place_choose(&cl, &other, (enum place_policy)p, &c));
    }
    place_cluster_free(&cl);
}

static void mig_profiles(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    int small = place_mig_profile_id(&cl, "1g.10gb", true);
    int large = place_mig_profile_id(&cl, "3g.40gb", true);
    struct place_node n = make_node(&cl, "A100", 2, 64000, 1000);
    /* GPU 0 in MIG mode: two 1g slices and one 3g slice; GPU 1 plain */
    n.gpu_mig[0] = true;
    n.mig_count[0] = 3;
    n.mig_profile[0][0] = (uint8_t)small;
    n.mig_profile[0][1] = (uint8_t)small;
    n.mig_profile[0][2] = (uint8_t)large;
    assert_int_equal(place_node_add(&cl, &n), 0);
    assert_int_equal(cl.gpu_milli_total, 1000); /* only the plain GPU counts as milli */

    struct place_pod pod = {.cpu_milli = 1000, .mem = 1, .mig_profile = small};
    struct place_choice c1, c2, c3;
    assert_true(place_choose(&cl, &pod, PLACE_POLICY_DEFAULT, &c1));
    assert_int_equal(c1.gpu[0], 0);
    place_commit(&cl, &pod, &c1);
    assert_true(place_choose(&cl, &pod, PLACE_POLICY_DEFAULT, &c2));
    assert_int_not_equal(c2.mig, c1.mig);
    place_commit(&cl, &pod, &c2);
    /* both 1g slices taken; the 3g slice is another profile, the plain GPU is not a slice */
    assert_false(place_choose(&cl, &pod, PLACE_POLICY_DEFAULT, &c3));
    struct place_pod big = {.cpu_milli = 1000, .mem = 1, .mig_profile = large};
    assert_true(place_choose(&cl, &big, PLACE_FGD, &c3));
    assert_int_equal(c3.mig, 2);
    /* MIG pods leave the plain GPU alone */
    assert_int_equal(cl.nodes[0].gpu_free[1], 1000);
    /* a released slice is free again */
    place_release(&cl, &pod, &c1);
    assert_true(place_choose(&cl, &pod, PLACE_BESTFIT, &c3));
    assert_int_equal(c3.mig, c1.mig);
    /* whole-GPU and share pods never land on the MIG GPU */
    struct place_pod two = pod_whole(2, 0, 0);
    assert_false(place_choose(&cl, &two, PLACE_POLICY_DEFAULT, &c3));
    struct place_pod share = pod_share(300, 0, 0);
    assert_true(place_choose(&cl, &share, PLACE_POLICY_DEFAULT, &c3));
    assert_int_equal(c3.gpu[0], 1);
    place_cluster_free(&cl);
}

static void milli_sharing(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "T4", 2, 64000, 1000);
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        place_cluster_reset(&cl);
        struct place_pod half = pod_share(500, 1000, 1);
        struct place_choice c[4];
        for (int k = 0; k < 4; k++) {
            assert_true(place_choose(&cl, &half, (enum place_policy)p, &c[k]));
            assert_int_equal(c[k].milli, 500);
            place_commit(&cl, &half, &c[k]);
        }
        /* four halves fill both GPUs exactly */
        assert_int_equal(cl.nodes[0].gpu_free[0], 0);
        assert_int_equal(cl.nodes[0].gpu_free[1], 0);
        assert_false(place_choose(&cl, &half, (enum place_policy)p, &c[0]));
        /* a whole GPU is not given while shares hold it */
        place_release(&cl, &half, &c[3]);
        struct place_pod whole = pod_whole(1, 0, 0);
        struct place_choice w;
        assert_false(place_choose(&cl, &whole, (enum place_policy)p, &w));
        place_release(&cl, &half, &c[2]);
        assert_true(place_choose(&cl, &whole, (enum place_policy)p, &w));
    }
    place_cluster_free(&cl);
}

/* fgd picks the GPU whose rest stays usable; bestfit the fullest one. */
static void fgd_against_bestfit(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "T4", 2, 64000, 1000);
    struct place_pod pre = pod_share(400, 0, 0), half = pod_share(500, 1000, 1);
    struct place_choice c;
    assert_true(place_set_workload(&cl, &half, (const int64_t[]){1}, 1) == 0);
    c = (struct place_choice){.node = 0, .device_count = 1, .mig = -1, .milli = 400};
    c.gpu[0] = 1;
    place_commit(&cl, &pre, &c); /* GPUs free: 1000, 600 */
    /* expected fragmentation now 0: both GPUs hold a 500 share */
    assert_true(place_node_frag(&cl, 0) == 0.0);
    assert_true(place_choose(&cl, &half, PLACE_BESTFIT, &c));
    assert_int_equal(c.gpu[0], 1); /* 600 -> 100 */
    assert_true(place_choose(&cl, &half, PLACE_FGD, &c));
    assert_int_equal(c.gpu[0], 0); /* 1000 -> 500, still usable */
    place_commit(&cl, &half, &c);
    /* 500 and 600 free: no fragment for a 500 share */
    assert_true(place_node_frag(&cl, 0) == 0.0);
    place_cluster_free(&cl);
}

/* Hand-checked values of the fragmentation measure. */
static void fragmentation_values(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "T4", 2, 8000, 1000);
    struct place_pod shapes[3] = {pod_whole(1, 1000, 1), pod_share(500, 1000, 1), pod_whole(0, 6000, 1)};
    int64_t weights[3] = {1, 1, 2};
    assert_int_equal(place_set_workload(&cl, shapes, weights, 3), 0);
    struct place_pod used = pod_share(700, 4000, 1);
    struct place_choice c = {.node = 0, .device_count = 1, .mig = -1, .milli = 700};
    place_commit(&cl, &used, &c); /* GPUs free 300 and 1000; 4000 CPU left */
    /* whole: 300 (the partial GPU); share 500: 300; CPU-only (6000 > 4000 CPU):
     * cannot fit, all 1300 free; (300 + 300 + 2 x 1300) / 4 = 800 */
    assert_true(place_node_frag(&cl, 0) == 800.0);
    assert_true(place_cluster_frag(&cl) == 800.0);
    /* a node without free GPU has no fragment */
    struct place_pod rest = pod_whole(1, 0, 0);
    struct place_choice c2 = {.node = 0, .device_count = 1, .mig = -1, .milli = 1000};
    c2.gpu[0] = 1;
    place_commit(&cl, &rest, &c2);
    struct place_pod tail = pod_share(300, 0, 0);
    struct place_choice c3 = {.node = 0, .device_count = 1, .mig = -1, .milli = 300};
    place_commit(&cl, &tail, &c3);
    assert_true(place_node_frag(&cl, 0) == 0.0);
    place_cluster_free(&cl);
}

static void multi_gpu_one_node(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "G2", 2, 64000, 1000);
    add(&cl, "G2", 2, 64000, 1000);
    add(&cl, "G2", 4, 64000, 1000);
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        place_cluster_reset(&cl);
        struct place_pod three = pod_whole(3, 1000, 1);
        struct place_choice c;
        assert_true(place_choose(&cl, &three, (enum place_policy)p, &c));
        assert_int_equal(c.node, 2);
        assert_int_equal(c.device_count, 3);
        assert_true(c.gpu[0] != c.gpu[1] && c.gpu[1] != c.gpu[2] && c.gpu[0] != c.gpu[2]);
        place_commit(&cl, &three, &c);
        /* 5 GPUs are free, but no node has 3: the pod is not split */
        assert_int_equal(free_total(&cl), 5000);
        assert_false(place_choose(&cl, &three, (enum place_policy)p, &c));
    }
    place_cluster_free(&cl);
}

static void gang_all_or_nothing(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "A100", 2, 64000, 1000);
    add(&cl, "A100", 2, 64000, 1000);
    struct place_pod pod = pod_whole(2, 1000, 100);
    struct place_choice choices[3];
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        place_cluster_reset(&cl);
        /* three replicas of 2 GPUs: only two fit, so none is held */
        assert_false(place_gang(&cl, &pod, 3, (enum place_policy)p, choices));
        assert_int_equal(free_total(&cl), 4000);
        assert_int_equal(cl.nodes[0].cpu_free, 64000);
        assert_int_equal(cl.nodes[1].mem_free, 1000);
        /* two replicas: both held, on different nodes */
        assert_true(place_gang(&cl, &pod, 2, (enum place_policy)p, choices));
        assert_int_not_equal(choices[0].node, choices[1].node);
        assert_int_equal(free_total(&cl), 0);
    }
    place_cluster_free(&cl);
}

static void cpu_and_memory_limit(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    add(&cl, "T4", 4, 10000, 100);
    struct place_pod pod = pod_whole(1, 4000, 10);
    struct place_choice c;
    for (int k = 0; k < 2; k++) {
        assert_true(place_choose(&cl, &pod, PLACE_POLICY_DEFAULT, &c));
        place_commit(&cl, &pod, &c);
    }
    /* 2000 CPU left: a third 4000-CPU pod does not fit though GPUs are free */
    assert_false(place_choose(&cl, &pod, PLACE_POLICY_DEFAULT, &c));
    struct place_pod thin = pod_whole(1, 1000, 81); /* 80 memory left */
    assert_false(place_choose(&cl, &thin, PLACE_POLICY_DEFAULT, &c));
    thin.mem = 80;
    assert_true(place_choose(&cl, &thin, PLACE_POLICY_DEFAULT, &c));
    /* a cordoned node takes nothing */
    cl.nodes[0].cordoned = true;
    place_node_changed(&cl, 0);
    assert_false(place_choose(&cl, &thin, PLACE_POLICY_DEFAULT, &c));
    place_cluster_free(&cl);
}

/* bestfit takes whole GPUs from the fullest node; the index gives the
 * tightest nodes first, so a limit of one candidate still finds it. */
/* A pod that may use any model keeps off the GPUs that model-bound pods of
 * the workload will want: fgd's measure ties the two nodes (and the lower
 * index wins), fgdpack's model pressure sends the share to the larger pool. */
static void scarce_model_kept_for_bound_pods(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    int t4 = add(&cl, "T4", 2, 64000, 256);
    int g2 = add(&cl, "G2", 8, 64000, 256);
    uint32_t t4_mask, g2_mask;
    assert_int_equal(place_model_mask(&cl, "T4", &t4_mask), 0);
    assert_int_equal(place_model_mask(&cl, "G2", &g2_mask), 0);
    struct place_pod shapes[3] = {pod_whole(1, 1000, 1), pod_whole(1, 1000, 1), pod_whole(1, 1000, 1)};
    shapes[1].model_mask = t4_mask;
    shapes[2].model_mask = g2_mask;
    assert_int_equal(place_set_workload(&cl, shapes, (const int64_t[]){1, 1, 1}, 3), 0);
    struct place_pod any = pod_share(500, 1000, 1), bound = pod_share(500, 1000, 1);
    bound.model_mask = t4_mask;
    struct place_choice c;
    assert_true(place_choose(&cl, &any, PLACE_FGD, &c));
    assert_int_equal(c.node, t4);
    assert_true(place_choose(&cl, &any, PLACE_FGDPACK, &c));
    assert_int_equal(c.node, g2);
    assert_true(place_choose(&cl, &bound, PLACE_FGDPACK, &c));
    assert_int_equal(c.node, t4);
    /* the pressure follows the free GPU: with the G2 pool nearly full the
     * share goes back to the tighter T4 node */
    for (int k = 0; k < 7; k++) {
        struct place_pod one = pod_whole(1, 1000, 1);
        one.model_mask = g2_mask;
        assert_true(place_choose(&cl, &one, PLACE_FGDPACK, &c));
        assert_int_equal(c.node, g2);
        place_commit(&cl, &one, &c);
    }
    assert_true(place_choose(&cl, &any, PLACE_FGDPACK, &c));
    assert_int_equal(c.node, t4);
    place_cluster_free(&cl);
}

static void index_tightest_first(void **state)
{
    (void)state;
    struct place_cluster cl;
    place_cluster_init(&cl);
    for (int k = 0; k < 50; k++)
        add(&cl, "H100", 8, 128000, 1000);
    struct place_pod seven = pod_whole(7, 0, 0), one = pod_whole(1, 0, 0);
    struct place_choice c;
    c = (struct place_choice){.node = 37, .device_count = 7, .mig = -1, .milli = 1000};
    for (int g = 0; g < 7; g++)
        c.gpu[g] = (uint8_t)g;
    place_commit(&cl, &seven, &c);
    assert_true(place_choose(&cl, &one, PLACE_BESTFIT, &c));
    assert_int_equal(c.node, 37);
    assert_int_equal(c.gpu[0], 7);
    cl.candidate_limit = 1;
    assert_true(place_choose(&cl, &one, PLACE_FGDPACK, &c));
    assert_int_equal(c.node, 37);
    /* an 8-GPU pod skips the node without 8 free */
    struct place_pod eight = pod_whole(8, 0, 0);
    assert_true(place_choose(&cl, &eight, PLACE_FGDPACK, &c));
    assert_int_not_equal(c.node, 37);
    place_cluster_free(&cl);
}

static void policy_names(void **state)
{
    (void)state;
    enum place_policy p;
    for (int k = 0; k < PLACE_POLICY_COUNT; k++) {
        assert_int_equal(place_policy_from_name(place_policy_name((enum place_policy)k), &p), 0);
        assert_int_equal(p, k);
    }
    assert_int_equal(place_policy_from_name("default", &p), 0);
    assert_int_equal(p, PLACE_POLICY_DEFAULT);
    assert_int_equal(place_policy_from_name("random", &p), -1);
}

/* Books kept by the test beside the module's: what each node holds. */
struct held {
    struct place_pod pod;
    struct place_choice choice;
};

static void check_books(const struct place_cluster *cl, const struct held *held, size_t count)
{
    int64_t cpu[64] = {0}, mem[64] = {0}, milli[64][PLACE_GPUS_MAX] = {{0}};
    for (size_t k = 0; k < count; k++) {
        const struct held *h = &held[k];
        cpu[h->choice.node] += h->pod.cpu_milli;
        mem[h->choice.node] += h->pod.mem;
        for (uint32_t d = 0; d < h->choice.device_count; d++)
            milli[h->choice.node][h->choice.gpu[d]] += h->choice.milli;
    }
    for (uint32_t i = 0; i < cl->count; i++) {
        const struct place_node *n = &cl->nodes[i];
        assert_true(cpu[i] <= n->cpu_milli && mem[i] <= n->mem);
        assert_int_equal(n->cpu_free, n->cpu_milli - cpu[i]);
        assert_int_equal(n->mem_free, n->mem - mem[i]);
        for (uint32_t g = 0; g < n->gpu_count; g++) {
            assert_true(milli[i][g] <= PLACE_MILLI);
            assert_int_equal(n->gpu_free[g], PLACE_MILLI - milli[i][g]);
        }
    }
}

static void random_walk_never_overcommits(void **state)
{
    (void)state;
    static const char *models[] = {"A100", "T4", "V100M16"};
    for (int p = 0; p < PLACE_POLICY_COUNT; p++) {
        struct place_cluster cl;
        struct prng rng;
        struct held *held = calloc(4096, sizeof *held);
        size_t count = 0;
        assert_non_null(held);
        place_cluster_init(&cl);
        prng_seed(&rng, 42 + (uint64_t)p);
        for (int k = 0; k < 40; k++)
            add(&cl, models[k % 3], 1 << (k % 4), 16000 + 8000 * (k % 5), 1000 + 100 * (k % 7));
        cl.candidate_limit = p == PLACE_FGDPACK ? 8 : 0;
        struct place_pod shapes[6] = {pod_whole(1, 4000, 100), pod_whole(4, 16000, 300), pod_share(300, 2000, 50),
                                      pod_share(700, 6000, 80), pod_whole(0, 12000, 200), pod_whole(8, 8000, 100)};
        assert_int_equal(place_set_workload(&cl, shapes, (const int64_t[]){4, 1, 3, 2, 2, 1}, 6), 0);
        int placed = 0;
        for (int step = 0; step < 3000; step++) {
            if (count > 0 && (prng_below(&rng, 3) == 0 || count == 4096)) {
                size_t k = prng_below(&rng, count);
                place_release(&cl, &held[k].pod, &held[k].choice);
                held[k] = held[--count];
            } else {
                struct held h = {.pod = shapes[prng_below(&rng, 6)]};
                h.pod.model_mask = prng_below(&rng, 4) == 0 ? 1u << prng_below(&rng, 3) : 0;
                if (place_choose(&cl, &h.pod, (enum place_policy)p, &h.choice)) {
                    assert_true(place_fits(&cl, h.choice.node, &h.pod));
                    place_commit(&cl, &h.pod, &h.choice);
                    held[count++] = h;
                    placed++;
                }
            }
            check_books(&cl, held, count);
        }
        assert_true(placed > 500);
        /* everything released: the cluster is whole again */
        while (count > 0) {
            count--;
            place_release(&cl, &held[count].pod, &held[count].choice);
        }
        check_books(&cl, held, 0);
        assert_int_equal(cl.gpu_milli_free, cl.gpu_milli_total);
        free(held);
        place_cluster_free(&cl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(selectors),
        cmocka_unit_test(gpu_model_lists),
        cmocka_unit_test(mig_profiles),
        cmocka_unit_test(milli_sharing),
        cmocka_unit_test(fgd_against_bestfit),
        cmocka_unit_test(fragmentation_values),
        cmocka_unit_test(multi_gpu_one_node),
        cmocka_unit_test(gang_all_or_nothing),
        cmocka_unit_test(cpu_and_memory_limit),
        cmocka_unit_test(scarce_model_kept_for_bound_pods),
        cmocka_unit_test(index_tightest_first),
        cmocka_unit_test(policy_names),
        cmocka_unit_test(random_walk_never_overcommits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
