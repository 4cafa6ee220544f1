#include "api/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "api/jwt.h"
#include "gpuaas/error.h"

#define AUTH_TOKENS_MAX 100000

struct auth {
    struct jwt_verifier *sso; /* set once at start, read-only after */
    pthread_rwlock_t lock;
    struct store_token *tokens;
    size_t count, capacity;
};

int auth_create(struct auth **ret_auth)
{
    if (sodium_init() < 0)
        return GPUAAS_EIO;
    struct auth *auth = calloc(1, sizeof *auth);
    if (!auth)
        return GPUAAS_ENOMEM;
    pthread_rwlock_init(&auth->lock, NULL);
    *ret_auth = auth;
    return 0;
}

void auth_free(struct auth *auth)
{
    if (!auth)
        return;
    pthread_rwlock_destroy(&auth->lock);
    jwt_verifier_free(auth->sso);
    free(auth->tokens);
    free(auth);
}

int auth_add(struct auth *auth, const struct store_token *token)
{
    int r = 0;
    pthread_rwlock_wrlock(&auth->lock);
    if (auth->count == auth->capacity) {
        size_t capacity = auth->capacity ? auth->capacity * 2 : 8;
        struct store_token *tokens = capacity <= AUTH_TOKENS_MAX
                                         ? realloc(auth->tokens, capacity * sizeof *tokens) : NULL;
        if (!tokens)
            r = GPUAAS_ENOMEM;
        else {
            auth->tokens = tokens;
            auth->capacity = capacity;
        }
    }
    if (r == 0)
        auth->tokens[auth->count++] = *token;
    pthread_rwlock_unlock(&auth->lock);
    return r;
}

void auth_set_sso(struct auth *auth, struct jwt_verifier *verifier)
{
    jwt_verifier_free(auth->sso);
    auth->sso = verifier;
}

/* An SSO identity: the user and groups from a verified ID token. */
static int auth_check_sso(struct auth *auth, const char *token, int64_t now_ms, struct auth_identity *ret_who,
                          const char **ret_why)
{
    struct jwt_identity *id = malloc(sizeof *id);
    if (!id) {
        *ret_why = "out of memory";
        return GPUAAS_EAUTH;
    }
    int r = jwt_verify(auth->sso, token, now_ms / 1000, id, ret_why);
    if (r == 0) {
        memset(ret_who, 0, sizeof *ret_who);
        snprintf(ret_who->name, sizeof ret_who->name, "%s", id->username);
        /* "system:" groups are gpuaas's own (the platform-admin token's
         * group among them): an identity provider cannot hand them out */
        for (unsigned i = 0; i < id->group_count && ret_who->group_count < 16; i++)
            if (strncmp(id->groups[i], "system:", 7) != 0)
                snprintf(ret_who->groups[ret_who->group_count++], sizeof ret_who->groups[0], "%s", id->groups[i]);
    }
    free(id);
    return r < 0 ? GPUAAS_EAUTH : 0;
}

int auth_revoke(struct auth *auth, int64_t id)
{
    int r = GPUAAS_ENOTFOUND;
    pthread_rwlock_wrlock(&auth->lock);
    for (size_t i = 0; i < auth->count; i++)
        if (auth->tokens[i].id == id) {
            auth->tokens[i].revoked = 1;
            r = 0;
        }
    pthread_rwlock_unlock(&auth->lock);
    return r;
}

void auth_hash(const char *secret, unsigned char ret_hash[32])
{
    crypto_generichash(ret_hash, 32, (const unsigned char *)secret, strlen(secret), NULL, 0);
}

int auth_generate(char *ret_secret, size_t secret_size, unsigned char ret_hash[32])
{
    unsigned char raw[32];
    char hex[2 * sizeof raw + 1];
    if (secret_size < sizeof AUTH_TOKEN_PREFIX + sizeof hex)
        return GPUAAS_ETOOBIG;
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    memcpy(ret_secret, AUTH_TOKEN_PREFIX, sizeof AUTH_TOKEN_PREFIX - 1);
    memcpy(ret_secret + sizeof AUTH_TOKEN_PREFIX - 1, hex, sizeof hex);
    auth_hash(ret_secret, ret_hash);
    return 0;
}

int auth_check(struct auth *auth, const char *authorization, int64_t now_ms, struct auth_identity *ret_who,
               const char **ret_why)
{
    if (!authorization || !*authorization) {
        *ret_why = "missing Authorization header (Bearer token)";
        return GPUAAS_EAUTH;
    }
    if (strncasecmp(authorization, "Bearer ", 7) != 0) {
        *ret_why = "Authorization header must be 'Bearer TOKEN'";
        return GPUAAS_EAUTH;
    }
    const char *secret = authorization + 7;
    while (*secret == ' ')
        secret++;
    if (!*secret || strlen(secret) > (auth->sso ? 8192 : AUTH_TOKEN_TEXT_MAX)) {
        *ret_why = "invalid token";
        return GPUAAS_EAUTH;
    }
    if (strncmp(secret, AUTH_TOKEN_PREFIX, sizeof AUTH_TOKEN_PREFIX - 1) != 0 && auth->sso)
        return auth_check_sso(auth, secret, now_ms, ret_who, ret_why);
    unsigned char hash[32];
    auth_hash(secret, hash);
    int r = GPUAAS_EAUTH;
    *ret_why = "invalid token";
    pthread_rwlock_rdlock(&auth->lock);
    for (size_t i = 0; i < auth->count; i++) {
        const struct store_token *t = &auth->tokens[i];
        if (sodium_memcmp(t->hash, hash, sizeof hash) != 0)
            continue;
        if (t->revoked)
            *ret_why = "token revoked";
        else if (t->expires_ms && t->expires_ms <= now_ms)
            *ret_why = "token expired";
        else {
            memset(ret_who, 0, sizeof *ret_who);
            snprintf(ret_who->name, sizeof ret_who->name, "%s", t->user[0] ? t->user : t->name);
            snprintf(ret_who->role, sizeof ret_who->role, "%s", t->role);
            r = 0;
        }
        break;
    }
    pthread_rwlock_unlock(&auth->lock);
    return r;
}
