/* Placement policies and the node index (see place.h).
 *
 * Fragmentation, after Weng et al. (ATC'23): for a node n and a pod shape m,
 * F_n(m) is the free GPU milli of n that m cannot use: all of it when m does
 * not fit on n at all (CPU, memory, model or GPUs short), else the free milli
 * of the GPUs too small for m (below m's share, or below a whole GPU for
 * whole-GPU pods). The node's expected fragmentation is the sum of F_n(m)
 * weighted by how often each shape m comes in the workload. fgd places a pod
 * where that sum grows least.
 *
 * fgdpack adds to fgd's measure, for whole-GPU pods, a pull towards the
 * node left with the fewest free GPUs (PACK_MILLI per free GPU): fgd alone
 * takes whole GPUs from idle large nodes as readily as from busy ones and
 * later refuses multi-GPU pods. Its ties go to the GPU left fullest (shares)
 * and then the node left with the least free GPU. GPUs of a model that
 * model-bound pods (gpu_spec lists) will want cost up to SCARCE_MILLI per
 * GPU more, by the model's pressure (model_pressure): without it, pods
 * that may go anywhere take the small nodes of scarce models first (the
 * tightest fit) and the model-bound pods that come later are refused.
 * It scores the first
 * candidate_limit nodes the index lists (tightest in GPU first, and among
 * those the ones with the most CPU and memory left) when that limit is set,
 * so a decision costs the same on any cluster size.
 *
 * Weights are integers (pod counts), so every score is an exact integer
 * and the outcome is the same on every machine. */
#include "core/place.h"

#include <stdlib.h>
#include <string.h>

#define SHARE_BUCKET_MILLI 50
#define PACK_MILLI 30 /* fgdpack: measured best of 10..1000 on openb (bench/RESULTS.md) */
#define SCARCE_MILLI 200 /* fgdpack: per GPU at full model pressure; 150..1000 measured on openb gpuspec10 */
#define MEMO_SIZE (1u << 18) /* fragmentation memo entries (24 bytes each) */
#define SHARE_BUCKETS 21
#define SLOT_CPU PLACE_MODELS_MAX
#define SLOT_MIXED (PLACE_MODELS_MAX + 1)
#define SLOTS (PLACE_MODELS_MAX + 2)

struct place_shape_class {
    int32_t num_gpu, gpu_milli;
    uint32_t model_mask;
    int64_t weight;
    size_t count;
    int64_t *cpu, *mem, *w; /* shapes of this class, by CPU ascending */
};

/* ---- names ------------------------------------------------------------------------ */

static int intern(char (*table)[PLACE_NAME_MAX + 1], uint32_t *count, uint32_t max, const char *name, bool create)
{
    if (!name || !*name || strlen(name) > PLACE_NAME_MAX)
        return -1;
    for (uint32_t i = 0; i < *count; i++)
        if (strcmp(table[i], name) == 0)
            return (int)i;
    if (!create || *count >= max)
        return -1;
    memcpy(table[*count], name, strlen(name) + 1);
    return (int)(*count)++;
}

int place_model_id(struct place_cluster *cl, const char *name, bool create)
{
    return intern(cl->models, &cl->model_count, PLACE_MODELS_MAX, name, create);
}

int place_mig_profile_id(struct place_cluster *cl, const char *name, bool create)
{
    return intern(cl->mig_profiles, &cl->mig_profile_count, PLACE_MIG_PROFILES_MAX, name, create);
}

int place_label_id(struct place_cluster *cl, const char *key, const char *value, bool create)
{
    size_t klen = strlen(key), vlen = strlen(value);
    if (klen == 0 || klen + vlen > 512)
        return -1;
    for (uint32_t i = 0; i < cl->label_count; i++) {
        const char *l = cl->labels[i];
        if (strncmp(l, key, klen) == 0 && l[klen] == '=' && strcmp(l + klen + 1, value) == 0)
            return (int)i;
    }
    if (!create || cl->label_count >= PLACE_LABEL_IDS_MAX)
        return -1;
    if (cl->label_count == cl->label_cap) {
        uint32_t cap = cl->label_cap ? cl->label_cap * 2 : 16;
        char **grown = realloc(cl->labels, cap * sizeof *grown);
        if (!grown)
            return -1;
        cl->labels = grown;
        cl->label_cap = cap;
    }
    char *l = malloc(klen + vlen + 2);
    if (!l)
        return -1;
    memcpy(l, key, klen);
    l[klen] = '=';
    memcpy(l + klen + 1, value, vlen + 1);
    cl->labels[cl->label_count] = l;
    return (int)cl->label_count++;
}

int place_model_mask(struct place_cluster *cl, const char *list, uint32_t *ret_mask)
{
    uint32_t mask = 0;
    const char *p = list;
    if (!*p) {
        *ret_mask = 0;
        return 0;
    }
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        char name[PLACE_NAME_MAX + 1];
        if (len == 0 || len > PLACE_NAME_MAX)
            return -1;
        memcpy(name, p, len);
        name[len] = '\0';
        int id = place_model_id(cl, name, true);
        if (id < 0)
            return -1;
        mask |= 1u << id;
        if (!bar)
            break;
        p = bar + 1;
    }
    *ret_mask = mask;
    return 0;
}

const char *place_policy_name(enum place_policy policy)
{
    switch (policy) {
    case PLACE_FIRSTFIT: return "firstfit";
    case PLACE_BESTFIT: return "bestfit";
    case PLACE_FGD: return "fgd";
    case PLACE_FGDPACK: return "fgdpack";
    default: return "?";
    }
}

