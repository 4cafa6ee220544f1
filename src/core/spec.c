#include "core/spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gpuaas/error.h"
#include "lib/quantity.h"

static int spec_fail(struct spec_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int spec_fail(struct spec_error *err, int code, const char *field, const char *fmt, ...)
{
    snprintf(err->field, sizeof err->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

static int expect_type(const json_t *v, json_type type, const char *field, struct spec_error *err)
{
    static const char *const wanted[] = {
        [JSON_OBJECT] = "an object", [JSON_ARRAY] = "a list", [JSON_STRING] = "a string",
        [JSON_INTEGER] = "an integer",
    };
    if (json_typeof(v) == type)
        return 0;
    return spec_fail(err, GPUAAS_EINVAL, field, "expected %s, got %s", wanted[type], json_type_name(v));
}

/* Reads an integer field within [min, max]. */
static int get_int(const json_t *v, const char *field, int64_t min, int64_t max, int64_t *ret,
                   struct spec_error *err)
{
    int r = expect_type(v, JSON_INTEGER, field, err);
    if (r < 0)
        return r;
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return spec_fail(err, GPUAAS_EINVAL, field, "must be between %lld and %lld, got %lld",
                         (long long)min, (long long)max, (long long)n);
    *ret = n;
    return 0;
}

static int get_string(const json_t *v, const char *field, size_t max_len, const char **ret,
                      struct spec_error *err)
{
    int r = expect_type(v, JSON_STRING, field, err);
    if (r < 0)
        return r;
    if (json_string_length(v) > max_len)
        return spec_fail(err, GPUAAS_ETOOBIG, field, "must be at most %zu bytes", max_len);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return spec_fail(err, GPUAAS_EINVAL, field, "must not contain NUL characters");
    *ret = json_string_value(v);
    return 0;
}

/* The fields an object may have; anything else is refused by name. */
static int check_known_fields(const json_t *obj, const char *prefix, const char *const *known,
                              struct spec_error *err)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        (void)value;
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, key) == 0)
                ok = true;
        if (!ok) {
            char field[128];
            snprintf(field, sizeof field, "%s%s%.64s", prefix, *prefix ? "." : "", key);
            return spec_fail(err, GPUAAS_EINVAL, field, "unknown field");
        }
    }
    return 0;
}

/* MIG profiles look like "1g.10gb", "3g.40gb", "1g.10gb+me". */
static bool mig_profile_valid(const char *s)
{
    const char *p = s;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 2)
        p++, digits++;
    if (!digits || *p++ != 'g' || *p++ != '.')
        return false;
    digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4)
        p++, digits++;
    if (!digits || strncmp(p, "gb", 2) != 0)
        return false;
    p += 2;
    return *p == '\0' || strcmp(p, "+me") == 0;
}

