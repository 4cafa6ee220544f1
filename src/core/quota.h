/* Quotas: limits on a namespace subtree (GPUs in total and per model, MIG
 * slices per profile, GPU shares, CPU, memory, running pods). The use of a
 * subtree is the sum over its active pods; a job starts only if every
 * ancestor's quota still holds with it, and a job that could never fit is
 * refused at submit. Pure. */
#ifndef GPUAAS_CORE_QUOTA_H
#define GPUAAS_CORE_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define QUOTA_KINDS_MAX 8  /* distinct GPU models / MIG profiles per quota */
#define QUOTA_UNLIMITED (-1)

struct quota_kind {
    char name[32];   /* GPU model ("A100") or MIG profile ("1g.10gb") */
    int64_t amount;
};

/* Amounts of every resource a quota governs. In a limit, QUOTA_UNLIMITED
 * means "no limit"; a model or profile absent from the list is unlimited. */
struct quota_amounts {
    int64_t gpus;        /* whole GPUs */
    int64_t gpu_milli;   /* shares of GPUs, in thousandths */
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t pods;        /* running pods (replica attempts) */
    uint32_t model_count;
    struct quota_kind models[QUOTA_KINDS_MAX]; /* whole GPUs per model */
    uint32_t mig_count;
    struct quota_kind migs[QUOTA_KINDS_MAX];   /* MIG slices per profile */
    int64_t weight;      /* limits only: fair-share weight of the namespace, 0: default (1) */
};

void quota_amounts_zero(struct quota_amounts *a);
void quota_amounts_unlimited(struct quota_amounts *a);
/* a += sign * b (sign is +1 or -1); kinds are merged by name. */
void quota_amounts_add(struct quota_amounts *a, const struct quota_amounts *b, int sign);
int64_t quota_kind_get(const struct quota_kind *kinds, uint32_t count, const char *name);

/* The first resource where used + need exceeds limit: writes "gpus 8/8 in
 * use, needs 2" (or, with used NULL, "gpus: needs 10, limit 8") and returns
 * true. */
bool quota_exceeded(const struct quota_amounts *limit, const struct quota_amounts *used,
                    const struct quota_amounts *need, char *why, size_t why_size, char *field, size_t field_size);

/* A limit from the API's JSON ({"gpus":8,"gpus_per_model":{"A100":4},
 * "mig":{"1g.10gb":7},"gpu_milli":4000,"cpu":"64","memory":"512Gi",
 * "pods":100,"weight":2}); unknown fields and wrong types are refused naming the field. */
int quota_from_json(const json_t *json, struct quota_amounts *ret_limit, char *field, size_t field_size, char *why,
                    size_t why_size);
/* As JSON; limits skip unlimited fields. */
json_t *quota_to_json(const struct quota_amounts *a, bool is_limit);

#endif