int place_policy_from_name(const char *name, enum place_policy *ret_policy)
{
    for (int p = 0; p < PLACE_POLICY_COUNT; p++)
        if (strcmp(name, place_policy_name((enum place_policy)p)) == 0) {
            *ret_policy = (enum place_policy)p;
            return 0;
        }
    if (strcmp(name, "default") == 0) {
        *ret_policy = PLACE_POLICY_DEFAULT;
        return 0;
    }
    return -1;
}

/* ---- hashing ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
    return h;
}

static uint64_t mix64b(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x100000001b3ULL;
    h ^= h >> 31;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 32;
    return h;
}

static uint64_t layout_sig(const struct place_node *n)
{
    uint64_t h = mix64(0x51ed270b, n->gpu_count);
    for (uint32_t g = 0; g < n->gpu_count; g++)
        h = mix64(h, (uint64_t)n->gpu_model[g] << 1 | n->gpu_mig[g]);
    return h;
}

/* ---- cluster and index ------------------------------------------------------------ */

void place_cluster_init(struct place_cluster *cl)
{
    memset(cl, 0, sizeof *cl);
    for (int s = 0; s < SLOTS; s++) {
        for (int f = 0; f <= PLACE_GPUS_MAX; f++)
            for (int r = 0; r < PLACE_ROOM_LEVELS; r++)
                cl->idx_head[s][f][r] = PLACE_NONE;
        for (int q = 0; q < SHARE_BUCKETS; q++)
            for (int r = 0; r < PLACE_ROOM_LEVELS; r++)
                cl->pidx_head[s][q][r] = PLACE_NONE;
    }
    cl->workload_gen = 1;
}

static void workload_free(struct place_workload *wl)
{
    for (size_t c = 0; c < wl->class_count; c++) {
        free(wl->classes[c].cpu);
        free(wl->classes[c].mem);
        free(wl->classes[c].w);
    }
    free(wl->classes);
    memset(wl, 0, sizeof *wl);
}

void place_cluster_free(struct place_cluster *cl)
{
    if (!cl)
        return;
    for (uint32_t i = 0; i < cl->label_count; i++)
        free(cl->labels[i]);
    free(cl->labels);
    free(cl->nodes);
    free(cl->scratch);
    free(cl->visit);
    free(cl->memo);
    workload_free(&cl->workload);
    memset(cl, 0, sizeof *cl);
}

static int node_slot(const struct place_node *n)
{
    if (n->mixed || n->has_mig)
        return SLOT_MIXED;
    if (!n->models)
        return SLOT_CPU;
    return __builtin_ctz(n->models);
}

static void node_derive(struct place_node *n)
{
    n->models = 0;
    n->has_mig = false;
    n->full_free = 0;
    n->part_free_max = 0;
    n->plain_milli = n->free_milli = 0;
    for (uint32_t g = 0; g < n->gpu_count; g++) {
        if (n->gpu_mig[g]) {
            n->has_mig = true;
            continue;
        }
        n->plain_milli += PLACE_MILLI;
        n->free_milli += n->gpu_free[g];
        n->models |= 1u << n->gpu_model[g];
        if (n->gpu_free[g] == PLACE_MILLI)
            n->full_free++;
        else if (n->gpu_free[g] > n->part_free_max)
            n->part_free_max = n->gpu_free[g];
    }
    n->mixed = n->models & (n->models - 1);
}

static void list_unlink(struct place_node *nodes, uint32_t *head, uint32_t i, bool share)
{
    struct place_node *n = &nodes[i];
    uint32_t prev = share ? n->pidx_prev : n->idx_prev, next = share ? n->pidx_next : n->idx_next;
    if (prev != PLACE_NONE) {
        if (share)
            nodes[prev].pidx_next = next;
        else
            nodes[prev].idx_next = next;
    } else
        *head = next;
    if (next != PLACE_NONE) {
        if (share)
            nodes[next].pidx_prev = prev;
        else
            nodes[next].idx_prev = prev;
    }
}

static void list_push(struct place_node *nodes, uint32_t *head, uint32_t i, bool share)
{
    struct place_node *n = &nodes[i];
    if (share) {
        n->pidx_prev = PLACE_NONE;
        n->pidx_next = *head;
        if (*head != PLACE_NONE)
            nodes[*head].pidx_prev = i;
    } else {
        n->idx_prev = PLACE_NONE;
        n->idx_next = *head;
        if (*head != PLACE_NONE)
            nodes[*head].idx_prev = i;
    }
    *head = i;
}

/* The room level of a node: the smaller of its free CPU and free memory
 * as a fraction of capacity, in PLACE_ROOM_LEVELS steps (0: least). */
static uint32_t node_room(const struct place_node *n)
{
    int64_t c = n->cpu_milli > 0 ? n->cpu_free * PLACE_ROOM_LEVELS / n->cpu_milli : 0;
    int64_t m = n->mem > 0 ? n->mem_free * PLACE_ROOM_LEVELS / n->mem : 0;
    int64_t r = c < m ? c : m;
    return r < 0 ? 0 : r >= PLACE_ROOM_LEVELS ? PLACE_ROOM_LEVELS - 1 : (uint32_t)r;
}

/* Bucket ids pack the slot, the count and the room level:
 * (slot * 32 + count) * PLACE_ROOM_LEVELS + room. */
