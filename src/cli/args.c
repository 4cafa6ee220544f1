#include "cli/args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/output.h"
#include "gpuaas/error.h"
#include "lib/quantity.h"

enum opt_id {
    OPT_SERVER,
    OPT_TOKEN,
    OPT_NAMESPACE,
    OPT_OUTPUT,
    OPT_FILE,
    OPT_HELP,
    OPT_FOLLOW,
    OPT_REPLICA,
    OPT_ATTEMPT,
    OPT_JOB,
    OPT_USER,
    OPT_GROUP,
    OPT_NAME,
    OPT_EXPIRES,
    OPT_SINCE,
    OPT_LIMIT,
    OPT_MONTH,
    OPT_FROM,
    OPT_TO,
    OPT_BY,
    OPT_FORMAT,
    OPT_OUT_FILE,
    OPT_STATE,
    OPT_ALL_NAMESPACES,
    OPT_CHUNK_SIZE,
};

struct opt_def {
    const char *long_name;
    char short_name; /* 0: long form only */
    bool takes_value;
    enum opt_id id;
};

static const struct opt_def opt_table[] = {
    {"server", 0, true, OPT_SERVER},
    {"token", 0, true, OPT_TOKEN},
    {"namespace", 'n', true, OPT_NAMESPACE},
    {"output", 'o', true, OPT_OUTPUT},
    {"filename", 'f', true, OPT_FILE},
    {"file", 0, true, OPT_FILE},
    {"help", 'h', false, OPT_HELP},
    {"follow", 0, false, OPT_FOLLOW},
    {"replica", 0, true, OPT_REPLICA},
    {"attempt", 0, true, OPT_ATTEMPT},
    {"job", 0, true, OPT_JOB},
    {"user", 0, true, OPT_USER},
    {"group", 0, true, OPT_GROUP},
    {"name", 0, true, OPT_NAME},
    {"expires-in", 0, true, OPT_EXPIRES},
    {"since", 0, true, OPT_SINCE},
    {"limit", 0, true, OPT_LIMIT},
    {"month", 0, true, OPT_MONTH},
    {"from", 0, true, OPT_FROM},
    {"to", 0, true, OPT_TO},
    {"by", 0, true, OPT_BY},
    {"format", 0, true, OPT_FORMAT},
    {"output-file", 'O', true, OPT_OUT_FILE},
    {"state", 0, true, OPT_STATE},
    {"all-namespaces", 'A', false, OPT_ALL_NAMESPACES},
    {"chunk-size", 0, true, OPT_CHUNK_SIZE},
};

/* -f after the verb `logs`: --follow, as in kubectl */
static const struct opt_def follow_short = {"follow", 'f', false, OPT_FOLLOW};

#define OPT_COUNT (sizeof opt_table / sizeof opt_table[0])

static const struct opt_def *opt_by_long(const char *name, size_t len)
{
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (strlen(opt_table[i].long_name) == len && strncmp(opt_table[i].long_name, name, len) == 0)
            return &opt_table[i];
    return NULL;
}

static const struct opt_def *opt_by_short(char c)
{
    for (size_t i = 0; i < OPT_COUNT; i++)
        if (opt_table[i].short_name == c)
            return &opt_table[i];
    return NULL;
}

int cli_output_parse(const char *text, enum cli_output *ret)
{
    static const struct {
        const char *name;
        enum cli_output out;
    } outputs[] = {
        {"table", CLI_OUT_TABLE},
        {"wide", CLI_OUT_WIDE},
        {"json", CLI_OUT_JSON},
        {"yaml", CLI_OUT_YAML},
        {"csv", CLI_OUT_CSV},
    };
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        if (strcmp(text, outputs[i].name) == 0) {
            *ret = outputs[i].out;
            return 0;
        }
    return GPUAAS_EINVAL;
}

