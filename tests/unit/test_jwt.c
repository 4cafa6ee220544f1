/* Unit tests for src/api/jwt.c: OIDC ID-token verification. The test
 * makes its own RSA 2048 and EC P-256 keys, publishes them as a JWK Set and
 * signs tokens with them, so every refusal is proven against a token that
 * differs from an accepted one in exactly the way the test names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "api/jwt.h"
#include "gpuaas/error.h"

#define ISS "https://idp.example.com/realms/main"
#define AUD "gpuaas-console"
#define NOW ((int64_t)1700000000)

enum sign { SIGN_RS256, SIGN_ES256, SIGN_HS256, SIGN_NONE };

static struct {
    EVP_PKEY *rsa, *ec, *rsa_b;
    char *rsa_pem; /* the RSA public key as PEM: the classic HS256 secret */
    char *jwks;    /* rsa-1, ec-1, and two keys the verifier must ignore */
    struct jwt_verifier *v;
} fx;

/* ---- helpers --------------------------------------------------------------- */

static char *b64url(const void *data, size_t len)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *in = data;
    char *out = malloc(len / 3 * 4 + 5), *o = out;
    size_t i = 0;

    assert_non_null(out);
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (len - i == 1) {
        *o++ = alphabet[in[i] >> 2];
        *o++ = alphabet[(in[i] & 3) << 4];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
        *o++ = alphabet[v >> 10];
        *o++ = alphabet[(v >> 4) & 63];
        *o++ = alphabet[(v & 15) << 2];
    }
    *o = '\0';
    return out;
}

static char *b64url_str(const char *text)
{
    return b64url(text, strlen(text));
}

static char *bn_param_b64(const EVP_PKEY *key, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int len;

    assert_int_equal(EVP_PKEY_get_bn_param(key, name, &bn), 1);
    len = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    assert_true(len > 0);
    BN_free(bn);
    return b64url(buf, (size_t)len);
}

static char *jwk_rsa_use(const EVP_PKEY *key, const char *kid, const char *use)
{
    char *n = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_N, 0), *e = bn_param_b64(key, OSSL_PKEY_PARAM_RSA_E, 0), *out;
    assert_true(asprintf(&out, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"use\":\"%s\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"}",
                         kid, use, n, e) > 0);
    free(n);
    free(e);
    return out;
}

static char *jwk_rsa(const EVP_PKEY *key, const char *kid)
{
    return jwk_rsa_use(key, kid, "sig");
}

static char *jwk_ec(const EVP_PKEY *key, const char *kid, const char *crv, int coord_size)
{
    char *x = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, coord_size);
    char *y = bn_param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, coord_size), *out;
    assert_true(asprintf(&out, "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", kid, crv, x,
                         y) > 0);
    free(x);
    free(y);
    return out;
}

/* {"keys":[a, b, ...]} from JWK texts, which it frees. */
static char *jwks_of(int count, ...)
{
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    va_list ap;

    assert_non_null(f);
    fputs("{\"keys\":[", f);
    va_start(ap, count);
    for (int i = 0; i < count; i++) {
        char *jwk = va_arg(ap, char *);
        fprintf(f, "%s%s", i ? "," : "", jwk);
        free(jwk);
    }
    va_end(ap);
    fputs("]}", f);
    fclose(f);
    return out;
}

static void sign_input(enum sign how, EVP_PKEY *key, const char *input, unsigned char *sig, size_t *sig_len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128];
    size_t der_len = sizeof der;
    const unsigned char *p = der;
    ECDSA_SIG *ecdsa;
    const BIGNUM *r, *s;

    assert_non_null(md);
    *sig_len = 0;
    switch (how) {
    case SIGN_RS256:
        *sig_len = 1024;
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, sig, sig_len, (const unsigned char *)input, strlen(input)), 1);
        break;
    case SIGN_ES256: /* OpenSSL signs DER; JWS wants r||s, 32 bytes each */
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
        assert_int_equal(EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, strlen(input)), 1);
        ecdsa = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
        assert_non_null(ecdsa);
        ECDSA_SIG_get0(ecdsa, &r, &s);
        assert_int_equal(BN_bn2binpad(r, sig, 32), 32);
        assert_int_equal(BN_bn2binpad(s, sig + 32, 32), 32);
        ECDSA_SIG_free(ecdsa);
        *sig_len = 64;
        break;
    case SIGN_HS256: /* the public key as an HMAC secret */
        assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, fx.rsa_pem, strlen(fx.rsa_pem),
                                  (const unsigned char *)input, strlen(input), sig, 64, sig_len));
        break;
    case SIGN_NONE:
        break;
    }
    EVP_MD_CTX_free(md);
}

/* header.payload.signature from JSON texts; key may be NULL for HS256/none. */
static char *make_token(const char *header, const char *payload, enum sign how, EVP_PKEY *key)
{
    char *h = b64url_str(header), *p = b64url_str(payload), *input, *s, *token;
    unsigned char sig[1024];
    size_t sig_len;

    assert_true(asprintf(&input, "%s.%s", h, p) > 0);
    sign_input(how, key, input, sig, &sig_len);
    s = b64url(sig, sig_len);
    assert_true(asprintf(&token, "%s.%s", input, s) > 0);
    free(h);
    free(p);
    free(s);
    free(input);
    return token;
}

/* The claims of a token as raw JSON values; NULL leaves a member out. */
struct claims {
    const char *iss, *aud, *sub, *email, *groups;
    bool has_exp, has_nbf, has_iat;
    int64_t exp, nbf, iat;
    const char *extra; /* more members, e.g. "\"azp\":\"x\"" */
};