#define BUCKET_SLOT(b) ((b) / PLACE_ROOM_LEVELS / 32)
#define BUCKET_COUNT(b) ((b) / PLACE_ROOM_LEVELS % 32)
#define BUCKET_ROOM(b) ((b) % PLACE_ROOM_LEVELS)
static void index_remove(struct place_cluster *cl, uint32_t i)
{
    struct place_node *n = &cl->nodes[i];
    uint32_t b = n->idx_bucket, p = n->pidx_bucket;
    if (b != PLACE_NONE)
        list_unlink(cl->nodes, &cl->idx_head[BUCKET_SLOT(b)][BUCKET_COUNT(b)][BUCKET_ROOM(b)], i, false);
    if (p != PLACE_NONE)
        list_unlink(cl->nodes, &cl->pidx_head[BUCKET_SLOT(p)][BUCKET_COUNT(p)][BUCKET_ROOM(p)], i, true);
    n->idx_bucket = n->pidx_bucket = PLACE_NONE;
}

static void index_insert(struct place_cluster *cl, uint32_t i)
{
    struct place_node *n = &cl->nodes[i];
    uint32_t slot = (uint32_t)node_slot(n), room = node_room(n);
    n->idx_bucket = (slot * 32 + n->full_free) * PLACE_ROOM_LEVELS + room;
    list_push(cl->nodes, &cl->idx_head[slot][n->full_free][room], i, false);
    if (n->part_free_max > 0) {
        uint32_t q = (uint32_t)n->part_free_max / SHARE_BUCKET_MILLI;
        n->pidx_bucket = (slot * 32 + q) * PLACE_ROOM_LEVELS + room;
        list_push(cl->nodes, &cl->pidx_head[slot][q][room], i, true);
    } else
        n->pidx_bucket = PLACE_NONE;
}

static int64_t node_gpu_free_total(const struct place_node *n)
{
    int64_t t = 0;
    for (uint32_t g = 0; g < n->gpu_count; g++)
        if (!n->gpu_mig[g])
            t += n->gpu_free[g];
    return t;
}

int place_node_add(struct place_cluster *cl, const struct place_node *src)
{
    if (cl->count >= PLACE_NODES_MAX || src->gpu_count > PLACE_GPUS_MAX || src->label_count > PLACE_LABELS_MAX ||
        src->cpu_free > src->cpu_milli || src->mem_free > src->mem || src->cpu_free < 0 || src->mem_free < 0)
        return -1;
    for (uint32_t g = 0; g < src->gpu_count; g++) {
        if (src->gpu_model[g] >= cl->model_count && !src->gpu_mig[g])
            return -1;
        if (!src->gpu_mig[g] && (src->gpu_free[g] < 0 || src->gpu_free[g] > PLACE_MILLI))
            return -1;
        if (src->gpu_mig[g] && src->mig_count[g] > PLACE_MIG_MAX)
            return -1;
    }
    if (cl->count == cl->cap) {
        uint32_t cap = cl->cap ? cl->cap * 2 : 64;
        struct place_node *grown = realloc(cl->nodes, cap * sizeof *grown);
        if (!grown)
            return -1;
        cl->nodes = grown;
        uint32_t *visit = realloc(cl->visit, cap * sizeof *visit);
        if (!visit)
            return -1;
        cl->visit = visit;
        uint32_t *scratch = realloc(cl->scratch, cap * sizeof *scratch);
        if (!scratch)
            return -1;
        cl->scratch = scratch;
        cl->scratch_cap = cap;
        cl->cap = cap;
    }
    uint32_t i = cl->count++;
    cl->nodes[i] = *src;
    cl->visit[i] = 0;
    struct place_node *n = &cl->nodes[i];
    node_derive(n);
    n->sig = layout_sig(n);
    n->frag_gen = 0;
    n->idx_bucket = n->pidx_bucket = PLACE_NONE;
    index_insert(cl, i);
    for (uint32_t g = 0; g < n->gpu_count; g++)
        if (!n->gpu_mig[g]) {
            cl->gpu_milli_total += PLACE_MILLI;
            cl->model_milli[n->gpu_model[g]] += PLACE_MILLI;
            cl->model_free[n->gpu_model[g]] += n->gpu_free[g];
        }
    cl->gpu_milli_free += node_gpu_free_total(n);
    cl->demand_gen = 0; /* capacity per model moved */
    return (int)i;
}

void place_node_changed(struct place_cluster *cl, uint32_t i)
{
    struct place_node *n = &cl->nodes[i];
    /* totals move by this node's difference: no walk over the cluster */
    cl->gpu_milli_total -= n->plain_milli;
    cl->gpu_milli_free -= n->free_milli;
    index_remove(cl, i);
    node_derive(n);
    n->sig = layout_sig(n);
    n->frag_gen = 0;
    index_insert(cl, i);
    cl->gpu_milli_total += n->plain_milli;
    cl->gpu_milli_free += n->free_milli;
    cl->model_stale = true;
}

/* ---- workload ---------------------------------------------------------------------- */

static const struct place_pod *sort_shapes; /* qsort has no context; the core is single-threaded */

