/* Validation of the names tenants choose: object names are DNS labels
 * (RFC 1123), namespaces are paths of one to three labels:
 * organisation / project / environment. Pure. */
#ifndef GPUAAS_CORE_NAMES_H
#define GPUAAS_CORE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_LABEL_MAX 63
#define NS_DEPTH_MAX 3
#define NS_PATH_MAX (NS_DEPTH_MAX * NAME_LABEL_MAX + NS_DEPTH_MAX - 1)
#define LABEL_KEY_MAX 253
#define LABEL_VALUE_MAX 63

/* Returns 0 if `name` is a DNS label, else GPUAAS_EINVAL with a reason
 * ("must be at most 63 characters", ...) written to why (may be NULL). */
int names_check_label(const char *name, const char **why);
/* Returns 0 if `path` is a namespace path; *ret_depth gets 1..3. */
int names_check_namespace(const char *path, int *ret_depth, const char **why);
/* Label keys in the Kubernetes style: optional DNS-subdomain prefix and
 * '/', then a name of [A-Za-z0-9._-] starting and ending alphanumeric. */
int names_check_label_key(const char *key, const char **why);
/* Label values: at most LABEL_VALUE_MAX printable ASCII characters. */
int names_check_label_value(const char *value, const char **why);
/* True if `path` equals `prefix` or lies below it (prefix "a" covers "a/b"). */
bool names_namespace_within(const char *path, const char *prefix);

#endif