static int parse_resources(const json_t *res, struct job_resources *out, struct spec_error *err)
{
    static const char *const known[] = {"gpus", "mig", "gpu_milli", "cpu", "memory", NULL};
    int r = expect_type(res, JSON_OBJECT, "resources", err);
    if (r < 0 || (r = check_known_fields(res, "resources", known, err)) < 0)
        return r;
    int64_t n;
    int gpu_forms = 0;
    json_t *v;
    if ((v = json_object_get(res, "gpus"))) {
        if ((r = get_int(v, "resources.gpus", 0, SPEC_GPUS_MAX, &n, err)) < 0)
            return r;
        out->gpus = (int32_t)n;
        gpu_forms += n > 0;
    }
    if ((v = json_object_get(res, "mig"))) {
        const char *profile;
        if ((r = get_string(v, "resources.mig", SPEC_MIG_PROFILE_MAX, &profile, err)) < 0)
            return r;
        if (!mig_profile_valid(profile))
            return spec_fail(err, GPUAAS_EINVAL, "resources.mig",
                             "'%s' is not a MIG profile (expected e.g. 1g.10gb)", profile);
        snprintf(out->mig_profile, sizeof out->mig_profile, "%s", profile);
        gpu_forms++;
    }
    if ((v = json_object_get(res, "gpu_milli"))) {
        if ((r = get_int(v, "resources.gpu_milli", 1, 999, &n, err)) < 0)
            return r;
        out->gpu_milli = (int32_t)n;
        gpu_forms++;
    }
    if (gpu_forms > 1)
        return spec_fail(err, GPUAAS_EINVAL, "resources",
                         "choose one GPU form: gpus, mig or gpu_milli");
    if ((v = json_object_get(res, "cpu"))) {
        char text[64];
        if (json_is_integer(v)) {
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        } else if (json_is_real(v)) {
            /* 2.5 is fine, 2.0005 is not: refuse what would be rounded. The
             * range check comes first, so the conversion is always defined. */
            double cores = json_real_value(v);
            if (!(cores >= 0 && cores <= QUANTITY_CPU_MILLI_MAX / 1000))
                return spec_fail(err, GPUAAS_EINVAL, "resources.cpu", "must be between 0 and %lld cores",
                                 (long long)(QUANTITY_CPU_MILLI_MAX / 1000));
            double scaled = cores * 1000.0;
            long long milli = (long long)(scaled + 0.5);
            double off = scaled - (double)milli;
            if (off > 1e-6 || off < -1e-6)
                return spec_fail(err, GPUAAS_EINVAL, "resources.cpu",
                                 "at most three decimals (use milli-cores like \"500m\")");
            snprintf(text, sizeof text, "%lldm", milli);
        } else if (json_is_string(v)) {
            snprintf(text, sizeof text, "%.63s", json_string_value(v));
        } else {
            return spec_fail(err, GPUAAS_EINVAL, "resources.cpu",
                             "expected a number or a string like \"500m\", got %s", json_type_name(v));
        }
        if (quantity_parse_cpu_milli(text, &out->cpu_milli) < 0)
            return spec_fail(err, GPUAAS_EINVAL, "resources.cpu",
                             "'%s' is not a CPU quantity (e.g. 8, 0.5, \"500m\"; at most 1024)", text);
    }
    if ((v = json_object_get(res, "memory"))) {
        char text[64];
        if (json_is_integer(v))
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
        else if (json_is_string(v))
            snprintf(text, sizeof text, "%.63s", json_string_value(v));
        else
            return spec_fail(err, GPUAAS_EINVAL, "resources.memory",
                             "expected a string like \"32Gi\", got %s", json_type_name(v));
        if (quantity_parse_memory_bytes(text, &out->memory_bytes) < 0)
            return spec_fail(err, GPUAAS_EINVAL, "resources.memory",
                             "'%s' is not a memory quantity (e.g. 512Mi, 32Gi)", text);
    }
    return 0;
}

/* selector: label key -> label value */
static int parse_selector(const json_t *sel, struct spec_error *err)
{
    int r = expect_type(sel, JSON_OBJECT, "selector", err);
    if (r < 0)
        return r;
    if (json_object_size(sel) > SPEC_MAP_ENTRIES_MAX)
        return spec_fail(err, GPUAAS_ETOOBIG, "selector", "at most %d entries", SPEC_MAP_ENTRIES_MAX);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)sel, key, value) {
        char field[128];
        snprintf(field, sizeof field, "selector.%.100s", key);
        const char *why, *text;
        if (names_check_label_key(key, &why) < 0)
            return spec_fail(err, GPUAAS_EINVAL, field, "%s", why);
        if ((r = get_string(value, field, LABEL_VALUE_MAX, &text, err)) < 0)
            return r;
        if (names_check_label_value(text, &why) < 0)
            return spec_fail(err, GPUAAS_EINVAL, field, "%s", why);
    }
    return 0;
}

static bool env_name_valid(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static int parse_env(const json_t *env, struct spec_error *err)
{
    int r = expect_type(env, JSON_OBJECT, "env", err);
    if (r < 0)
        return r;
    if (json_object_size(env) > SPEC_MAP_ENTRIES_MAX)
        return spec_fail(err, GPUAAS_ETOOBIG, "env", "at most %d entries", SPEC_MAP_ENTRIES_MAX);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)env, key, value) {
        char field[128];
        snprintf(field, sizeof field, "env.%.100s", key);
        if (strlen(key) > 253 || !env_name_valid(key))
            return spec_fail(err, GPUAAS_EINVAL, field,
                             "environment variable names are [A-Za-z_][A-Za-z0-9_]*, at most 253 bytes");
        if (strncmp(key, "GPUAAS_", 7) == 0 || strcmp(key, "CUDA_VISIBLE_DEVICES") == 0 ||
            strcmp(key, "NVIDIA_VISIBLE_DEVICES") == 0)
            return spec_fail(err, GPUAAS_EINVAL, field, "is set by gpuaas and cannot be overridden");
        const char *text;
        if ((r = get_string(value, field, SPEC_STRING_MAX, &text, err)) < 0)
            return r;
    }
    return 0;
}