static int cmp_shapes(const void *a, const void *b)
{
    const struct place_pod *x = &sort_shapes[*(const size_t *)a], *y = &sort_shapes[*(const size_t *)b];
    if (x->num_gpu != y->num_gpu)
        return x->num_gpu < y->num_gpu ? -1 : 1;
    if (x->gpu_milli != y->gpu_milli)
        return x->gpu_milli < y->gpu_milli ? -1 : 1;
    if (x->model_mask != y->model_mask)
        return x->model_mask < y->model_mask ? -1 : 1;
    if (x->cpu_milli != y->cpu_milli)
        return x->cpu_milli < y->cpu_milli ? -1 : 1;
    if (x->mem != y->mem)
        return x->mem < y->mem ? -1 : 1;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    return i < j ? -1 : i > j;
}

int place_set_workload(struct place_cluster *cl, const struct place_pod *shapes, const int64_t *weights, size_t n)
{
    struct place_workload wl = {0};
    size_t *order = NULL;
    int rc = -1;
    if (n > PLACE_SHAPES_MAX * 100)
        return -1;
    order = malloc((n ? n : 1) * sizeof *order);
    if (!order)
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (weights[i] > 0 && shapes[i].mig_profile < 0)
            order[kept++] = i;
    sort_shapes = shapes;
    qsort(order, kept, sizeof *order, cmp_shapes);
    sort_shapes = NULL;
    wl.classes = calloc(kept ? kept : 1, sizeof *wl.classes);
    if (!wl.classes)
        goto out;
    for (size_t k = 0; k < kept;) {
        const struct place_pod *first = &shapes[order[k]];
        size_t end = k;
        while (end < kept && shapes[order[end]].num_gpu == first->num_gpu &&
               shapes[order[end]].gpu_milli == first->gpu_milli && shapes[order[end]].model_mask == first->model_mask)
            end++;
        struct place_shape_class *c = &wl.classes[wl.class_count++];
        c->num_gpu = first->num_gpu;
        c->gpu_milli = first->num_gpu > 0 ? 0 : first->gpu_milli;
        c->model_mask = first->model_mask;
        c->cpu = malloc((end - k) * sizeof *c->cpu);
        c->mem = malloc((end - k) * sizeof *c->mem);
        c->w = malloc((end - k) * sizeof *c->w);
        if (!c->cpu || !c->mem || !c->w)
            goto out;
        for (size_t j = k; j < end; j++) {
            const struct place_pod *s = &shapes[order[j]];
            /* equal shapes merge into one entry */
            if (c->count && c->cpu[c->count - 1] == s->cpu_milli && c->mem[c->count - 1] == s->mem)
                c->w[c->count - 1] += weights[order[j]];
            else {
                c->cpu[c->count] = s->cpu_milli;
                c->mem[c->count] = s->mem;
                c->w[c->count++] = weights[order[j]];
            }
            c->weight += weights[order[j]];
        }
        wl.weight_total += c->weight;
        k = end;
    }
    workload_free(&cl->workload);
    cl->workload = wl;
    memset(&wl, 0, sizeof wl);
    cl->workload_gen++;
    if (cl->memo)
        memset(cl->memo, 0, MEMO_SIZE * sizeof *cl->memo);
    rc = 0;
out:
    workload_free(&wl);
    free(order);
    return rc;
}

/* ---- fragmentation ------------------------------------------------------------------ */

static bool model_ok(uint32_t mask, uint8_t model) { return !mask || (mask >> model & 1u); }

/* Expected fragmentation of a node in the given state (times the total weight). */
static int64_t frag_of(const struct place_cluster *cl, const struct place_node *n, int64_t cpu_free, int64_t mem_free,
                       const int16_t *gpu_free)
{
    const struct place_workload *wl = &cl->workload;
    int64_t total = 0;
    for (uint32_t g = 0; g < n->gpu_count; g++)
        if (!n->gpu_mig[g])
            total += gpu_free[g];
    if (total == 0)
        return 0;
    int64_t frag = 0;
    for (size_t ci = 0; ci < wl->class_count; ci++) {
        const struct place_shape_class *c = &wl->classes[ci];
        int64_t fit_w = 0;
        for (size_t s = 0; s < c->count && c->cpu[s] <= cpu_free; s++)
            if (c->mem[s] <= mem_free)
                fit_w += c->w[s];
        if (c->num_gpu == 0 && c->gpu_milli == 0) {
            frag += (c->weight - fit_w) * total;
            continue;
        }
        if (fit_w == 0) {
            frag += c->weight * total;
            continue;
        }
        int64_t small = 0;
        bool gpu_fit = false;
        if (c->num_gpu > 0) {
            int full[PLACE_MODELS_MAX] = {0};
            for (uint32_t g = 0; g < n->gpu_count; g++) {
                if (n->gpu_mig[g])
                    continue;
                if (!model_ok(c->model_mask, n->gpu_model[g]) || gpu_free[g] < PLACE_MILLI) {
                    small += gpu_free[g];
                    continue;
                }
                if (++full[n->gpu_model[g]] >= c->num_gpu)
                    gpu_fit = true;
            }
        } else {
            for (uint32_t g = 0; g < n->gpu_count; g++) {
                if (n->gpu_mig[g])
                    continue;
                if (!model_ok(c->model_mask, n->gpu_model[g]) || gpu_free[g] < c->gpu_milli)
                    small += gpu_free[g];
                else
                    gpu_fit = true;
            }
        }
        if (!gpu_fit)
            frag += c->weight * total;
        else
            frag += fit_w * small + (c->weight - fit_w) * total;
    }
    return frag;
}



/* frag_of through the memo: nodes in equal states, and a state met again
 * in a later decision, cost one lookup. */
