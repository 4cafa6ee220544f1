#include "core/names.h"

#include <string.h>

#include "gpuaas/error.h"

static bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

static int fail(const char **why, const char *text)
{
    if (why)
        *why = text;
    return GPUAAS_EINVAL;
}

/* Checks `len` bytes at `s` as a DNS label. */
static int check_label_span(const char *s, size_t len, const char **why)
{
    if (len == 0)
        return fail(why, "must not be empty");
    if (len > NAME_LABEL_MAX)
        return fail(why, "must be at most 63 characters");
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            return fail(why, "must be lower case ([a-z0-9-])");
        if (!is_lower_alnum(c) && c != '-')
            return fail(why, "may contain only a-z, 0-9 and '-'");
    }
    if (s[0] == '-' || s[len - 1] == '-')
        return fail(why, "must start and end with a letter or digit");
    return 0;
}

int names_check_label(const char *name, const char **why)
{
    if (!name)
        return fail(why, "must not be empty");
    return check_label_span(name, strlen(name), why);
}

int names_check_namespace(const char *path, int *ret_depth, const char **why)
{
    if (!path || !*path)
        return fail(why, "must not be empty");
    if (strlen(path) > NS_PATH_MAX)
        return fail(why, "is too long (at most three labels of 63 characters)");
    int depth = 0;
    const char *start = path;
    for (;;) {
        const char *slash = strchr(start, '/');
        size_t len = slash ? (size_t)(slash - start) : strlen(start);
        if (++depth > NS_DEPTH_MAX)
            return fail(why, "has more than three levels (organisation/project/environment)");
        int r = check_label_span(start, len, why);
        if (r < 0) {
            if (len == 0)
                return fail(why, "has an empty level (leading, trailing or double '/')");
            return r;
        }
        if (!slash)
            break;
        start = slash + 1;
    }
    if (ret_depth)
        *ret_depth = depth;
    return 0;
}

int names_check_label_key(const char *key, const char **why)
{
    if (!key || !*key)
        return fail(why, "label key must not be empty");
    size_t len = strlen(key);
    if (len > LABEL_KEY_MAX)
        return fail(why, "label key must be at most 253 characters");
    const char *name = key;
    const char *slash = strchr(key, '/');
    if (slash) {
        if (strchr(slash + 1, '/'))
            return fail(why, "label key may contain at most one '/'");
        size_t prefix_len = (size_t)(slash - key);
        if (prefix_len == 0)
            return fail(why, "label key prefix must not be empty");
        for (size_t i = 0; i < prefix_len; i++)
            if (!is_lower_alnum(key[i]) && key[i] != '-' && key[i] != '.')
                return fail(why, "label key prefix must be a lower-case DNS name");
        name = slash + 1;
    }
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > NAME_LABEL_MAX)
        return fail(why, "label key name must be 1-63 characters");
    for (size_t i = 0; i < name_len; i++)
        if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
            return fail(why, "label key name may contain only letters, digits, '-', '_' and '.'");
    if (!is_alnum(name[0]) || !is_alnum(name[name_len - 1]))
        return fail(why, "label key name must start and end with a letter or digit");
    return 0;
}

int names_check_label_value(const char *value, const char **why)
{
    if (!value)
        return fail(why, "label value must be a string");
    size_t len = strlen(value);
    if (len > LABEL_VALUE_MAX)
        return fail(why, "label value must be at most 63 characters");
    for (size_t i = 0; i < len; i++)
        if (value[i] < 0x20 || value[i] > 0x7e)
            return fail(why, "label value must be printable ASCII");
    return 0;
}

bool names_namespace_within(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
