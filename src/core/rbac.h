/* Role bindings and the decision "may this identity do that, there?".
 * Roles are bound to a user or a group on a namespace subtree ("" is the
 * whole platform). A new identity can do nothing. Pure. */
#ifndef GPUAAS_CORE_RBAC_H
#define GPUAAS_CORE_RBAC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/names.h"

#define RBAC_BINDINGS_MAX 10000
#define RBAC_GROUPS_MAX 16
#define RBAC_SUBJECT_MAX 128

enum rbac_role { ROLE_NONE = 0, ROLE_VIEWER, ROLE_DEVELOPER, ROLE_NAMESPACE_ADMIN, ROLE_PLATFORM_ADMIN };

/* What a route needs. */
enum rbac_action {
    ACTION_PUBLIC,      /* no identity needed */
    ACTION_AUTHENTICATED, /* any identity (e.g. the node list) */
    ACTION_READ,        /* see objects in the namespace */
    ACTION_WRITE,       /* submit, cancel, delete jobs */
    ACTION_ADMINISTER,  /* quotas, bindings, child namespaces: strictly below a namespace-admin's own */
    ACTION_PLATFORM,    /* tokens, audit, nodes: platform-admin only */
};

struct rbac_identity {
    char user[RBAC_SUBJECT_MAX];
    unsigned group_count;
    char groups[RBAC_GROUPS_MAX][RBAC_SUBJECT_MAX];
};

struct rbac_binding {
    enum rbac_role role;
    bool is_group;
    char subject[RBAC_SUBJECT_MAX];
    char namespace_path[NS_PATH_MAX + 1]; /* "" : everywhere */
};

const char *rbac_role_name(enum rbac_role role);
int rbac_role_from_name(const char *name, enum rbac_role *ret_role);

/* The strongest role the identity holds over `ns` (bindings on ns or any
 * ancestor, or platform-wide). */
enum rbac_role rbac_role_at(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who,
                            const char *ns);
/* True if the identity may see something in ns's subtree or above it:
 * a binding on ns, an ancestor or a descendant. */
bool rbac_can_see(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who, const char *ns);
/* The decision. ns may be "" for platform-wide actions. Returns 0 when
 * allowed, GPUAAS_ENOTFOUND when the identity may not even see ns (so the
 * answer does not reveal that it exists), GPUAAS_EPERM otherwise. */
int rbac_decide(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who,
                enum rbac_action action, const char *ns);

#endif