static int64_t frag_memo(struct place_cluster *cl, const struct place_node *n, int64_t cpu_free, int64_t mem_free,
                         const int16_t *gpu_free)
{
    if (!cl->memo) {
        cl->memo = calloc(MEMO_SIZE, sizeof *cl->memo);
        if (!cl->memo)
            return frag_of(cl, n, cpu_free, mem_free, gpu_free);
        cl->memo_mask = MEMO_SIZE - 1;
    }
    uint64_t h1 = mix64(n->sig, (uint64_t)cpu_free), h2 = mix64b(n->sig ^ 0x2545f4914f6cdd1dULL, (uint64_t)cpu_free);
    h1 = mix64(h1, (uint64_t)mem_free);
    h2 = mix64b(h2, (uint64_t)mem_free);
    for (uint32_t g = 0; g < n->gpu_count; g += 4) {
        uint64_t w = 0;
        for (uint32_t k = g; k < g + 4 && k < n->gpu_count; k++)
            w = w << 16 | (uint16_t)gpu_free[k];
        h1 = mix64(h1, w);
        h2 = mix64b(h2, w);
    }
    h2 |= 1; /* 0 marks an empty slot */
    struct place_memo *m = &cl->memo[h1 & cl->memo_mask];
    if (m->k1 == h1 && m->k2 == h2) {
        cl->memo_hits++;
        return m->frag;
    }
    cl->memo_misses++;
    m->k1 = h1;
    m->k2 = h2;
    m->frag = frag_of(cl, n, cpu_free, mem_free, gpu_free);
    return m->frag;
}

static int64_t node_frag_cached(struct place_cluster *cl, uint32_t i)
{
    struct place_node *n = &cl->nodes[i];
    if (n->frag_gen != cl->workload_gen) {
        n->frag = frag_memo(cl, n, n->cpu_free, n->mem_free, n->gpu_free);
        n->frag_gen = cl->workload_gen;
    }
    return n->frag;
}

double place_node_frag(struct place_cluster *cl, uint32_t i)
{
    if (i >= cl->count || cl->workload.weight_total == 0)
        return 0;
    return (double)node_frag_cached(cl, i) / (double)cl->workload.weight_total;
}

double place_cluster_frag(struct place_cluster *cl)
{
    double sum = 0;
    for (uint32_t i = 0; i < cl->count; i++)
        sum += place_node_frag(cl, i);
    return sum;
}

/* ---- model scarcity ------------------------------------------------------------------ */

/* Recounts the per-model totals after place_node_changed, and splits the
 * model-bound part of the workload's demand over the models. */
static void models_refresh(struct place_cluster *cl)
{
    if (cl->model_stale) {
        memset(cl->model_milli, 0, sizeof cl->model_milli);
        memset(cl->model_free, 0, sizeof cl->model_free);
        for (uint32_t i = 0; i < cl->count; i++) {
            const struct place_node *n = &cl->nodes[i];
            for (uint32_t g = 0; g < n->gpu_count; g++)
                if (!n->gpu_mig[g]) {
                    cl->model_milli[n->gpu_model[g]] += PLACE_MILLI;
                    cl->model_free[n->gpu_model[g]] += n->gpu_free[g];
                }
        }
        cl->model_stale = false;
        cl->demand_gen = 0;
    }
    if (cl->demand_gen == cl->workload_gen)
        return;
    const struct place_workload *wl = &cl->workload;
    cl->demand_total = 0;
    memset(cl->bound_demand, 0, sizeof cl->bound_demand);
    for (size_t ci = 0; ci < wl->class_count; ci++) {
        const struct place_shape_class *c = &wl->classes[ci];
        int64_t d = c->weight * (c->num_gpu > 0 ? (int64_t)c->num_gpu * PLACE_MILLI : c->gpu_milli);
        cl->demand_total += d;
        if (!c->model_mask || !d)
            continue;
        int64_t cap = 0;
        for (uint32_t m = 0; m < cl->model_count; m++)
            if (c->model_mask >> m & 1u)
                cap += cl->model_milli[m];
        for (uint32_t m = 0; m < cl->model_count && cap; m++)
            if (c->model_mask >> m & 1u)
                cl->bound_demand[m] += (int64_t)((__int128)d * cl->model_milli[m] / cap);
    }
    cl->demand_gen = cl->workload_gen;
}

/* How much of model m's free GPU the model-bound pods are expected to
 * want before the cluster fills, in milli (0..1000): their share of the
 * workload's demand times the cluster's free GPU, over m's free GPU. */
static int64_t model_pressure(const struct place_cluster *cl, uint32_t m)
{
    if (cl->demand_total <= 0 || cl->bound_demand[m] <= 0 || cl->model_free[m] <= 0)
        return 0;
    __int128 p = (__int128)cl->bound_demand[m] * cl->gpu_milli_free * PLACE_MILLI /
                 ((__int128)cl->demand_total * cl->model_free[m]);
    return p > PLACE_MILLI ? PLACE_MILLI : (int64_t)p;
}

/* ---- feasibility --------------------------------------------------------------------- */

static bool node_has_labels(const struct place_node *n, const struct place_pod *pod)
{
    for (uint32_t s = 0; s < pod->selector_count; s++) {
        bool found = false;
        for (uint32_t l = 0; l < n->label_count && !found; l++)
            found = n->labels[l] == pod->selector[s];
        if (!found)
            return false;
    }
    return true;
}

