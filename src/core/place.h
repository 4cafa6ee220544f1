/* Placement: where one pod of a given shape goes in a cluster of nodes.
 *
 * A compact cluster (per node: CPU, memory, GPUs with their model and free
 * milli-GPU, MIG slices, labels), a pod shape (CPU, memory, whole GPUs or a
 * share of one GPU or one MIG slice, allowed GPU models, a label selector)
 * and the policies that choose a node and its GPUs:
 *   firstfit  the first node (in node order) that fits
 *   bestfit   the node left with the least free GPU, then CPU
 *   fgd       Fragmentation Gradient Descent (Weng et al., USENIX ATC'23):
 *             the node and GPUs whose expected fragmentation, over the
 *             workload's pod shapes, grows least
 *   fgdpack   the default: fgd's measure plus packing tie-breaks (see place.c)
 * An index (nodes bucketed by GPU model and free whole GPUs, and by the
 * largest free share of a partly used GPU, each split by how much CPU and
 * memory the node has left) lets a decision visit only nodes that can hold
 * the pod, tightest in GPU first and among those the roomiest in CPU and
 * memory first.
 *
 * Pure and deterministic: no I/O, clock or randomness; ties go to the lower
 * node index. Memory units are the caller's (bytes, MiB), used consistently. */
#ifndef GPUAAS_CORE_PLACE_H
#define GPUAAS_CORE_PLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLACE_MILLI 1000          /* one whole GPU */
#define PLACE_GPUS_MAX 16         /* GPUs on one node */
#define PLACE_MIG_MAX 7           /* MIG slices on one GPU */
#define PLACE_MODELS_MAX 32       /* distinct GPU models in a cluster */
#define PLACE_MIG_PROFILES_MAX 32 /* distinct MIG profiles */
#define PLACE_LABELS_MAX 48       /* labels on one node */
#define PLACE_SELECTOR_MAX 48     /* labels one pod may require */
#define PLACE_LABEL_IDS_MAX 65535 /* distinct key=value pairs in a cluster */
#define PLACE_NAME_MAX 63
#define PLACE_NODES_MAX 1000000
#define PLACE_SHAPES_MAX 100000   /* distinct pod shapes in a workload */
#define PLACE_NONE UINT32_MAX
#define PLACE_ROOM_LEVELS 4      /* index levels of the CPU and memory a node has left */

enum place_policy { PLACE_FIRSTFIT, PLACE_BESTFIT, PLACE_FGD, PLACE_FGDPACK, PLACE_POLICY_COUNT };
#define PLACE_POLICY_DEFAULT PLACE_FGDPACK
/* candidates fgdpack scores per decision by default (the live scheduler,
 * gpuaas sim, bench_place): bench/RESULTS.md has the figures behind it */
#define PLACE_CANDIDATES_DEFAULT 128

struct place_node {
    /* set by the caller before place_node_add */
    int64_t cpu_milli, mem;          /* capacity */
    int64_t cpu_free, mem_free;      /* what is left (place_commit/release keep it) */
    uint8_t gpu_count;
    uint8_t gpu_model[PLACE_GPUS_MAX]; /* model id (place_model_id) */
    int16_t gpu_free[PLACE_GPUS_MAX];  /* plain GPU: free milli 0..1000; MIG GPU: ignored */
    bool gpu_mig[PLACE_GPUS_MAX];      /* in MIG mode: only usable as slices */
    uint8_t mig_count[PLACE_GPUS_MAX];
    uint8_t mig_profile[PLACE_GPUS_MAX][PLACE_MIG_MAX]; /* profile id per slice */
    uint8_t mig_used[PLACE_GPUS_MAX];                   /* bit per slice: taken */
    uint16_t labels[PLACE_LABELS_MAX];                  /* label ids (place_label_id) */
    uint8_t label_count;
    bool cordoned; /* takes nothing new */
    bool reserved; /* takes only pods with use_reserved (a waiting job's reservation) */
    /* derived; maintained by the module */
    uint32_t models;       /* bit per model of the plain GPUs */
    bool mixed;            /* plain GPUs of more than one model */
    bool has_mig;
    uint8_t full_free;     /* plain GPUs entirely free */
    int32_t plain_milli;   /* capacity and free milli of the plain GPUs */
    int32_t free_milli;
    int16_t part_free_max; /* largest free milli of a partly used plain GPU, 0: none */
    uint64_t sig;          /* hash of the node's fixed GPU layout (models, MIG mode) */
    int64_t frag;          /* expected fragmentation for the workload (valid when frag_gen matches) */
    uint64_t frag_gen;
    uint32_t idx_bucket, idx_prev, idx_next;    /* free-whole-GPU bucket list */
    uint32_t pidx_bucket, pidx_prev, pidx_next; /* partly-used-GPU bucket list */
};

/* One pod (one replica). Exactly one GPU form, or none (CPU only). */
struct place_pod {
    int64_t cpu_milli, mem;
    int32_t num_gpu;       /* whole GPUs, all of one model, on one node */
    int32_t gpu_milli;     /* 1..999: a share of one GPU (when num_gpu is 0) */
    int32_t mig_profile;   /* >= 0: one MIG slice of this profile id; -1: none */
    uint32_t model_mask;   /* bit per allowed model; 0: any */
    uint16_t selector[PLACE_SELECTOR_MAX]; /* label ids the node must carry */
    uint8_t selector_count;
    bool use_reserved;     /* may go on reserved nodes */
};

