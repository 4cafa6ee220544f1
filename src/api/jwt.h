/* OIDC ID-token (JWT) verification for single sign-on.
 *
 * A verifier holds the configured issuer and audience and the public keys
 * of the issuer's JWK Set (RSA >= 2048 bits for RS256, EC P-256 for ES256).
 * It is immutable after creation, so any number of threads may call
 * jwt_verify() on one verifier at once. Mapping groups to roles is the
 * caller's business; see docs/sso.md. */
#ifndef GPUAAS_API_JWT_H
#define GPUAAS_API_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_TOKEN_MAX 8192          /* bytes of a compact token */
#define JWT_JWKS_MAX (256 * 1024)   /* bytes of a JWK Set document */
#define JWT_KEYS_MAX 64             /* entries in the JWK Set's "keys" */
#define JWT_GROUPS_MAX 32           /* groups kept; later ones are ignored */
#define JWT_GROUP_SIZE 128          /* a group name is at most 127 bytes */
#define JWT_USERNAME_SIZE 128
#define JWT_SUBJECT_SIZE 256
#define JWT_LEEWAY_DEFAULT_S 60
#define JWT_LEEWAY_MAX_S 3600

struct jwt_verifier;

struct jwt_config {
    const char *issuer;         /* required; compared exactly with "iss" */
    const char *audience;       /* required; the client id expected in "aud" */
    const char *groups_claim;   /* NULL or "": "groups" */
    const char *username_claim; /* NULL or "": "email"; absent in a token: "sub" */
    int64_t leeway_s;           /* clock skew allowed: 0 = 60, < 0 = none, at most 3600 */
};

struct jwt_identity {
    char username[JWT_USERNAME_SIZE];
    char subject[JWT_SUBJECT_SIZE];
    unsigned group_count;
    char groups[JWT_GROUPS_MAX][JWT_GROUP_SIZE];
    int64_t expires_s; /* the token's "exp" */
};

/* Makes a verifier from the JSON text of a JWK Set ({"keys":[...]}); keys of
 * other types, other curves, RSA keys under 2048 bits and keys whose "use"
 * or "alg" is not for RS256/ES256 signatures are ignored. The config strings
 * are copied. Returns 0 and *ret (free with jwt_verifier_free), or
 * GPUAAS_EINVAL / EPARSE / ETOOBIG / ENOMEM with a message in err. */
int jwt_verifier_create(const struct jwt_config *cfg, const char *jwks, size_t jwks_len, struct jwt_verifier **ret,
                        char *err, size_t err_size);
/* As jwt_verifier_create, with the JWK Set read from a file path or fetched
 * from an https:// URL (http:// only for localhost, 127.0.0.1 and ::1) with
 * libcurl: 5 s timeout, no redirects, at most JWT_JWKS_MAX bytes. Failing to
 * read or fetch it gives GPUAAS_EIO. */
int jwt_verifier_load(const struct jwt_config *cfg, const char *jwks_path_or_url, struct jwt_verifier **ret,
                      char *err, size_t err_size);
/* Accepts NULL. */
void jwt_verifier_free(struct jwt_verifier *v);

/* Verifies a compact JWS ID token at time now_s (Unix seconds). Returns 0
 * and fills *ret, or GPUAAS_EAUTH with *ret_why a static reason for the
 * client ("token expired", "bad signature", ...; docs/sso.md lists them),
 * or GPUAAS_ENOMEM ("out of memory"). *ret is written only on success.
 * Safe to call concurrently on one verifier. */
int jwt_verify(const struct jwt_verifier *v, const char *token, int64_t now_s, struct jwt_identity *ret,
               const char **ret_why);

#endif