/* The model whose free whole GPUs hold the pod (first in GPU order), or -1. */
static int whole_model(const struct place_node *n, const struct place_pod *pod)
{
    if (!n->mixed) {
        if (n->full_free < pod->num_gpu || !n->models || !(pod->model_mask ? n->models & pod->model_mask : 1))
            return -1;
        return __builtin_ctz(n->models);
    }
    int full[PLACE_MODELS_MAX] = {0};
    for (uint32_t g = 0; g < n->gpu_count; g++)
        if (!n->gpu_mig[g] && n->gpu_free[g] == PLACE_MILLI && model_ok(pod->model_mask, n->gpu_model[g]))
            full[n->gpu_model[g]]++;
    for (uint32_t g = 0; g < n->gpu_count; g++)
        if (!n->gpu_mig[g] && n->gpu_free[g] == PLACE_MILLI && full[n->gpu_model[g]] >= pod->num_gpu &&
            model_ok(pod->model_mask, n->gpu_model[g]))
            return n->gpu_model[g];
    return -1;
}

static bool mig_slice_free(const struct place_node *n, const struct place_pod *pod, uint32_t g, uint32_t *ret_slice)
{
    if (!n->gpu_mig[g] || !model_ok(pod->model_mask, n->gpu_model[g]))
        return false;
    for (uint32_t m = 0; m < n->mig_count[g]; m++)
        if (n->mig_profile[g][m] == pod->mig_profile && !(n->mig_used[g] >> m & 1u)) {
            *ret_slice = m;
            return true;
        }
    return false;
}

bool place_fits(const struct place_cluster *cl, uint32_t i, const struct place_pod *pod)
{
    const struct place_node *n = &cl->nodes[i];
    if (n->cordoned || (n->reserved && !pod->use_reserved) || n->cpu_free < pod->cpu_milli || n->mem_free < pod->mem)
        return false;
    if (pod->selector_count && !node_has_labels(n, pod))
        return false;
    if (pod->num_gpu > 0)
        return whole_model(n, pod) >= 0;
    if (pod->mig_profile >= 0) {
        uint32_t slice;
        for (uint32_t g = 0; g < n->gpu_count; g++)
            if (mig_slice_free(n, pod, g, &slice))
                return true;
        return false;
    }
    if (pod->gpu_milli > 0) {
        if (n->part_free_max < pod->gpu_milli && n->full_free == 0)
            return false;
        for (uint32_t g = 0; g < n->gpu_count; g++)
            if (!n->gpu_mig[g] && n->gpu_free[g] >= pod->gpu_milli && model_ok(pod->model_mask, n->gpu_model[g]))
                return true;
        return false;
    }
    return true;
}

/* ---- candidates -------------------------------------------------------------------- */

static bool visit_once(struct place_cluster *cl, uint32_t i)
{
    if (cl->visit[i] == cl->visit_stamp)
        return false;
    cl->visit[i] = cl->visit_stamp;
    return true;
}

/* Lists into cl->scratch the nodes that fit, at most limit (0: all), in
 * index order: for shares the partly used GPUs with the least free milli
 * that holds the share first, then nodes by free whole GPUs ascending
 * (tightest first); within one such step, nodes with the most CPU and
 * memory left first (room level descending), since a tight node whose CPU
 * or memory is nearly gone strands its GPUs and seldom scores best.
 * Returns how many. */
static uint32_t candidates(struct place_cluster *cl, const struct place_pod *pod, uint32_t limit)
{
    uint32_t found = 0, max = limit ? limit : cl->count;
    uint32_t slots[SLOTS], nslots = 0;
    if (++cl->visit_stamp == 0) {
        memset(cl->visit, 0, cl->count * sizeof *cl->visit);
        cl->visit_stamp = 1;
    }
    if (pod->mig_profile >= 0)
        slots[nslots++] = SLOT_MIXED;
    else if (pod->num_gpu == 0 && pod->gpu_milli == 0) {
        slots[nslots++] = SLOT_CPU;
        for (uint32_t m = 0; m < cl->model_count; m++)
            slots[nslots++] = m;
        slots[nslots++] = SLOT_MIXED;
    } else {
        for (uint32_t m = 0; m < cl->model_count; m++)
            if (model_ok(pod->model_mask, (uint8_t)m))
                slots[nslots++] = m;
        slots[nslots++] = SLOT_MIXED;
    }
#define TAKE(i_)                                                                                                       \
    do {                                                                                                               \
        uint32_t ii_ = (i_);                                                                                           \
        if (visit_once(cl, ii_) && place_fits(cl, ii_, pod)) {                                                         \
            cl->scratch[found++] = ii_;                                                                                \
            if (found >= max)                                                                                          \
                return found;                                                                                          \
        }                                                                                                              \
    } while (0)
    bool share = pod->gpu_milli > 0 && pod->num_gpu == 0 && pod->mig_profile < 0;
    uint32_t q0 = share ? (uint32_t)pod->gpu_milli / SHARE_BUCKET_MILLI : SHARE_BUCKETS;
    uint32_t from = pod->num_gpu > 0 ? (uint32_t)pod->num_gpu : share ? 1 : 0;
    for (uint32_t q = q0; q < SHARE_BUCKETS; q++)
        for (uint32_t r = PLACE_ROOM_LEVELS; r-- > 0;)
            for (uint32_t s = 0; s < nslots; s++)
                for (uint32_t i = cl->pidx_head[slots[s]][q][r]; i != PLACE_NONE; i = cl->nodes[i].pidx_next)
                    TAKE(i);
    for (uint32_t f = from; f <= PLACE_GPUS_MAX; f++)
        for (uint32_t r = PLACE_ROOM_LEVELS; r-- > 0;)
            for (uint32_t s = 0; s < nslots; s++)
                for (uint32_t i = cl->idx_head[slots[s]][f][r]; i != PLACE_NONE; i = cl->nodes[i].idx_next)
                    TAKE(i);
#undef TAKE
    return found;
}