static int parse_command(const json_t *cmd, struct spec_error *err)
{
    int r = expect_type(cmd, JSON_ARRAY, "command", err);
    if (r < 0)
        return r;
    size_t n = json_array_size(cmd);
    if (n == 0)
        return spec_fail(err, GPUAAS_EINVAL, "command", "must have at least one element");
    if (n > SPEC_COMMAND_ARGS_MAX)
        return spec_fail(err, GPUAAS_ETOOBIG, "command", "at most %d elements", SPEC_COMMAND_ARGS_MAX);
    for (size_t i = 0; i < n; i++) {
        char field[32];
        snprintf(field, sizeof field, "command[%zu]", i);
        const char *text;
        if ((r = get_string(json_array_get(cmd, i), field, SPEC_STRING_MAX, &text, err)) < 0)
            return r;
    }
    if (json_string_length(json_array_get(cmd, 0)) == 0)
        return spec_fail(err, GPUAAS_EINVAL, "command[0]", "the program must not be empty");
    return 0;
}

static int parse_restart(const json_t *restart, struct job_spec *spec, struct spec_error *err)
{
    static const char *const known[] = {"policy", "limit", NULL};
    int r = expect_type(restart, JSON_OBJECT, "restart", err);
    if (r < 0 || (r = check_known_fields(restart, "restart", known, err)) < 0)
        return r;
    json_t *v;
    if ((v = json_object_get(restart, "policy"))) {
        const char *policy;
        if ((r = get_string(v, "restart.policy", 32, &policy, err)) < 0)
            return r;
        if (strcmp(policy, "Never") == 0)
            spec->restart_policy = RESTART_NEVER;
        else if (strcmp(policy, "OnFailure") == 0)
            spec->restart_policy = RESTART_ON_FAILURE;
        else
            return spec_fail(err, GPUAAS_EINVAL, "restart.policy",
                             "must be Never or OnFailure, got '%s'", policy);
    }
    if ((v = json_object_get(restart, "limit"))) {
        int64_t n;
        if ((r = get_int(v, "restart.limit", 0, SPEC_RESTART_LIMIT_MAX, &n, err)) < 0)
            return r;
        spec->restart_limit = (int32_t)n;
    } else if (spec->restart_policy == RESTART_ON_FAILURE) {
        spec->restart_limit = 3;
    }
    return 0;
}

static int set_default(json_t *doc, const char *key, json_t *value)
{
    if (!value)
        return GPUAAS_ENOMEM;
    if (json_object_get(doc, key)) {
        json_decref(value);
        return 0;
    }
    return json_object_set_new(doc, key, value) == 0 ? 0 : GPUAAS_ENOMEM;
}

int spec_parse_job(const json_t *input, const char *default_namespace, struct job_spec *ret_spec,
                   struct spec_error *err)
{
    static const char *const known[] = {"kind",    "name",     "namespace", "priority",
                                        "replicas", "resources", "selector", "command",
                                        "env",     "workdir",  "max_runtime", "restart", NULL};
    struct job_spec spec = {.priority = PRIORITY_NORMAL, .replicas = 1};
    json_t *doc = NULL;
    json_t *v;
    int r;
    memset(err, 0, sizeof *err);

    if (!json_is_object(input)) {
        r = spec_fail(err, GPUAAS_EINVAL, "", "a job spec must be an object, got %s",
                      json_type_name(input));
        goto out;
    }
    if ((r = check_known_fields(input, "", known, err)) < 0)
        goto out;

    if ((v = json_object_get(input, "kind"))) {
        const char *kind;
        if ((r = get_string(v, "kind", 32, &kind, err)) < 0)
            goto out;
        if (strcmp(kind, "Job") != 0) {
            r = spec_fail(err, GPUAAS_EINVAL, "kind", "must be Job, got '%s'", kind);
            goto out;
        }
    }

    const char *text, *why;
    if (!(v = json_object_get(input, "name"))) {
        r = spec_fail(err, GPUAAS_EINVAL, "name", "is required");
        goto out;
    }
    if ((r = get_string(v, "name", 256, &text, err)) < 0)
        goto out;
    if (names_check_label(text, &why) < 0) {
        r = spec_fail(err, GPUAAS_EINVAL, "name", "'%.64s' %s", text, why);
        goto out;
    }
    snprintf(spec.name, sizeof spec.name, "%s", text);

    if ((v = json_object_get(input, "namespace"))) {
        if ((r = get_string(v, "namespace", 256, &text, err)) < 0)
            goto out;
        if (default_namespace && strcmp(default_namespace, text) != 0) {
            r = spec_fail(err, GPUAAS_EINVAL, "namespace",
                          "spec says '%.192s' but the request names '%.192s'", text, default_namespace);
            goto out;
        }
    } else if (default_namespace) {
        text = default_namespace;
    } else {
        r = spec_fail(err, GPUAAS_EINVAL, "namespace", "is required (in the spec or as -n/?namespace=)");
        goto out;
    }
    if (names_check_namespace(text, NULL, &why) < 0) {
        r = spec_fail(err, GPUAAS_EINVAL, "namespace", "'%.192s' %s", text, why);
        goto out;
    }
    snprintf(spec.namespace_path, sizeof spec.namespace_path, "%s", text);

