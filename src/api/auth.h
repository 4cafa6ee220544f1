/* Bearer tokens: 256-bit random secrets shown once, stored only as
 * BLAKE2b-256 hashes. The API checks a token against an in-memory copy of
 * the stored hashes (read-mostly, guarded by a rwlock). */
#ifndef GPUAAS_API_AUTH_H
#define GPUAAS_API_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define AUTH_TOKEN_PREFIX "gpa_"
#define AUTH_TOKEN_TEXT_MAX 128
#define AUTH_ROLE_PLATFORM_ADMIN "platform-admin"

struct auth;
struct jwt_verifier;

struct auth_identity {
    char name[128];     /* the user */
    char role[32];      /* "platform-admin" for the admin token, else "" */
    unsigned group_count;
    char groups[16][128]; /* from SSO */
};

int auth_create(struct auth **ret_auth);
void auth_free(struct auth *auth);
/* Adds a stored token to the in-memory set. */
int auth_add(struct auth *auth, const struct store_token *token);
/* Makes a new secret: "gpa_" + 64 hex digits, and its hash. */
int auth_generate(char *ret_secret, size_t secret_size, unsigned char ret_hash[32]);
void auth_hash(const char *secret, unsigned char ret_hash[32]);
/* Checks an Authorization header value ("Bearer gpa_..."). Returns 0 and
 * fills *ret_who, or GPUAAS_EAUTH with a reason for the client. */
int auth_check(struct auth *auth, const char *authorization, int64_t now_ms, struct auth_identity *ret_who,
               const char **ret_why);
/* Accepts OIDC ID tokens (JWT) from the verifier's issuer as well; the
 * auth takes ownership of the verifier. */
void auth_set_sso(struct auth *auth, struct jwt_verifier *verifier);
/* Marks a token revoked in memory (after the store did). */
int auth_revoke(struct auth *auth, int64_t id);

#endif