bool place_any_fits(struct place_cluster *cl, const struct place_pod *pod)
{
    return cl->count && candidates(cl, pod, 1) > 0;
}

/* ---- choosing devices on one node ---------------------------------------------------- */

/* A score compared lexicographically: lower is better. */
struct score {
    int64_t k[3];
};

static bool score_less(const struct score *a, const struct score *b)
{
    for (int i = 0; i < 3; i++)
        if (a->k[i] != b->k[i])
            return a->k[i] < b->k[i];
    return false;
}

static void choice_whole(const struct place_node *n, const struct place_pod *pod, uint32_t i,
                         struct place_choice *c)
{
    int model = whole_model(n, pod);
    memset(c, 0, sizeof *c);
    c->node = i;
    c->mig = -1;
    c->milli = PLACE_MILLI;
    for (uint32_t g = 0; g < n->gpu_count && c->device_count < pod->num_gpu; g++)
        if (!n->gpu_mig[g] && n->gpu_free[g] == PLACE_MILLI && n->gpu_model[g] == model)
            c->gpu[c->device_count++] = (uint8_t)g;
}

static struct score score_state(struct place_cluster *cl, uint32_t i, const struct place_pod *pod,
                                const struct place_choice *c, enum place_policy policy)
{
    const struct place_node *n = &cl->nodes[i];
    int16_t after[PLACE_GPUS_MAX];
    memcpy(after, n->gpu_free, sizeof after);
    if (c->mig < 0)
        for (uint32_t d = 0; d < c->device_count; d++)
            after[c->gpu[d]] = (int16_t)(after[c->gpu[d]] - c->milli);
    int64_t gpu_left = 0;
    for (uint32_t g = 0; g < n->gpu_count; g++)
        if (!n->gpu_mig[g])
            gpu_left += after[g];
    int64_t cpu_left = n->cpu_free - pod->cpu_milli;
    struct score s = {{0, 0, 0}};
    if (policy == PLACE_BESTFIT) {
        s.k[0] = gpu_left;
        s.k[1] = cpu_left;
        s.k[2] = c->device_count && c->mig < 0 ? after[c->gpu[0]] : 0;
        return s;
    }
    int64_t delta = frag_memo(cl, n, cpu_left, n->mem_free - pod->mem, after) - node_frag_cached(cl, i);
    s.k[0] = delta;
    if (policy == PLACE_FGDPACK) {
        /* whole GPUs come from the node left with the fewest free GPUs: a
         * pull of PACK_MILLI expected milli-GPU per GPU left free, which
         * keeps large nodes whole for multi-GPU pods */
        if (pod->num_gpu > 0)
            s.k[0] += cl->workload.weight_total * PACK_MILLI * gpu_left / PLACE_MILLI;
        /* GPUs of a model the model-bound pods will want cost more */
        if (c->device_count && c->mig < 0)
            s.k[0] += cl->scarce_cost[n->gpu_model[c->gpu[0]]] * c->device_count * c->milli / PLACE_MILLI;
        /* ties: the GPU left fullest, then the node with the least free GPU */
        s.k[1] = c->device_count && c->mig < 0 && c->milli < PLACE_MILLI ? after[c->gpu[0]] : 0;
        s.k[2] = gpu_left;
    }
    return s;
}

/* The best devices for the pod on node i under the policy, and their score. */
static struct score best_on_node(struct place_cluster *cl, uint32_t i, const struct place_pod *pod,
                                 enum place_policy policy, struct place_choice *ret)
{
    const struct place_node *n = &cl->nodes[i];
    struct score best = {{INT64_MAX, INT64_MAX, INT64_MAX}};
    struct place_choice c;
    if (pod->num_gpu > 0 || (pod->gpu_milli == 0 && pod->mig_profile < 0)) {
        if (pod->num_gpu > 0)
            choice_whole(n, pod, i, &c);
        else
            c = (struct place_choice){.node = i, .mig = -1};
        *ret = c;
        return policy == PLACE_FIRSTFIT ? best : score_state(cl, i, pod, &c, policy);
    }
    if (pod->mig_profile >= 0) {
        /* the GPU with the fewest free slices that has one of the profile */
        int best_free = 1 << 30;
        for (uint32_t g = 0; g < n->gpu_count; g++) {
            uint32_t slice;
            if (!mig_slice_free(n, pod, g, &slice))
                continue;
            int free_slices = n->mig_count[g] - __builtin_popcount(n->mig_used[g]);
            if (free_slices < best_free) {
                best_free = free_slices;
                c = (struct place_choice){.node = i, .device_count = 1, .mig = (int8_t)slice, .milli = PLACE_MILLI};
                c.gpu[0] = (uint8_t)g;
            }
        }
        *ret = c;
        return policy == PLACE_FIRSTFIT ? best : score_state(cl, i, pod, &c, policy);
    }
    /* a share: try each distinct free amount once */
    int16_t tried[PLACE_GPUS_MAX];
    uint8_t tried_model[PLACE_GPUS_MAX];
    uint32_t ntried = 0;
    bool any = false;
    for (uint32_t g = 0; g < n->gpu_count; g++) {
        if (n->gpu_mig[g] || n->gpu_free[g] < pod->gpu_milli || !model_ok(pod->model_mask, n->gpu_model[g]))
            continue;
        bool seen = false;
        for (uint32_t t = 0; t < ntried && !seen; t++)
            seen = tried[t] == n->gpu_free[g] && tried_model[t] == n->gpu_model[g];
        if (seen)
            continue;
        tried_model[ntried] = n->gpu_model[g];
        tried[ntried++] = n->gpu_free[g];
        c = (struct place_choice){.node = i, .device_count = 1, .mig = -1, .milli = (int16_t)pod->gpu_milli};
        c.gpu[0] = (uint8_t)g;
        if (policy == PLACE_FIRSTFIT) {
            *ret = c;
            return best;
        }
        struct score s = score_state(cl, i, pod, &c, policy);
        if (!any || score_less(&s, &best)) {
            best = s;
            *ret = c;
            any = true;
        }
    }
    return best;
}