static struct claims std_claims(void)
{
    return (struct claims){
        .iss = "\"" ISS "\"",
        .aud = "\"" AUD "\"",
        .sub = "\"u-123\"",
        .email = "\"alice@example.com\"",
        .groups = "[\"ml-team\",\"gpu-admins\"]",
        .has_exp = true,
        .exp = NOW + 3600,
        .has_iat = true,
        .iat = NOW - 10,
    };
}

static void member(FILE *f, bool *first, const char *name, const char *raw)
{
    if (!raw)
        return;
    fprintf(f, "%s\"%s\":%s", *first ? "" : ",", name, raw);
    *first = false;
}

static void time_member(FILE *f, bool *first, const char *name, bool present, int64_t value)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)value);
    member(f, first, name, present ? raw : NULL);
}

static char *claims_json(const struct claims *c)
{
    char *out = NULL;
    size_t size = 0;
    bool first = true;
    FILE *f = open_memstream(&out, &size);

    assert_non_null(f);
    fputc('{', f);
    member(f, &first, "iss", c->iss);
    member(f, &first, "aud", c->aud);
    member(f, &first, "sub", c->sub);
    member(f, &first, "email", c->email);
    member(f, &first, "groups", c->groups);
    time_member(f, &first, "exp", c->has_exp, c->exp);
    time_member(f, &first, "nbf", c->has_nbf, c->nbf);
    time_member(f, &first, "iat", c->has_iat, c->iat);
    if (c->extra)
        fprintf(f, "%s%s", first ? "" : ",", c->extra);
    fputc('}', f);
    fclose(f);
    return out;
}

static const char *std_header(enum sign how)
{
    return how == SIGN_ES256 ? "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec-1\"}"
                             : "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}";
}

static char *token_with(enum sign how, const struct claims *c)
{
    char *payload = claims_json(c);
    char *token = make_token(std_header(how), payload, how, how == SIGN_ES256 ? fx.ec : fx.rsa);
    free(payload);
    return token;
}

static char *std_token(enum sign how)
{
    struct claims c = std_claims();
    return token_with(how, &c);
}

static void accept_and_free(const struct jwt_verifier *v, char *token, struct jwt_identity *id)
{
    const char *why = NULL;
    int r = jwt_verify(v, token, NOW, id, &why);
    if (r != 0)
        fail_msg("token refused (%s): %s", why ? why : "?", token);
    free(token);
}

/* Refused with GPUAAS_EAUTH for `why`, and *ret left alone. */
static void refuse(const struct jwt_verifier *v, const char *token, const char *why)
{
    struct jwt_identity id;
    const char *got = NULL;

    memset(&id, 0x5a, sizeof id);
    assert_int_equal(jwt_verify(v, token, NOW, &id, &got), GPUAAS_EAUTH);
    assert_non_null(got);
    assert_string_equal(got, why);
    assert_int_equal((unsigned char)id.username[0], 0x5a);
    assert_int_equal(id.group_count, 0x5a5a5a5au);
}

static void refuse_and_free(const struct jwt_verifier *v, char *token, const char *why)
{
    refuse(v, token, why);
    free(token);
}

static struct jwt_verifier *verifier(const struct jwt_config *cfg, const char *jwks)
{
    struct jwt_verifier *v = NULL;
    char err[256];
    int r = jwt_verifier_create(cfg, jwks, strlen(jwks), &v, err, sizeof err);
    if (r != 0)
        fail_msg("jwt_verifier_create: %d %s", r, err);
    return v;
}

static const struct jwt_config std_config = {.issuer = ISS, .audience = AUD};

static int group_setup(void **state)
{
    (void)state;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem;
    long pem_len;
    EVP_PKEY *ec384;

    fx.rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.rsa_b = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    fx.ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (!bio || !fx.rsa || !fx.rsa_b || !fx.ec || !ec384 || PEM_write_bio_PUBKEY(bio, fx.rsa) != 1)
        return -1;
    pem_len = BIO_get_mem_data(bio, &pem);
    fx.rsa_pem = strndup(pem, (size_t)pem_len);
    BIO_free(bio);
    /* an encryption key, a P-384 key and a symmetric key ride along and
     * must be ignored */
    fx.jwks = jwks_of(5, jwk_rsa(fx.rsa, "rsa-1"), jwk_ec(fx.ec, "ec-1", "P-256", 32), jwk_rsa_use(fx.rsa_b, "enc-1", "enc"),
                      jwk_ec(ec384, "ec-384", "P-384", 48), strdup("{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}"));
    EVP_PKEY_free(ec384);
    fx.v = verifier(&std_config, fx.jwks);
    return fx.rsa_pem && fx.v ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    jwt_verifier_free(fx.v);
    free(fx.jwks);
    free(fx.rsa_pem);
    EVP_PKEY_free(fx.rsa);
    EVP_PKEY_free(fx.rsa_b);
    EVP_PKEY_free(fx.ec);
    return 0;
}

/* ---- accepted tokens ------------------------------------------------------ */

static void test_rs256_valid(void **state)
{
    (void)state;
    struct jwt_identity id;
    accept_and_free(fx.v, std_token(SIGN_RS256), &id);
    assert_string_equal(id.username, "alice@example.com");
    assert_string_equal(id.subject, "u-123");
    assert_int_equal(id.group_count, 2);
    assert_string_equal(id.groups[0], "ml-team");
    assert_string_equal(id.groups[1], "gpu-admins");
    assert_int_equal(id.expires_s, NOW + 3600);
}

