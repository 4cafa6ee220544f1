/* Support for the /metrics tests (test_metrics.c, test_promtool.c,
 * test_prometheus.c): scraping, a format check of the Prometheus text, and
 * sample lookup. Prefixed sm_ (linked into every integration binary). */
#ifndef GPUAAS_TESTS_SUPPORT_METRICS_H
#define GPUAAS_TESTS_SUPPORT_METRICS_H

#include <stdbool.h>

#include "harness.h"

/* GET /metrics with the handle's token; asserts 200. malloc'd text. */
char *sm_scrape(struct th_http *h);

/* Checks the text with cmocka asserts: every family has HELP then TYPE and
 * its samples right after them (never split), counters end in _total,
 * every sample is `name{label="value",...} number`, histograms have only
 * _bucket/_sum/_count samples, and no two samples share name and labels.
 * Returns the number of families; *ret_empty (if not NULL) gets the number
 * of families without samples, and empty_names their names (space-separated). */
int sm_check_format(const char *text, int *ret_empty, char *empty_names, size_t empty_size);

/* The value of the first sample whose line starts with prefix. */
double sm_sample(const char *text, const char *prefix, bool *found);
/* The sum of every sample whose line starts with prefix (and how many). */
double sm_sum(const char *text, const char *prefix, int *ret_count);

/* A job spec as JSON text (malloc'd). gpus > 0: whole GPUs; mig: a slice;
 * selector_none: a selector no node matches (it waits); restart_limit > 0:
 * OnFailure with that limit. */
char *sm_job(const char *name, const char *ns, int gpus, const char *mig, bool selector_none, int restart_limit,
             const char *shell_command);

/* True when an executable `name` is in PATH (its path into out). */
bool sm_find_program(const char *name, char *out, size_t out_size);

/* A server config with the local node's GPUs from the fake NVML (default
 * description: 4 A10G, the last split into MIG slices) and a spot node of
 * simulated T4s; label_style: "dcgm" or "snake_case". malloc'd. */
char *sm_config(const char *label_style);

/* After the server stopped (it leaves pods running, to adopt them on the
 * next start): kills its pod shims (DATA/pods/) and the jobs of these
 * namespaces (GPUAAS_NAMESPACE=...). namespaces ends with NULL. */
void sm_kill_leftovers(const struct th_server *s, const char *const *namespaces);

/* Starts a server on sm_config(label_style) (NULL: the embedded defaults),
 * points http at it and makes it the one whose log failures print. 0 or -1. */
int sm_server_start(struct th_server *s, struct th_http *http, const char *name, const char *label_style);
/* Stops it (0 when it exited cleanly, else -1), kills what it left of these
 * namespaces' pods (NULL-terminated) and frees it. */
int sm_server_stop(struct th_server *s, struct th_http *http, const char *const *namespaces);

#endif