bool place_choose(struct place_cluster *cl, const struct place_pod *pod, enum place_policy policy,
                  struct place_choice *ret_choice)
{
    if (policy == PLACE_FIRSTFIT) {
        for (uint32_t i = 0; i < cl->count; i++)
            if (place_fits(cl, i, pod)) {
                best_on_node(cl, i, pod, policy, ret_choice);
                return true;
            }
        return false;
    }
    uint32_t limit = policy == PLACE_FGDPACK ? cl->candidate_limit : 0;
    if (policy == PLACE_FGDPACK) {
        models_refresh(cl);
        for (uint32_t m = 0; m < cl->model_count; m++)
            cl->scarce_cost[m] = model_ok(pod->model_mask, (uint8_t)m)
                                     ? cl->workload.weight_total * SCARCE_MILLI * model_pressure(cl, m) / PLACE_MILLI
                                     : 0;
    }
    uint32_t count = candidates(cl, pod, limit);
    bool found = false;
    struct score best = {{0, 0, 0}};
    uint32_t best_node = PLACE_NONE;
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i = cl->scratch[k];
        struct place_choice c;
        struct score s = best_on_node(cl, i, pod, policy, &c);
        if (!found || score_less(&s, &best) || (!score_less(&best, &s) && i < best_node)) {
            best = s;
            best_node = i;
            *ret_choice = c;
            found = true;
        }
    }
    return found;
}

static void apply(struct place_cluster *cl, const struct place_pod *pod, const struct place_choice *c, int sign)
{
    struct place_node *n = &cl->nodes[c->node];
    n->cpu_free -= sign * pod->cpu_milli;
    n->mem_free -= sign * pod->mem;
    for (uint32_t d = 0; d < c->device_count; d++) {
        uint32_t g = c->gpu[d];
        if (c->mig >= 0) {
            if (sign > 0)
                n->mig_used[g] |= (uint8_t)(1u << c->mig);
            else
                n->mig_used[g] &= (uint8_t)~(1u << c->mig);
        } else {
            n->gpu_free[g] = (int16_t)(n->gpu_free[g] - sign * c->milli);
            cl->gpu_milli_free -= sign * c->milli;
            cl->model_free[n->gpu_model[g]] -= sign * c->milli;
        }
    }
    index_remove(cl, c->node);
    node_derive(n);
    n->frag_gen = 0;
    index_insert(cl, c->node);
}

void place_commit(struct place_cluster *cl, const struct place_pod *pod, const struct place_choice *choice)
{
    apply(cl, pod, choice, +1);
}

void place_release(struct place_cluster *cl, const struct place_pod *pod, const struct place_choice *choice)
{
    apply(cl, pod, choice, -1);
}

bool place_gang(struct place_cluster *cl, const struct place_pod *pod, uint32_t replicas, enum place_policy policy,
                struct place_choice *ret_choices)
{
    for (uint32_t r = 0; r < replicas; r++) {
        if (!place_choose(cl, pod, policy, &ret_choices[r])) {
            while (r-- > 0)
                place_release(cl, pod, &ret_choices[r]);
            return false;
        }
        place_commit(cl, pod, &ret_choices[r]);
    }
    return true;
}

void place_cluster_reset(struct place_cluster *cl)
{
    for (uint32_t s = 0; s < SLOTS; s++) {
        for (uint32_t f = 0; f <= PLACE_GPUS_MAX; f++)
            for (uint32_t r = 0; r < PLACE_ROOM_LEVELS; r++)
                cl->idx_head[s][f][r] = PLACE_NONE;
        for (uint32_t q = 0; q < SHARE_BUCKETS; q++)
            for (uint32_t r = 0; r < PLACE_ROOM_LEVELS; r++)
                cl->pidx_head[s][q][r] = PLACE_NONE;
    }
    cl->gpu_milli_free = 0;
    for (uint32_t i = 0; i < cl->count; i++) {
        struct place_node *n = &cl->nodes[i];
        n->cpu_free = n->cpu_milli;
        n->mem_free = n->mem;
        for (uint32_t g = 0; g < n->gpu_count; g++) {
            n->gpu_free[g] = n->gpu_mig[g] ? 0 : PLACE_MILLI;
            n->mig_used[g] = 0;
        }
        node_derive(n);
        n->frag_gen = 0;
        n->idx_bucket = n->pidx_bucket = PLACE_NONE;
        index_insert(cl, i);
        cl->gpu_milli_free += node_gpu_free_total(n);
    }
    cl->model_stale = true;
}