static void test_es256_valid(void **state)
{
    (void)state;
    struct jwt_identity id;
    accept_and_free(fx.v, std_token(SIGN_ES256), &id);
    assert_string_equal(id.username, "alice@example.com");
    assert_string_equal(id.subject, "u-123");
    assert_int_equal(id.group_count, 2);
    assert_string_equal(id.groups[1], "gpu-admins");
}

static void test_username_and_claim_names(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();

    c.email = NULL; /* falls back to sub */
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    assert_string_equal(id.username, "u-123");

    c = std_claims();
    c.extra = "\"email_verified\":false";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "email not verified");
    c.extra = "\"email_verified\":true";
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    c.email = "42";
    c.extra = NULL;
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "invalid username claim");
    c.email = "\"alice\\n@example.com\""; /* control characters never reach logs */
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "invalid username claim");
    c = std_claims();
    c.sub = NULL;
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "missing or invalid sub claim");

    struct jwt_config cfg = std_config;
    cfg.groups_claim = "roles";
    cfg.username_claim = "preferred_username";
    struct jwt_verifier *v = verifier(&cfg, fx.jwks);
    c = std_claims();
    c.extra = "\"preferred_username\":\"alice\",\"roles\":[\"ops\"]";
    accept_and_free(v, token_with(SIGN_ES256, &c), &id);
    assert_string_equal(id.username, "alice");
    assert_int_equal(id.group_count, 1);
    assert_string_equal(id.groups[0], "ops");
    c.extra = NULL; /* "groups" is not the configured claim, so no groups */
    accept_and_free(v, token_with(SIGN_ES256, &c), &id);
    assert_string_equal(id.username, "u-123");
    assert_int_equal(id.group_count, 0);
    jwt_verifier_free(v);
}

/* ---- time ------------------------------------------------------------------- */

static void test_expired(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();

    c.exp = NOW - 61;
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "token expired");
    c.exp = NOW - 60; /* now < exp + leeway is the rule: the edge is out */
    refuse_and_free(fx.v, token_with(SIGN_ES256, &c), "token expired");
    c.exp = NOW - 59;
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    c.has_exp = false;
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "token has no expiry");
    c.extra = "\"exp\":\"tomorrow\"";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "malformed time claim");
    c.extra = "\"exp\":1.7e300"; /* a real far in the future saturates, no UB */
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    assert_int_equal(id.expires_s, INT64_MAX);

    /* a negative leeway means none */
    struct jwt_config cfg = std_config;
    cfg.leeway_s = -1;
    struct jwt_verifier *v = verifier(&cfg, fx.jwks);
    c = std_claims();
    c.exp = NOW;
    refuse_and_free(v, token_with(SIGN_RS256, &c), "token expired");
    c.exp = NOW + 1;
    accept_and_free(v, token_with(SIGN_RS256, &c), &id);
    jwt_verifier_free(v);
}

static void test_not_yet_valid(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();

    c.has_nbf = true;
    c.nbf = NOW + 61;
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "not yet valid");
    c.nbf = NOW + 60;
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    c.has_nbf = false;
    c.iat = NOW + 3000;
    refuse_and_free(fx.v, token_with(SIGN_ES256, &c), "issued in the future");
    c.iat = NOW + 60;
    accept_and_free(fx.v, token_with(SIGN_ES256, &c), &id);
}

/* ---- issuer and audience --------------------------------------------------- */

static void test_wrong_audience(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();

    c.aud = "\"other-client\"";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "wrong audience");
    c.aud = "[\"other-client\",\"" AUD "-x\"]";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "wrong audience");
    c.aud = "[]";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "wrong audience");
    c.aud = NULL;
    refuse_and_free(fx.v, token_with(SIGN_ES256, &c), "wrong audience");
    c.aud = "[\"other-client\",\"" AUD "\"]";
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    c.extra = "\"azp\":\"other-client\"";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "wrong authorized party");
    c.extra = "\"azp\":\"" AUD "\"";
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
}

static void test_wrong_issuer(void **state)
{
    (void)state;
    struct claims c = std_claims();

    c.iss = "\"https://evil.example.com/realms/main\"";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "wrong issuer");
    c.iss = "\"" ISS "/\""; /* exact match: no normalising */
    refuse_and_free(fx.v, token_with(SIGN_ES256, &c), "wrong issuer");
    c.iss = NULL;
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "wrong issuer");
}

/* ---- algorithms and keys ------------------------------------------------------ */

static void test_alg_none(void **state)
{
    (void)state;
    struct claims c = std_claims();
    char *payload = claims_json(&c);

    refuse_and_free(fx.v, make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, SIGN_NONE, NULL),
                    "unsupported alg 'none'");
    refuse_and_free(fx.v, make_token("{\"alg\":\"none\",\"kid\":\"rsa-1\"}", payload, SIGN_RS256, fx.rsa),
                    "unsupported alg 'none'");
    refuse_and_free(fx.v, make_token("{\"alg\":\"NoNe\"}", payload, SIGN_NONE, NULL), "unsupported alg 'none'");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS512\",\"kid\":\"rsa-1\"}", payload, SIGN_RS256, fx.rsa),
                    "unsupported alg 'RS512'");
    refuse_and_free(fx.v, make_token("{\"alg\":\"rs256\",\"kid\":\"rsa-1\"}", payload, SIGN_RS256, fx.rsa),
                    "unsupported alg");
    free(payload);
}