const char *cli_verb_opt_flag(unsigned opts)
{
    if (opts & CLI_OPT_FILE)
        return "-f/--filename";
    if (opts & CLI_OPT_FOLLOW)
        return "-f/--follow";
    if (opts & CLI_OPT_REPLICA)
        return "--replica";
    if (opts & CLI_OPT_ATTEMPT)
        return "--attempt";
    if (opts & CLI_OPT_JOB)
        return "--job";
    if (opts & CLI_OPT_QUOTA)
        return "--gpus/--cpu/--memory/--pods (quota limits)";
    if (opts & CLI_OPT_USER)
        return "--user";
    if (opts & CLI_OPT_GROUP)
        return "--group";
    if (opts & CLI_OPT_NAME)
        return "--name";
    if (opts & CLI_OPT_EXPIRES)
        return "--expires-in";
    if (opts & CLI_OPT_SINCE)
        return "--since";
    if (opts & CLI_OPT_LIMIT)
        return "--limit";
    if (opts & CLI_OPT_MONTH)
        return "--month";
    if (opts & CLI_OPT_FROM)
        return "--from";
    if (opts & CLI_OPT_TO)
        return "--to";
    if (opts & CLI_OPT_BY)
        return "--by";
    if (opts & CLI_OPT_FORMAT)
        return "--format";
    if (opts & CLI_OPT_OUT_FILE)
        return "-O/--output-file";
    if (opts & CLI_OPT_STATE)
        return "--state";
    if (opts & CLI_OPT_ALL_NAMESPACES)
        return "-A/--all-namespaces";
    if (opts & CLI_OPT_CHUNK_SIZE)
        return "--chunk-size";
    return "";
}

/* A replica or attempt number: decimal digits only, at most INT_MAX. */
static int parse_count(const char *text, int *ret)
{
    char *end;
    long v;

    if (text[0] < '0' || text[0] > '9')
        return GPUAAS_EINVAL;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || *end != '\0' || v > INT_MAX)
        return GPUAAS_EINVAL;
    *ret = (int)v;
    return 0;
}

static int apply_opt(const struct opt_def *opt, const char *shown, const char *value, struct cli_args *a,
                     char *err, size_t err_size)
{
    if (opt->takes_value && value[0] == '\0') {
        snprintf(err, err_size, "flag %s needs a non-empty value", shown);
        return GPUAAS_EINVAL;
    }
    switch (opt->id) {
    case OPT_SERVER:
        a->server = value;
        break;
    case OPT_TOKEN:
        a->token = value;
        break;
    case OPT_NAMESPACE:
        a->ns = value;
        break;
    case OPT_OUTPUT:
        if (cli_output_parse(value, &a->output) < 0) {
            snprintf(err, err_size, "unknown output format \"%s\" (use table, wide, json, yaml or csv)", value);
            return GPUAAS_EINVAL;
        }
        a->output_set = true;
        break;
    case OPT_FILE:
        a->file = value;
        a->verb_opts |= CLI_OPT_FILE;
        break;
    case OPT_HELP:
        a->help = true;
        break;
    case OPT_FOLLOW:
        a->follow = true;
        a->verb_opts |= CLI_OPT_FOLLOW;
        break;
    case OPT_REPLICA:
    case OPT_ATTEMPT:
        if (parse_count(value, opt->id == OPT_REPLICA ? &a->replica : &a->attempt) < 0) {
            snprintf(err, err_size, "flag --%s needs a non-negative integer, not \"%s\"", opt->long_name, value);
            return GPUAAS_EINVAL;
        }
        a->verb_opts |= opt->id == OPT_REPLICA ? CLI_OPT_REPLICA : CLI_OPT_ATTEMPT;
        break;
    case OPT_JOB:
        a->job = value;
        a->verb_opts |= CLI_OPT_JOB;
        break;
    case OPT_USER:
        a->user = value;
        a->verb_opts |= CLI_OPT_USER;
        break;
    case OPT_GROUP:
        a->group = value;
        a->verb_opts |= CLI_OPT_GROUP;
        break;
    case OPT_NAME:
        a->name = value;
        a->verb_opts |= CLI_OPT_NAME;
        break;
    case OPT_EXPIRES:
        a->expires_in = value;
        a->verb_opts |= CLI_OPT_EXPIRES;
        break;
    case OPT_SINCE:
        a->since = value;
        a->verb_opts |= CLI_OPT_SINCE;
        break;
    case OPT_LIMIT:
        if (parse_count(value, &a->limit) < 0 || a->limit == 0) {
            snprintf(err, err_size, "flag --limit needs a positive integer, not \"%s\"", value);
            return GPUAAS_EINVAL;
        }
        a->verb_opts |= CLI_OPT_LIMIT;
        break;
    case OPT_MONTH:
        a->month = value;
        a->verb_opts |= CLI_OPT_MONTH;
        break;
    case OPT_FROM:
        a->from = value;
        a->verb_opts |= CLI_OPT_FROM;
        break;
    case OPT_TO:
        a->to = value;
        a->verb_opts |= CLI_OPT_TO;
        break;
    case OPT_BY:
        a->by = value;
        a->verb_opts |= CLI_OPT_BY;
        break;
    case OPT_FORMAT:
        a->format = value;
        a->verb_opts |= CLI_OPT_FORMAT;
        break;
    case OPT_OUT_FILE:
        a->out_file = value;
        a->verb_opts |= CLI_OPT_OUT_FILE;
        break;
    case OPT_STATE:
        a->state = value;
        a->verb_opts |= CLI_OPT_STATE;
        break;
    case OPT_ALL_NAMESPACES:
        a->all_namespaces = true;
        a->verb_opts |= CLI_OPT_ALL_NAMESPACES;
        break;
    case OPT_CHUNK_SIZE:
        if (parse_count(value, &a->chunk_size) < 0 || a->chunk_size == 0) {
            snprintf(err, err_size, "flag --chunk-size needs a positive integer, not \"%s\"", value);
            return GPUAAS_EINVAL;
        }
        a->verb_opts |= CLI_OPT_CHUNK_SIZE;
        break;
    }
    return 0;
}

