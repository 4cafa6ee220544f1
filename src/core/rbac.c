#include "core/rbac.h"

#include <string.h>

#include "gpuaas/error.h"

static const char *const role_names[] = {
    [ROLE_NONE] = "none",
    [ROLE_VIEWER] = "viewer",
    [ROLE_DEVELOPER] = "developer",
    [ROLE_NAMESPACE_ADMIN] = "namespace-admin",
    [ROLE_PLATFORM_ADMIN] = "platform-admin",
};

const char *rbac_role_name(enum rbac_role role) { return role_names[role]; }

int rbac_role_from_name(const char *name, enum rbac_role *ret_role)
{
    for (unsigned i = ROLE_VIEWER; i <= ROLE_PLATFORM_ADMIN; i++)
        if (strcmp(role_names[i], name) == 0) {
            *ret_role = (enum rbac_role)i;
            return 0;
        }
    return GPUAAS_EINVAL;
}

static bool binding_applies_to(const struct rbac_binding *b, const struct rbac_identity *who)
{
    if (!b->is_group)
        return who->user[0] && strcmp(b->subject, who->user) == 0;
    for (unsigned i = 0; i < who->group_count; i++)
        if (strcmp(b->subject, who->groups[i]) == 0)
            return true;
    return false;
}

/* "" covers everything; "a" covers "a" and "a/..." */
static bool covers(const char *binding_ns, const char *ns)
{
    return !binding_ns[0] || (ns[0] && names_namespace_within(ns, binding_ns));
}

enum rbac_role rbac_role_at(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who,
                            const char *ns)
{
    enum rbac_role best = ROLE_NONE;
    for (size_t i = 0; i < count; i++) {
        const struct rbac_binding *b = &bindings[i];
        if (b->role > best && binding_applies_to(b, who) && covers(b->namespace_path, ns))
            best = b->role;
    }
    return best;
}

bool rbac_can_see(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who, const char *ns)
{
    for (size_t i = 0; i < count; i++) {
        const struct rbac_binding *b = &bindings[i];
        if (!binding_applies_to(b, who))
            continue;
        if (covers(b->namespace_path, ns) || (ns[0] && names_namespace_within(b->namespace_path, ns)))
            return true;
    }
    return false;
}

/* The strongest namespace-admin (or better) binding strictly above ns. */
static bool administers_below(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who,
                              const char *ns)
{
    for (size_t i = 0; i < count; i++) {
        const struct rbac_binding *b = &bindings[i];
        if (b->role < ROLE_NAMESPACE_ADMIN || !binding_applies_to(b, who))
            continue;
        if (b->role == ROLE_PLATFORM_ADMIN && covers(b->namespace_path, ns))
            return true;
        /* strictly below: the admin of a/b manages a/b/c, not a/b itself */
        if (ns[0] && names_namespace_within(ns, b->namespace_path) && strcmp(ns, b->namespace_path) != 0)
            return true;
    }
    return false;
}

int rbac_decide(const struct rbac_binding *bindings, size_t count, const struct rbac_identity *who,
                enum rbac_action action, const char *ns)
{
    if (action == ACTION_PUBLIC)
        return 0;
    if (!who || !who->user[0])
        return GPUAAS_EAUTH;
    enum rbac_role platform = rbac_role_at(bindings, count, who, "");
    if (platform == ROLE_PLATFORM_ADMIN)
        return 0;
    if (action == ACTION_AUTHENTICATED)
        return 0;
    if (action == ACTION_PLATFORM)
        return GPUAAS_EPERM;
    const char *where = ns ? ns : "";
    if (!where[0])
        return GPUAAS_EPERM; /* platform-wide scope, not a platform-admin */
    if (!rbac_can_see(bindings, count, who, where))
        return GPUAAS_ENOTFOUND;
    enum rbac_role role = rbac_role_at(bindings, count, who, where);
    switch (action) {
    case ACTION_READ:
        return role >= ROLE_VIEWER ? 0 : GPUAAS_ENOTFOUND;
    case ACTION_WRITE:
        return role >= ROLE_DEVELOPER ? 0 : (role >= ROLE_VIEWER ? GPUAAS_EPERM : GPUAAS_ENOTFOUND);
    case ACTION_ADMINISTER:
        if (administers_below(bindings, count, who, where))
            return 0;
        return role >= ROLE_VIEWER ? GPUAAS_EPERM : GPUAAS_ENOTFOUND;
    default:
        return GPUAAS_EPERM;
    }
}