static void test_hs256_key_confusion(void **state)
{
    (void)state;
    struct claims c = std_claims();
    char *payload = claims_json(&c);

    /* HMAC keyed with the public key PEM: accepted by verifiers that let the
     * token pick the algorithm for a key */
    refuse_and_free(fx.v, make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}", payload, SIGN_HS256, NULL),
                    "unsupported alg 'HS256'");
    refuse_and_free(fx.v, make_token("{\"alg\":\"HS256\"}", payload, SIGN_HS256, NULL), "unsupported alg 'HS256'");
    free(payload);
}

static void test_alg_key_type_mismatch(void **state)
{
    (void)state;
    struct claims c = std_claims();
    char *payload = claims_json(&c);

    refuse_and_free(fx.v, make_token("{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", payload, SIGN_ES256, fx.ec),
                    "alg does not match the key's type");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", payload, SIGN_RS256, fx.rsa),
                    "alg does not match the key's type");
    free(payload);
}

static void test_unknown_kid(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();
    char *payload = claims_json(&c);

    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-9\"}", payload, SIGN_RS256, fx.rsa),
                    "unknown key id");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"enc-1\"}", payload, SIGN_RS256, fx.rsa_b),
                    "unknown key id"); /* the "use":"enc" key was ignored */
    /* no kid: the one key of the alg's type */
    accept_and_free(fx.v, make_token("{\"alg\":\"RS256\"}", payload, SIGN_RS256, fx.rsa), &id);
    accept_and_free(fx.v, make_token("{\"alg\":\"ES256\"}", payload, SIGN_ES256, fx.ec), &id);

    /* no kid and two RSA keys: ambiguous */
    char *jwks = jwks_of(2, jwk_rsa(fx.rsa, "a"), jwk_rsa(fx.rsa_b, "b"));
    struct jwt_verifier *v = verifier(&std_config, jwks);
    refuse_and_free(v, make_token("{\"alg\":\"RS256\"}", payload, SIGN_RS256, fx.rsa), "token has no key id");
    refuse_and_free(v, make_token("{\"alg\":\"ES256\"}", payload, SIGN_ES256, fx.ec), "no key for this alg");
    accept_and_free(v, make_token("{\"alg\":\"RS256\",\"kid\":\"b\"}", payload, SIGN_RS256, fx.rsa_b), &id);
    refuse_and_free(v, make_token("{\"alg\":\"RS256\",\"kid\":\"b\"}", payload, SIGN_RS256, fx.rsa), "bad signature");
    jwt_verifier_free(v);
    free(jwks);
    free(payload);
}

/* ---- tampering ---------------------------------------------------------------- */

static void test_tampered_payload(void **state)
{
    (void)state;
    for (enum sign how = SIGN_RS256; how <= SIGN_ES256; how++) {
        char *token = std_token(how), *forged;
        struct claims c = std_claims();
        c.groups = "[\"ml-team\",\"platform-admin\"]";
        char *payload = claims_json(&c), *p64 = b64url_str(payload);
        const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');

        assert_true(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - token), token, p64, dot2) > 0);
        refuse_and_free(fx.v, forged, "bad signature");
        free(payload);
        free(p64);
        free(token);
    }
}

/* Replaces the signature of token with the base64url of the bytes given. */
static char *with_signature(const char *token, const unsigned char *sig, size_t sig_len)
{
    char *s = b64url(sig, sig_len), *out;
    assert_true(asprintf(&out, "%.*s.%s", (int)(strrchr(token, '.') - token), token, s) > 0);
    free(s);
    return out;
}

static void test_tampered_signature(void **state)
{
    (void)state;
    for (enum sign how = SIGN_RS256; how <= SIGN_ES256; how++) {
        char *token = std_token(how), *input;
        unsigned char sig[1024], der[128];
        size_t sig_len, der_len;
        const char *dot2 = strrchr(token, '.');

        assert_true(asprintf(&input, "%.*s", (int)(dot2 - token), token) > 0);
        sign_input(how, how == SIGN_ES256 ? fx.ec : fx.rsa, input, sig, &sig_len);
        sig[sig_len / 2] ^= 0x01;
        refuse_and_free(fx.v, with_signature(token, sig, sig_len), "bad signature");
        sig[sig_len / 2] ^= 0x01;
        refuse_and_free(fx.v, with_signature(token, sig, sig_len - 1), "bad signature");
        refuse_and_free(fx.v, with_signature(token, sig, 0), "bad signature");
        if (how == SIGN_ES256) {
            /* the DER form OpenSSL produces is not a JWS signature */
            EVP_MD_CTX *md = EVP_MD_CTX_new();
            der_len = sizeof der;
            assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fx.ec), 1);
            assert_int_equal(EVP_DigestSign(md, der, &der_len, (unsigned char *)input, strlen(input)), 1);
            EVP_MD_CTX_free(md);
            refuse_and_free(fx.v, with_signature(token, der, der_len), "bad signature");
            unsigned char swapped[64]; /* s||r */
            memcpy(swapped, sig + 32, 32);
            memcpy(swapped + 32, sig, 32);
            refuse_and_free(fx.v, with_signature(token, swapped, 64), "bad signature");
        }
        /* an RS256 signature made by another key */
        if (how == SIGN_RS256) {
            sign_input(how, fx.rsa_b, input, sig, &sig_len);
            refuse_and_free(fx.v, with_signature(token, sig, sig_len), "bad signature");
        }
        struct jwt_identity id;
        accept_and_free(fx.v, token, &id); /* the untouched token still passes */
        free(input);
    }
}

/* ---- malformed input ------------------------------------------------------------ */

