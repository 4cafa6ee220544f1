/* `gpuaas sim`: the placement core on virtual time, over public traces.
 *
 * Inflation replay (the protocol of the FGD paper on the Alibaba openb
 * trace): pods are drawn with replacement, uniformly, from the pod list in
 * an order given by a seeded generator, and placed one at a time until the
 * GPU they asked for in total reaches `inflate` x the cluster's GPU
 * capacity; pods never leave; a pod that fits nowhere is skipped. The GPU
 * allocation ratio and the fragmentation are recorded when the arrived
 * request first reaches 80, 90, ... 130 % of capacity. */
#ifndef GPUAAS_SIM_SIM_H
#define GPUAAS_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/place.h"

#define SIM_SEEDS_MAX 1000
#define SIM_CHECKPOINTS 6 /* 80 .. 130 % */

/* A trace loaded into a cluster: nodes, the pod list and its shapes as the
 * fragmentation workload. */
struct sim_trace {
    struct place_cluster cluster;
    struct place_pod *pods;
    size_t pod_count;
    int64_t gpus; /* plain GPUs in the cluster */
};

/* Loads the node and pod lists (openb columns, by header name). 0, or -1
 * with "PATH:LINE: what" in err. */
int sim_trace_load(struct sim_trace *tr, const char *nodes_path, const char *pods_path, char *err, size_t err_size);
void sim_trace_free(struct sim_trace *tr);

/* One replay. ret_alloc and ret_frag get, per checkpoint, the GPU
 * allocation ratio and the fragmentation in % of GPU capacity (NaN for a
 * checkpoint beyond `inflate`). */
void sim_inflate_run(struct sim_trace *tr, enum place_policy policy, double inflate, uint64_t seed,
                     double ret_alloc[SIM_CHECKPOINTS], double ret_frag[SIM_CHECKPOINTS]);

/* The verb: argv[0] is "sim". Returns the exit code (0, 2 on bad usage or input). */
int sim_main(int argc, char **argv);

#endif
