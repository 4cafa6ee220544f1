/* Command-line parsing for the client verbs: options may appear anywhere on
 * the line (like kubectl), positionals are collected in order, the first
 * positional is the verb. Pure: no I/O, no allocation; every string points
 * into argv. */
#ifndef GPUAAS_CLI_ARGS_H
#define GPUAAS_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_MAX_POSITIONALS 8

/* CLI_OUT_CSV is accepted by the parser; only `usage` prints it (the other
 * verbs refuse it). */
enum cli_output { CLI_OUT_TABLE, CLI_OUT_WIDE, CLI_OUT_JSON, CLI_OUT_YAML, CLI_OUT_CSV };

/* Options that only some verbs accept (bit set in cli_args.verb_opts when
 * given); the global ones are always accepted. */
enum cli_verb_opt {
    CLI_OPT_FILE = 1u << 0,    /* -f / --filename */
    CLI_OPT_FOLLOW = 1u << 1,  /* --follow, and -f after the verb `logs` */
    CLI_OPT_REPLICA = 1u << 2, /* --replica N */
    CLI_OPT_ATTEMPT = 1u << 3, /* --attempt A */
    CLI_OPT_JOB = 1u << 4,     /* --job NAME */
    CLI_OPT_QUOTA = 1u << 5,   /* a quota limit: --gpus, --gpus-MODEL, --mig-PROFILE, --gpu-milli,
                                * --cpu, --memory, --pods (each takes a value) */
    CLI_OPT_USER = 1u << 6,    /* --user NAME */
    CLI_OPT_GROUP = 1u << 7,   /* --group NAME */
    CLI_OPT_NAME = 1u << 8,    /* --name LABEL */
    CLI_OPT_EXPIRES = 1u << 9, /* --expires-in DURATION */
    CLI_OPT_SINCE = 1u << 10,  /* --since TIME */
    CLI_OPT_LIMIT = 1u << 11,  /* --limit N */
    CLI_OPT_MONTH = 1u << 12,  /* --month YYYY-MM */
    CLI_OPT_FROM = 1u << 13,   /* --from TIME */
    CLI_OPT_TO = 1u << 14,     /* --to TIME */
    CLI_OPT_BY = 1u << 15,     /* --by GROUP */
    CLI_OPT_FORMAT = 1u << 16, /* --format pdf|csv|json */
    CLI_OPT_OUT_FILE = 1u << 17, /* -O / --output-file FILE */
    CLI_OPT_STATE = 1u << 18,  /* --state S[,S...] */
    CLI_OPT_ALL_NAMESPACES = 1u << 19, /* -A / --all-namespaces */
    CLI_OPT_CHUNK_SIZE = 1u << 20, /* --chunk-size N */
};

/* At most this many quota limit flags on one line. */
#define CLI_MAX_QUOTA_FLAGS 32

/* One quota limit flag as given: name is what follows "--" ("gpus-A100"),
 * name_len its length (the argument may go on with "=VALUE"). */
struct cli_quota_flag {
    const char *name;
    size_t name_len;
    const char *value;
};

struct cli_args {
    const char *server;    /* --server, NULL if not given */
    const char *token;     /* --token */
    const char *ns;        /* -n / --namespace */
    const char *file;      /* -f / --filename ("-" is stdin) */
    enum cli_output output;
    bool output_set;
    bool help;             /* -h / --help */
    bool follow;           /* --follow, or -f after the verb `logs` */
    int replica;           /* --replica, -1 if not given */
    int attempt;           /* --attempt, -1 if not given */
    const char *job;       /* --job */
    const char *user;      /* --user */
    const char *group;     /* --group */
    const char *name;      /* --name (a token's label) */
    const char *expires_in; /* --expires-in */
    const char *since;     /* --since */
    int limit;             /* --limit, -1 if not given */
    const char *month;     /* --month */
    const char *from;      /* --from */
    const char *to;        /* --to */
    const char *by;        /* --by */
    const char *format;    /* --format */
    const char *out_file;  /* -O / --output-file */
    const char *state;     /* --state (job states, comma-separated) */
    bool all_namespaces;   /* -A / --all-namespaces */
    int chunk_size;        /* --chunk-size, -1 if not given */
    unsigned verb_opts;    /* enum cli_verb_opt bits seen */
    int nquota;            /* quota limit flags, in the order given */
    struct cli_quota_flag quota[CLI_MAX_QUOTA_FLAGS];
    int npos;
    const char *pos[CLI_MAX_POSITIONALS]; /* pos[0] is the verb */
};

/* Parse argv[1..argc-1]. Returns 0 and fills *ret, or GPUAAS_EINVAL with a
 * one-line reason in err (e.g. "unknown flag: --foo"). -f means --filename
 * (it takes a value), except after the verb `logs`, where it is --follow
 * as in kubectl. */
int cli_args_parse(int argc, char *const *argv, struct cli_args *ret, char *err, size_t err_size);

/* Whether --NAME (name_len bytes of name) is a quota limit flag: gpus,
 * gpu-milli, cpu, memory, pods, gpus-MODEL or mig-PROFILE. */
bool cli_is_quota_flag(const char *name, size_t name_len);

/* The flag that sets the lowest bit of `opts` (enum cli_verb_opt), for
 * "... is not an option of VERB" messages; "" when opts is 0. */
const char *cli_verb_opt_flag(unsigned opts);

/* The --since of `audit`: an RFC 3339 time ("2026-11-25T16:00:00Z",
 * fractional seconds and offsets allowed) or a duration back from now_ms
 * ("1h", "30m", "1h30m", "2d"). Sets *ret_ms to milliseconds since the epoch.
 * Returns 0 or GPUAAS_EINVAL. */
int cli_since_parse(const char *text, int64_t now_ms, int64_t *ret_ms);

/* "table" / "wide" / "json" / "yaml" / "csv" -> enum. Returns 0 or GPUAAS_EINVAL. */
int cli_output_parse(const char *text, enum cli_output *ret);

/* Resource kinds for get/describe/delete, with kubectl-like aliases. */
enum cli_resource {
    CLI_RES_NONE = 0,
    CLI_RES_JOB,
    CLI_RES_POD,
    CLI_RES_NODE,
    CLI_RES_GPU,
    CLI_RES_NAMESPACE,
    CLI_RES_SERVICE,
    CLI_RES_QUOTA,
    CLI_RES_TOKEN,
    CLI_RES_BINDING,
    CLI_RES_REPORT,
};

/* "jobs", "job", "ns", ... -> kind; CLI_RES_NONE when unknown. */
enum cli_resource cli_resource_lookup(const char *name);
/* Canonical singular name ("job", "namespace", ...). */
const char *cli_resource_name(enum cli_resource res);

#endif