bool cli_is_quota_flag(const char *name, size_t len)
{
    static const char *const plain[] = {"gpus", "gpu-milli", "cpu", "memory", "pods", "weight"};
    static const char *const prefixed[] = {"gpus-", "mig-"};

    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strlen(plain[i]) == len && strncmp(plain[i], name, len) == 0)
            return true;
    for (size_t i = 0; i < sizeof prefixed / sizeof prefixed[0]; i++) {
        size_t plen = strlen(prefixed[i]);
        if (len > plen && strncmp(prefixed[i], name, plen) == 0)
            return true;
    }
    return false;
}

/* --gpus 8, --gpus-A100=4, ...: kept as given; the verb checks the values. */
static int parse_quota_flag(int argc, char *const *argv, int *i, const char *name, size_t len, const char *eq,
                            struct cli_args *a, char *err, size_t err_size)
{
    const char *value = eq ? eq + 1 : NULL;

    if (!value) {
        if (*i + 1 >= argc) {
            snprintf(err, err_size, "flag needs an argument: --%.*s", (int)len, name);
            return GPUAAS_EINVAL;
        }
        value = argv[++*i];
    }
    if (value[0] == '\0') {
        snprintf(err, err_size, "flag --%.*s needs a non-empty value", (int)len, name);
        return GPUAAS_EINVAL;
    }
    if (a->nquota >= CLI_MAX_QUOTA_FLAGS) {
        snprintf(err, err_size, "too many quota limits (at most %d)", CLI_MAX_QUOTA_FLAGS);
        return GPUAAS_EINVAL;
    }
    a->quota[a->nquota++] = (struct cli_quota_flag){.name = name, .name_len = len, .value = value};
    a->verb_opts |= CLI_OPT_QUOTA;
    return 0;
}

/* One argument that starts with '-' (and is not "-" or "--"). *i is advanced
 * past a separate value argument when one is consumed. */
static int parse_option(int argc, char *const *argv, int *i, struct cli_args *a, char *err, size_t err_size)
{
    const char *arg = argv[*i];
    const struct opt_def *opt;
    const char *value = NULL;

    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        opt = opt_by_long(name, len);
        if (!opt && cli_is_quota_flag(name, len))
            return parse_quota_flag(argc, argv, i, name, len, eq, a, err, err_size);
        if (!opt) {
            snprintf(err, err_size, "unknown flag: --%.*s", (int)len, name);
            return GPUAAS_EINVAL;
        }
        if (eq) {
            if (!opt->takes_value) {
                snprintf(err, err_size, "flag --%s takes no value", opt->long_name);
                return GPUAAS_EINVAL;
            }
            value = eq + 1;
        }
    } else {
        opt = opt_by_short(arg[1]);
        if (opt && opt->id == OPT_FILE && a->npos > 0 && strcmp(a->pos[0], "logs") == 0)
            opt = &follow_short;
        if (!opt) {
            snprintf(err, err_size, "unknown shorthand flag: '%c' in %s", arg[1], arg);
            return GPUAAS_EINVAL;
        }
        if (arg[2] != '\0') {
            if (!opt->takes_value) {
                snprintf(err, err_size, "unknown shorthand flag: '%c' in %s", arg[2], arg);
                return GPUAAS_EINVAL;
            }
            /* -ojson and -o=json both mean -o json, as in kubectl */
            value = arg[2] == '=' ? arg + 3 : arg + 2;
        }
    }

    if (opt->takes_value && !value) {
        if (*i + 1 >= argc) {
            snprintf(err, err_size, "flag needs an argument: %s", arg);
            return GPUAAS_EINVAL;
        }
        value = argv[++*i];
    }
    return apply_opt(opt, arg, value ? value : "", a, err, err_size);
}