static void test_malformed_structure(void **state)
{
    (void)state;
    char *token = std_token(SIGN_RS256), *bad;
    const char *dot1 = strchr(token, '.'), *dot2 = strrchr(token, '.');
    int h_len = (int)(dot1 - token);

    refuse(fx.v, "", "malformed token");
    refuse(fx.v, "abc", "malformed token");
    refuse(fx.v, "a.b", "malformed token");
    refuse(fx.v, "..", "malformed token");
    refuse(fx.v, NULL, "malformed token");
    /* two parts */
    assert_true(asprintf(&bad, "%.*s", (int)(dot2 - token), token) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    /* four parts */
    assert_true(asprintf(&bad, "%s.AAAA", token) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    /* empty header, empty payload */
    assert_true(asprintf(&bad, "%s", dot1) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    assert_true(asprintf(&bad, "%.*s.%s", h_len, token, dot2) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    /* characters outside base64url in each part */
    const char *intruders[] = {"+", "/", "*", " ", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof intruders / sizeof intruders[0]; i++) {
        assert_true(asprintf(&bad, "%.*s%s%s", h_len, token, intruders[i], dot1) > 0);
        refuse_and_free(fx.v, bad, "malformed token");
        assert_true(asprintf(&bad, "%.*s%s%s", (int)(dot2 - token), token, intruders[i], dot2) > 0);
        refuse_and_free(fx.v, bad, "malformed token");
        assert_true(asprintf(&bad, "%s%s", token, intruders[i]) > 0);
        refuse_and_free(fx.v, bad, "malformed token");
    }
    /* padding: an RSA-2048 signature is 342 characters, so "==" would pad it */
    assert_true(asprintf(&bad, "%s==", token) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    assert_true(asprintf(&bad, "%.*s=%s", h_len, token, dot1) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    /* a length no base64 has (4k+1: 342 + 3) */
    assert_true(asprintf(&bad, "%sAAA", token) > 0);
    refuse_and_free(fx.v, bad, "malformed token");
    free(token);
}

static void test_noncanonical_base64(void **state)
{
    (void)state;
    char *token = std_token(SIGN_RS256);
    size_t len = strlen(token);
    /* 256 bytes -> 342 characters; the last one carries 4 unused bits: a
     * different character with the same 2 data bits decodes to the same
     * signature and must still be refused */
    assert_int_equal(len - (size_t)(strrchr(token, '.') - token) - 1, 342);
    char last = token[len - 1];
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int value = (int)(strchr(alphabet, last) - alphabet);
    token[len - 1] = alphabet[value | 1];
    assert_true(token[len - 1] != last);
    refuse(fx.v, token, "malformed token");
    free(token);
}

static void test_malformed_json(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();
    char *payload = claims_json(&c);
    const char *good = std_header(SIGN_RS256);

    /* header */
    refuse_and_free(fx.v, make_token("not json", payload, SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token("[\"RS256\"]", payload, SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"alg\":\"none\"}", payload, SIGN_RS256, fx.rsa),
                    "malformed token");
    refuse_and_free(fx.v, make_token("{\"kid\":\"rsa-1\"}", payload, SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token("{\"alg\":256,\"kid\":\"rsa-1\"}", payload, SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":7}", payload, SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\"} x", payload, SIGN_RS256, fx.rsa),
                    "malformed token");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"at+jwt\"}", payload, SIGN_RS256, fx.rsa),
                    "unsupported token type");
    refuse_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"crit\":[\"exp\"]}", payload, SIGN_RS256, fx.rsa),
                    "unsupported critical header");
    accept_and_free(fx.v, make_token("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"typ\":\"jwt\"}", payload, SIGN_RS256, fx.rsa),
                    &id);

    /* payload, properly signed: the structure is what is wrong */
    refuse_and_free(fx.v, make_token(good, "not json", SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token(good, "[1,2,3]", SIGN_RS256, fx.rsa), "malformed token");
    refuse_and_free(fx.v, make_token(good, "\"" ISS "\"", SIGN_RS256, fx.rsa), "malformed token");
    c.extra = "\"iss\":\"https://evil.example.com\""; /* a second iss */
    char *dup = claims_json(&c);
    refuse_and_free(fx.v, make_token(good, dup, SIGN_RS256, fx.rsa), "malformed token");
    free(dup);
    refuse_and_free(fx.v, make_token(good, "{\"iss\":\"a\\u0000b\"}", SIGN_RS256, fx.rsa), "malformed token");
    free(payload);
}

static void test_size_limit(void **state)
{
    (void)state;
    struct jwt_identity id;
    char *filler = malloc(JWT_TOKEN_MAX), *extra;
    struct claims c = std_claims();

    memset(filler, 'x', JWT_TOKEN_MAX - 1);
    filler[JWT_TOKEN_MAX - 1] = '\0';
    refuse(fx.v, filler, "malformed token");

    /* grow a signed token with a claim until it is exactly at, then just
     * over, the limit */
    size_t base_len;
    char *token = std_token(SIGN_RS256);
    base_len = strlen(token);
    free(token);
    size_t pad = (JWT_TOKEN_MAX - base_len - 40) / 4 * 3;
    bool near_limit_accepted = false, over_refused = false;
    for (int extra_bytes = 0; extra_bytes < 64 && !over_refused; extra_bytes++) {
        filler[pad + (size_t)extra_bytes] = '\0';
        assert_true(asprintf(&extra, "\"pad\":\"%s\"", filler) > 0);
        filler[pad + (size_t)extra_bytes] = 'x';
        c.extra = extra;
        token = token_with(SIGN_RS256, &c);
        free(extra);
        size_t len = strlen(token);
        if (len <= JWT_TOKEN_MAX) {
            near_limit_accepted |= len > JWT_TOKEN_MAX - 4;
            accept_and_free(fx.v, token, &id);
        } else {
            refuse_and_free(fx.v, token, "token too large");
            over_refused = true;
        }
    }
    assert_true(near_limit_accepted);
    assert_true(over_refused);
    char *huge = malloc(4 * JWT_TOKEN_MAX);
    memset(huge, 'A', 4 * JWT_TOKEN_MAX - 1);
    huge[4 * JWT_TOKEN_MAX - 1] = '\0';
    huge[10] = huge[20] = '.';
    refuse(fx.v, huge, "token too large");
    free(huge);
    free(filler);
}

static void test_groups_claim(void **state)
{
    (void)state;
    struct jwt_identity id;
    struct claims c = std_claims();

    c.groups = "\"gpu-admins\"";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "invalid groups claim");
    c.groups = "[\"ml-team\",7]";
    refuse_and_free(fx.v, token_with(SIGN_RS256, &c), "invalid groups claim");
    c.groups = "{\"gpu-admins\":true}";
    refuse_and_free(fx.v, token_with(SIGN_ES256, &c), "invalid groups claim");
    c.groups = "null";
    refuse_and_free(fx.v, token_with(SIGN_ES256, &c), "invalid groups claim");
    c.groups = NULL;
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    assert_int_equal(id.group_count, 0);
    c.groups = "[]";
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    assert_int_equal(id.group_count, 0);

    /* 40 groups: the first 32 are kept; a 128-byte name is skipped, not cut
     * down to a 127-byte prefix that might name another group */
    char groups[4096], name[160];
    size_t off = 0;
    memset(name, 'g', 128);
    name[128] = '\0';
    off += (size_t)snprintf(groups + off, sizeof groups - off, "[\"%s\",\"%.127s\"", name, name);
    for (int i = 0; i < 40; i++)
        off += (size_t)snprintf(groups + off, sizeof groups - off, ",\"team-%d\"", i);
    snprintf(groups + off, sizeof groups - off, "]");
    c.groups = groups;
    accept_and_free(fx.v, token_with(SIGN_RS256, &c), &id);
    assert_int_equal(id.group_count, JWT_GROUPS_MAX);
    assert_int_equal(strlen(id.groups[0]), 127);
    assert_string_equal(id.groups[1], "team-0");
    assert_string_equal(id.groups[31], "team-30");
}

/* ---- the JWK Set ------------------------------------------------------------------ */

static int create_err(const struct jwt_config *cfg, const char *jwks, char *err, size_t err_size)
{
    static char sentinel;
    struct jwt_verifier *v = (struct jwt_verifier *)&sentinel, *before = v; /* must stay untouched */
    int r = jwt_verifier_create(cfg, jwks, jwks ? strlen(jwks) : 0, &v, err, err_size);
    if (r != 0)
        assert_ptr_equal(v, before);
    else
        jwt_verifier_free(v);
    return r;
}

static void test_jwks_errors(void **state)
{
    (void)state;
    char err[256], *jwks;

    assert_int_equal(create_err(&std_config, "{\"keys\":[", err, sizeof err), GPUAAS_EPARSE);
    assert_non_null(strstr(err, "not JSON"));
    assert_int_equal(create_err(&std_config, "{\"keys\":{}}", err, sizeof err), GPUAAS_EINVAL);
    assert_int_equal(create_err(&std_config, "[]", err, sizeof err), GPUAAS_EINVAL);
    assert_int_equal(create_err(&std_config, "{\"keys\":[],\"keys\":[]}", err, sizeof err), GPUAAS_EPARSE);
    assert_int_equal(create_err(&std_config, "{\"keys\":[]}", err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "no usable key"));
    assert_int_equal(create_err(&std_config, NULL, err, sizeof err), GPUAAS_EINVAL);
    assert_int_equal(create_err(&std_config, "{\"keys\":[7]}", err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "keys[0]"));

    /* a 1024-bit RSA key and a P-384 key are ignored, leaving nothing */
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(weak);
    assert_non_null(p384);
    jwks = jwks_of(2, jwk_rsa(weak, "weak"), jwk_ec(p384, "p384", "P-384", 48));
    assert_int_equal(create_err(&std_config, jwks, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "no usable key"));
    free(jwks);
    /* P-384 coordinates labelled P-256 */
    jwks = jwks_of(1, jwk_ec(p384, "p384", "P-256", 48));
    assert_int_equal(create_err(&std_config, jwks, err, sizeof err), GPUAAS_EINVAL);
    free(jwks);
    EVP_PKEY_free(weak);
    EVP_PKEY_free(p384);

    /* duplicate kid of one type */
    jwks = jwks_of(2, jwk_rsa(fx.rsa, "k"), jwk_rsa(fx.rsa_b, "k"));
    assert_int_equal(create_err(&std_config, jwks, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "two RSA keys"));
    free(jwks);
    /* same kid, different types: allowed, alg picks */
    jwks = jwks_of(2, jwk_rsa(fx.rsa, "k"), jwk_ec(fx.ec, "k", "P-256", 32));
    assert_int_equal(create_err(&std_config, jwks, err, sizeof err), 0);
    free(jwks);

    /* a point off the curve: y of the real key with one bit flipped */
    char *ec = jwk_ec(fx.ec, "ec-1", "P-256", 32), *y = strstr(ec, "\"y\":\"") + 5;
    y[3] = y[3] == 'A' ? 'B' : 'A';
    jwks = jwks_of(1, ec);
    assert_int_equal(create_err(&std_config, jwks, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "not a valid EC public key"));
    free(jwks);
    /* bad base64 in n; e = 1 is no RSA key */
    assert_int_equal(create_err(&std_config, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"a+b\",\"e\":\"AQAB\"}]}", err, sizeof err),
                     GPUAAS_EINVAL);
    char *rsa = jwk_rsa(fx.rsa, "rsa-1"), *e = strstr(rsa, "\"e\":\"AQAB\"");
    assert_non_null(e);
    memcpy(e, "\"e\":\"AQ\"  ", 10);
    jwks = jwks_of(1, rsa);
    assert_int_equal(create_err(&std_config, jwks, err, sizeof err), GPUAAS_EINVAL);
    free(jwks);

    /* limits: 65 keys, 256 KiB */
    char *many = NULL;
    size_t many_size = 0;
    FILE *f = open_memstream(&many, &many_size);
    fputs("{\"keys\":[", f);
    for (int i = 0; i <= JWT_KEYS_MAX; i++)
        fprintf(f, "%s{\"kty\":\"oct\",\"kid\":\"%d\"}", i ? "," : "", i);
    fputs("]}", f);
    fclose(f);
    assert_int_equal(create_err(&std_config, many, err, sizeof err), GPUAAS_ETOOBIG);
    free(many);
    char *big = malloc(JWT_JWKS_MAX + 2);
    memset(big, ' ', JWT_JWKS_MAX + 1);
    big[JWT_JWKS_MAX + 1] = '\0';
    assert_int_equal(create_err(&std_config, big, err, sizeof err), GPUAAS_ETOOBIG);
    free(big);

    /* configuration */
    struct jwt_config cfg = std_config;
    cfg.issuer = NULL;
    assert_int_equal(create_err(&cfg, fx.jwks, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "issuer"));
    cfg = std_config;
    cfg.audience = "";
    assert_int_equal(create_err(&cfg, fx.jwks, err, sizeof err), GPUAAS_EINVAL);
    assert_non_null(strstr(err, "audience"));
    cfg = std_config;
    cfg.leeway_s = JWT_LEEWAY_MAX_S + 1;
    assert_int_equal(create_err(&cfg, fx.jwks, err, sizeof err), GPUAAS_EINVAL);
    assert_int_equal(create_err(NULL, fx.jwks, NULL, 0), GPUAAS_EINVAL);
    jwt_verifier_free(NULL);
}

/* A one-connection HTTP server on loopback that answers with a canned reply. */
struct http_stub {
    int listen_fd;
    int port;
    const char *status_line;
    const char *body;
    size_t body_len;
    pthread_t thread;
};

static void *http_stub_run(void *arg)
{
    struct http_stub *stub = arg;
    char request[4096], head[256];
    struct timeval tv = {.tv_sec = 5};
    int fd = accept(stub->listen_fd, NULL, NULL);

    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t got = 0;
    while (got < sizeof request - 1) {
        ssize_t n = recv(fd, request + got, sizeof request - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        request[got] = '\0';
        if (strstr(request, "\r\n\r\n"))
            break;
    }
    int head_len = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                            stub->status_line, stub->body_len);
    send(fd, head, (size_t)head_len, MSG_NOSIGNAL);
    for (size_t sent = 0; sent < stub->body_len;) {
        ssize_t n = send(fd, stub->body + sent, stub->body_len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    close(fd);
    return NULL;
}

static void http_stub_start(struct http_stub *stub, const char *status_line, const char *body, size_t body_len)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t addr_len = sizeof addr;

    stub->status_line = status_line;
    stub->body = body;
    stub->body_len = body_len;
    stub->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(stub->listen_fd >= 0);
    assert_int_equal(bind(stub->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(stub->listen_fd, 1), 0);
    assert_int_equal(getsockname(stub->listen_fd, (struct sockaddr *)&addr, &addr_len), 0);
    stub->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&stub->thread, NULL, http_stub_run, stub), 0);
}

static void http_stub_stop(struct http_stub *stub)
{
    pthread_join(stub->thread, NULL);
    close(stub->listen_fd);
}

static int load_from_stub(const char *status_line, const char *body, size_t body_len, struct jwt_verifier **v,
                          char *err, size_t err_size)
{
    struct http_stub stub;
    char url[128];

    http_stub_start(&stub, status_line, body, body_len);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/realms/main/certs", stub.port);
    int r = jwt_verifier_load(&std_config, url, v, err, err_size);
    http_stub_stop(&stub);
    return r;
}

static void test_load(void **state)
{
    (void)state;
    struct jwt_verifier *v = NULL;
    struct jwt_identity id;
    char path[] = "/tmp/gpuaas-test-jwks-XXXXXX", err[256];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, fx.jwks, strlen(fx.jwks)), (ssize_t)strlen(fx.jwks));
    close(fd);
    assert_int_equal(jwt_verifier_load(&std_config, path, &v, err, sizeof err), 0);
    accept_and_free(v, std_token(SIGN_RS256), &id);
    accept_and_free(v, std_token(SIGN_ES256), &id);
    assert_string_equal(id.username, "alice@example.com");
    jwt_verifier_free(v);
    v = NULL;
    unlink(path);

    assert_int_equal(jwt_verifier_load(&std_config, path, &v, err, sizeof err), GPUAAS_EIO);
    assert_non_null(strstr(err, path));
    assert_int_equal(jwt_verifier_load(&std_config, "/tmp", &v, err, sizeof err), GPUAAS_EIO);
    assert_int_equal(jwt_verifier_load(&std_config, "", &v, err, sizeof err), GPUAAS_EINVAL);
    /* keys over plain http from another host could be swapped in transit */
    assert_int_equal(jwt_verifier_load(&std_config, "http://idp.example.com/certs", &v, err, sizeof err),
                     GPUAAS_EINVAL);
    assert_non_null(strstr(err, "https"));
    assert_null(v);

    /* over http from loopback: served, refused with a status, too big */
    assert_int_equal(load_from_stub("200 OK", fx.jwks, strlen(fx.jwks), &v, err, sizeof err), 0);
    accept_and_free(v, std_token(SIGN_ES256), &id);
    jwt_verifier_free(v);
    v = NULL;
    assert_int_equal(load_from_stub("404 Not Found", "nope", 4, &v, err, sizeof err), GPUAAS_EIO);
    assert_non_null(strstr(err, "404"));
    char *big = malloc(JWT_JWKS_MAX + 100);
    memset(big, ' ', JWT_JWKS_MAX + 100);
    assert_int_equal(load_from_stub("200 OK", big, JWT_JWKS_MAX + 100, &v, err, sizeof err), GPUAAS_ETOOBIG);
    free(big);
    assert_int_equal(load_from_stub("200 OK", "{}", 2, &v, err, sizeof err), GPUAAS_EINVAL);
    assert_null(v);
}

/* ---- robustness ------------------------------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static char random_char(void)
{
    static const char likely[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    if (rng() % 4)
        return likely[rng() % (sizeof likely - 1)];
    return (char)(1 + rng() % 255);
}

static void mutate(char *buf, size_t *len, size_t cap)
{
    size_t at = *len ? rng() % *len : 0;
    switch (rng() % 7) {
    case 0: /* replace */
        if (*len)
            buf[at] = random_char();
        break;
    case 1: /* delete */
        if (*len) {
            memmove(buf + at, buf + at + 1, *len - at);
            (*len)--;
        }
        break;
    case 2: /* insert */
        if (*len + 1 < cap) {
            memmove(buf + at + 1, buf + at, *len - at + 1);
            buf[at] = random_char();
            (*len)++;
        }
        break;
    case 3: /* truncate */
        *len = at;
        buf[at] = '\0';
        break;
    case 4: /* swap */
        if (*len) {
            size_t other = rng() % *len;
            char c = buf[at];
            buf[at] = buf[other];
            buf[other] = c;
        }
        break;
    case 5: /* flip a bit */
        if (*len) {
            char c = (char)(buf[at] ^ (char)(1u << (rng() % 8)));
            buf[at] = c ? c : 'A';
        }
        break;
    default: { /* append a copy of a slice (e.g. a second payload) */
        size_t n = *len ? rng() % (*len - at + 1) : 0;
        if (*len + n + 1 < cap) {
            memmove(buf + *len, buf + at, n);
            *len += n;
            buf[*len] = '\0';
        }
        break;
    }
    }
}