/* Where a pod goes: the node and its devices. */
struct place_choice {
    uint32_t node;
    uint8_t device_count;
    uint8_t gpu[PLACE_GPUS_MAX]; /* GPU index on the node */
    int8_t mig;                  /* slice index on gpu[0] for a MIG pod, else -1 */
    int16_t milli;               /* per device: 1000, or the share */
};

/* The target workload: pod shapes and how often each comes (weights). */
struct place_shape_class; /* internal */
struct place_workload {
    struct place_shape_class *classes;
    size_t class_count;
    int64_t weight_total;
};

struct place_memo {
    uint64_t k1, k2;
    int64_t frag;
};

struct place_cluster {
    struct place_node *nodes;
    uint32_t count, cap;
    char models[PLACE_MODELS_MAX][PLACE_NAME_MAX + 1];
    uint32_t model_count;
    char mig_profiles[PLACE_MIG_PROFILES_MAX][PLACE_NAME_MAX + 1];
    uint32_t mig_profile_count;
    char **labels; /* interned "key=value" */
    uint32_t label_count, label_cap;
    struct place_workload workload;
    uint64_t workload_gen; /* bumped when the workload changes: node frag caches go stale */
    /* index: [model][free whole GPUs] and [model][share bucket]; slot
     * PLACE_MODELS_MAX holds CPU-only nodes, PLACE_MODELS_MAX + 1 mixed-model and MIG nodes */
    uint32_t idx_head[PLACE_MODELS_MAX + 2][PLACE_GPUS_MAX + 1][PLACE_ROOM_LEVELS];
    uint32_t pidx_head[PLACE_MODELS_MAX + 2][21][PLACE_ROOM_LEVELS];
    /* candidates scored per decision by fgdpack (0: all that fit) */
    uint32_t candidate_limit;
    /* totals of plain GPUs, and per model (model_stale: recounted before
     * the next decision, after place_node_changed) */
    int64_t gpu_milli_total, gpu_milli_free;
    int64_t model_milli[PLACE_MODELS_MAX], model_free[PLACE_MODELS_MAX];
    bool model_stale;
    /* the workload's GPU demand (milli x weight): in all, and the part of
     * model-bound shapes per model (each shape's demand split over its
     * models by their capacity); computed before a decision when stale */
    int64_t demand_total, bound_demand[PLACE_MODELS_MAX];
    uint64_t demand_gen;
    int64_t scarce_cost[PLACE_MODELS_MAX]; /* per GPU, for the decision under way */
    /* memo of the fragmentation of node states (two independent hashes
     * of the state as the key), cleared when the workload changes */
    struct place_memo *memo;
    uint32_t memo_mask;
    uint64_t memo_hits, memo_misses;
    /* scratch for one decision */
    uint32_t *scratch;
    uint32_t scratch_cap;
    uint32_t *visit; /* per node: the decision that last listed it */
    uint32_t visit_stamp;
};

void place_cluster_init(struct place_cluster *cl);
void place_cluster_free(struct place_cluster *cl);

/* Ids of names, created on first use (create true) or looked up (-1 if absent
 * or the table is full). */
int place_model_id(struct place_cluster *cl, const char *name, bool create);
int place_mig_profile_id(struct place_cluster *cl, const char *name, bool create);
/* key=value label id; -1 when absent (create false) or on a full table / no memory */
int place_label_id(struct place_cluster *cl, const char *key, const char *value, bool create);
/* Model list "A|B|C" (models created as needed) to a mask; -1 on a bad list. */
int place_model_mask(struct place_cluster *cl, const char *list, uint32_t *ret_mask);

/* Adds a node (copied; derived fields computed). Returns its index, or -1
 * (too many nodes, bad GPU values, out of memory). */
int place_node_add(struct place_cluster *cl, const struct place_node *node);
/* Every node back to empty (all capacity free). */
void place_cluster_reset(struct place_cluster *cl);
/* After the caller changed a node's capacity, free amounts or cordon flag. */
void place_node_changed(struct place_cluster *cl, uint32_t index);

/* The workload the fragmentation measure expects: n shapes with weights
 * (> 0). Selectors of the shapes are ignored. 0, or -1 on out of memory. */
int place_set_workload(struct place_cluster *cl, const struct place_pod *shapes, const int64_t *weights, size_t n);

/* Whether the pod could go on this node now. */
bool place_fits(const struct place_cluster *cl, uint32_t index, const struct place_pod *pod);

/* Whether the pod fits on some node now (walks the index; stops at the first). */
bool place_any_fits(struct place_cluster *cl, const struct place_pod *pod);

/* Chooses a node and devices under the policy. true when the pod fits
 * somewhere now; nothing changes until place_commit. */
bool place_choose(struct place_cluster *cl, const struct place_pod *pod, enum place_policy policy,
                  struct place_choice *ret_choice);
/* Takes (commit) or gives back (release) what the choice holds. */
void place_commit(struct place_cluster *cl, const struct place_pod *pod, const struct place_choice *choice);
void place_release(struct place_cluster *cl, const struct place_pod *pod, const struct place_choice *choice);

/* All replicas of a gang, or none: on success every choice is committed;
 * on failure nothing is held. */
bool place_gang(struct place_cluster *cl, const struct place_pod *pod, uint32_t replicas, enum place_policy policy,
                struct place_choice *ret_choices);

/* Expected fragmentation (milli-GPU, weighted by the workload) of a node and
 * of the cluster, divided by the workload's total weight. */
double place_node_frag(struct place_cluster *cl, uint32_t index);
double place_cluster_frag(struct place_cluster *cl);

const char *place_policy_name(enum place_policy policy);
int place_policy_from_name(const char *name, enum place_policy *ret_policy);

#endif