int cli_args_parse(int argc, char *const *argv, struct cli_args *ret, char *err, size_t err_size)
{
    struct cli_args a = {.output = CLI_OUT_TABLE, .replica = -1, .attempt = -1, .limit = -1,
                         .chunk_size = -1};
    bool only_positionals = false;
    int r;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positionals && strcmp(arg, "--") == 0) {
            only_positionals = true;
            continue;
        }
        if (!only_positionals && arg[0] == '-' && arg[1] != '\0') {
            r = parse_option(argc, argv, &i, &a, err, err_size);
            if (r < 0)
                return r;
            continue;
        }
        if (a.npos >= CLI_MAX_POSITIONALS) {
            snprintf(err, err_size, "too many arguments (at most %d)", CLI_MAX_POSITIONALS);
            return GPUAAS_EINVAL;
        }
        a.pos[a.npos++] = arg;
    }
    *ret = a;
    return 0;
}

static const struct {
    const char *alias;
    enum cli_resource res;
} resource_aliases[] = {
    {"job", CLI_RES_JOB},          {"jobs", CLI_RES_JOB},
    {"pod", CLI_RES_POD},          {"pods", CLI_RES_POD},
    {"po", CLI_RES_POD},           {"node", CLI_RES_NODE},
    {"nodes", CLI_RES_NODE},       {"no", CLI_RES_NODE},
    {"gpu", CLI_RES_GPU},          {"gpus", CLI_RES_GPU},
    {"namespace", CLI_RES_NAMESPACE}, {"namespaces", CLI_RES_NAMESPACE},
    {"ns", CLI_RES_NAMESPACE},     {"service", CLI_RES_SERVICE},
    {"services", CLI_RES_SERVICE}, {"svc", CLI_RES_SERVICE},
    {"quota", CLI_RES_QUOTA},      {"quotas", CLI_RES_QUOTA},
    {"token", CLI_RES_TOKEN},      {"tokens", CLI_RES_TOKEN},
    {"binding", CLI_RES_BINDING},  {"bindings", CLI_RES_BINDING},
    {"rolebinding", CLI_RES_BINDING}, {"rolebindings", CLI_RES_BINDING},
    {"report", CLI_RES_REPORT},    {"reports", CLI_RES_REPORT},
};

enum cli_resource cli_resource_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof resource_aliases / sizeof resource_aliases[0]; i++)
        if (strcmp(resource_aliases[i].alias, name) == 0)
            return resource_aliases[i].res;
    return CLI_RES_NONE;
}

const char *cli_resource_name(enum cli_resource res)
{
    switch (res) {
    case CLI_RES_JOB:
        return "job";
    case CLI_RES_POD:
        return "pod";
    case CLI_RES_NODE:
        return "node";
    case CLI_RES_GPU:
        return "gpu";
    case CLI_RES_NAMESPACE:
        return "namespace";
    case CLI_RES_SERVICE:
        return "service";
    case CLI_RES_QUOTA:
        return "quota";
    case CLI_RES_TOKEN:
        return "token";
    case CLI_RES_BINDING:
        return "binding";
    case CLI_RES_REPORT:
        return "report";
    case CLI_RES_NONE:
        break;
    }
    return "resource";
}

int cli_since_parse(const char *text, int64_t now_ms, int64_t *ret_ms)
{
    int64_t s, ms = 0;

    if (!text || !*text)
        return GPUAAS_EINVAL;
    if (quantity_parse_duration_ms(text, &ms) == 0) {
        *ret_ms = now_ms > ms ? now_ms - ms : 0;
        return 0;
    }
    if (rfc3339_parse(text, &s) < 0 || s < 0 || s > INT64_MAX / 1000 - 1)
        return GPUAAS_EINVAL;
    /* keep the milliseconds of a fractional second: "...:00.250Z" */
    const char *dot = strchr(text, '.');
    if (dot) {
        int scale = 100;
        for (const char *p = dot + 1; *p >= '0' && *p <= '9' && scale > 0; p++, scale /= 10)
            ms += (*p - '0') * scale;
    }
    *ret_ms = s * 1000 + ms;
    return 0;
}