static void test_fuzz_mutations(void **state)
{
    (void)state;
    char *originals[2] = {std_token(SIGN_RS256), std_token(SIGN_ES256)};
    char buf[2 * JWT_TOKEN_MAX];
    unsigned refused = 0, unchanged = 0;

    for (int i = 0; i < 2000; i++) {
        const char *orig = originals[i % 2];
        size_t len = strlen(orig);
        struct jwt_identity id;
        const char *why = NULL;

        memcpy(buf, orig, len + 1);
        for (uint64_t n = 1 + rng() % 3; n > 0; n--)
            mutate(buf, &len, sizeof buf);
        int r = jwt_verify(fx.v, buf, NOW, &id, &why);
        if (strcmp(buf, orig) == 0) {
            assert_int_equal(r, 0);
            unchanged++;
        } else {
            if (r != GPUAAS_EAUTH)
                fail_msg("mutation %d accepted: %s", i, buf);
            assert_non_null(why);
            refused++;
        }
    }
    assert_int_equal(refused + unchanged, 2000);
    assert_true(refused > 1800);
    free(originals[0]);
    free(originals[1]);
}

struct worker {
    const char *tokens[2];
    unsigned failures;
};

static void *verify_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 200; i++) {
        struct jwt_identity id;
        const char *why;
        if (jwt_verify(fx.v, w->tokens[i % 2], NOW, &id, &why) != 0 || strcmp(id.groups[1], "gpu-admins") != 0)
            w->failures++;
    }
    return NULL;
}

static void test_concurrent_verify(void **state)
{
    (void)state;
    char *rs = std_token(SIGN_RS256), *es = std_token(SIGN_ES256);
    struct worker workers[4];
    pthread_t threads[4];

    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){.tokens = {rs, es}};
        assert_int_equal(pthread_create(&threads[i], NULL, verify_worker, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].failures, 0);
    }
    free(rs);
    free(es);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rs256_valid),
        cmocka_unit_test(test_es256_valid),
        cmocka_unit_test(test_username_and_claim_names),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_not_yet_valid),
        cmocka_unit_test(test_wrong_audience),
        cmocka_unit_test(test_wrong_issuer),
        cmocka_unit_test(test_alg_none),
        cmocka_unit_test(test_hs256_key_confusion),
        cmocka_unit_test(test_alg_key_type_mismatch),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_malformed_structure),
        cmocka_unit_test(test_noncanonical_base64),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_groups_claim),
        cmocka_unit_test(test_jwks_errors),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_concurrent_verify),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