    if ((v = json_object_get(input, "priority"))) {
        if ((r = get_string(v, "priority", 16, &text, err)) < 0)
            goto out;
        if (strcmp(text, "low") == 0)
            spec.priority = PRIORITY_LOW;
        else if (strcmp(text, "normal") == 0)
            spec.priority = PRIORITY_NORMAL;
        else if (strcmp(text, "high") == 0)
            spec.priority = PRIORITY_HIGH;
        else {
            r = spec_fail(err, GPUAAS_EINVAL, "priority", "must be low, normal or high, got '%s'", text);
            goto out;
        }
    }
    if ((v = json_object_get(input, "replicas"))) {
        int64_t n;
        if ((r = get_int(v, "replicas", 1, SPEC_REPLICAS_MAX, &n, err)) < 0)
            goto out;
        spec.replicas = (int32_t)n;
    }
    if ((v = json_object_get(input, "resources")) && (r = parse_resources(v, &spec.resources, err)) < 0)
        goto out;
    if ((v = json_object_get(input, "selector")) && (r = parse_selector(v, err)) < 0)
        goto out;
    if (!(v = json_object_get(input, "command"))) {
        r = spec_fail(err, GPUAAS_EINVAL, "command", "is required (a list: [program, args...])");
        goto out;
    }
    if ((r = parse_command(v, err)) < 0)
        goto out;
    if ((v = json_object_get(input, "env")) && (r = parse_env(v, err)) < 0)
        goto out;
    if ((v = json_object_get(input, "workdir"))) {
        if ((r = get_string(v, "workdir", SPEC_STRING_MAX, &text, err)) < 0)
            goto out;
        if (text[0] != '/') {
            r = spec_fail(err, GPUAAS_EINVAL, "workdir", "must be an absolute path");
            goto out;
        }
    }
    if ((v = json_object_get(input, "max_runtime"))) {
        if ((r = get_string(v, "max_runtime", 32, &text, err)) < 0)
            goto out;
        if (quantity_parse_duration_ms(text, &spec.max_runtime_ms) < 0) {
            r = spec_fail(err, GPUAAS_EINVAL, "max_runtime",
                          "'%s' is not a duration (e.g. 90s, 15m, 4h, 2d; at most a year)", text);
            goto out;
        }
    }
    if ((v = json_object_get(input, "restart")) && (r = parse_restart(v, &spec, err)) < 0)
        goto out;

    /* canonical document: the input as given, defaults added. The spec
     * takes the input itself (no copy): callers hand over a fresh tree. */
    doc = json_incref((json_t *)input);
    if (!doc) {
        r = spec_fail(err, GPUAAS_ENOMEM, "", "out of memory");
        goto out;
    }
    const char *policy_name = spec.restart_policy == RESTART_ON_FAILURE ? "OnFailure" : "Never";
    if ((r = set_default(doc, "kind", json_string("Job"))) < 0 ||
        (r = set_default(doc, "namespace", json_string(spec.namespace_path))) < 0 ||
        (r = set_default(doc, "priority", json_string(spec_priority_name(spec.priority)))) < 0 ||
        (r = set_default(doc, "replicas", json_integer(spec.replicas))) < 0 ||
        (r = set_default(doc, "resources", json_object())) < 0 ||
        (r = set_default(doc, "restart", json_object())) < 0 ||
        (r = set_default(json_object_get(doc, "restart"), "policy", json_string(policy_name))) < 0 ||
        (r = set_default(json_object_get(doc, "restart"), "limit", json_integer(spec.restart_limit))) < 0) {
        spec_fail(err, GPUAAS_ENOMEM, "", "out of memory");
        goto out;
    }
    spec.document = doc;
    doc = NULL;
    *ret_spec = spec;
    r = 0;
out:
    json_decref(doc);
    return r;
}

void spec_release(struct job_spec *spec)
{
    if (!spec)
        return;
    json_decref(spec->document);
    spec->document = NULL;
}

const char *spec_priority_name(enum job_priority priority)
{
    switch (priority) {
    case PRIORITY_LOW: return "low";
    case PRIORITY_HIGH: return "high";
    case PRIORITY_NORMAL: break;
    }
    return "normal";
}
