/* OIDC ID-token verification: compact JWS, RS256 and ES256 only. See
 * src/api/jwt.h for the contract and docs/sso.md for the configuration. */
#include "api/jwt.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpuaas/error.h"

#define JWT_KID_SIZE 256
#define JWT_CLAIM_NAME_MAX 127
#define JWT_CONFIG_STRING_MAX 1024
#define RSA_BITS_MIN 2048
#define RSA_BITS_MAX 8192
/* base64url length of an 8192-bit modulus with one leading zero byte */
#define RSA_N_B64_MAX ((RSA_BITS_MAX / 8 + 1) * 4 / 3 + 2)
#define RSA_E_BYTES_MAX 32
#define P256_COORD_SIZE 32
#define ES256_SIG_SIZE (2 * P256_COORD_SIZE)
#define FETCH_TIMEOUT_MS 5000L

enum jwt_kty { JWT_KTY_RSA, JWT_KTY_EC };

struct jwt_key {
    enum jwt_kty kty;
    bool has_kid;
    char kid[JWT_KID_SIZE];
    EVP_PKEY *pkey; /* owned */
};

struct jwt_verifier {
    char *issuer; /* all strings owned */
    char *audience;
    char *groups_claim;
    char *username_claim;
    int64_t leeway_s;
    unsigned key_count;
    struct jwt_key keys[JWT_KEYS_MAX];
};

__attribute__((format(printf, 4, 5))) static int fail(char *err, size_t err_size, int code, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- base64url --------------------------------------------------------- */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Strict base64url without padding: only the URL-safe alphabet, no '=', and
 * the unused low bits of the last character zero, so that every byte string
 * has exactly one accepted encoding (a changed token is a different token). */
static bool b64url_decode(const char *in, size_t len, unsigned char *out, size_t out_size, size_t *ret_len)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > out_size)
        return false;
    for (size_t i = 0; i < len; i++) {
        int value = b64url_value((unsigned char)in[i]);
        if (value < 0)
            return false;
        acc = (acc << 6 | (uint32_t)value) & 0xffffu;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return false;
    *ret_len = o;
    return true;
}

/* ---- keys ---------------------------------------------------------------- */

/* Builds a public key of `type` from the parameters in bld and runs
 * OpenSSL's public-key checks (RSA: odd modulus, sane exponent, not a prime;
 * EC: point on the curve). */
static int pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **ret)
{
    int r = GPUAAS_ENOMEM;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL), *check = NULL;
    EVP_PKEY *pkey = NULL;

    if (!params || !ctx)
        goto out;
    r = GPUAAS_EINVAL;
    if (EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        goto out;
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!check || EVP_PKEY_public_check(check) != 1)
        goto out;
    *ret = pkey;
    pkey = NULL;
    r = 0;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    ERR_clear_error();
    return r;
}

static int rsa_key(const unsigned char *n, size_t n_len, const unsigned char *e, size_t e_len, EVP_PKEY **ret)
{
    int r = GPUAAS_ENOMEM;
    BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();

    if (!bn_n || !bn_e || !bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        goto out;
    r = pkey_from_params("RSA", bld, ret);
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_e);
    BN_free(bn_n);
    return r;
}

static int p256_key(const unsigned char x[P256_COORD_SIZE], const unsigned char y[P256_COORD_SIZE], EVP_PKEY **ret)
{
    int r = GPUAAS_ENOMEM;
    unsigned char point[1 + 2 * P256_COORD_SIZE] = {0x04}; /* uncompressed */
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();

    memcpy(point + 1, x, P256_COORD_SIZE);
    memcpy(point + 1 + P256_COORD_SIZE, y, P256_COORD_SIZE);
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point))
        goto out;
    r = pkey_from_params("EC", bld, ret);
out:
    OSSL_PARAM_BLD_free(bld);
    return r;
}

/* Decodes the base64url string member `name` of a JWK into out. */
static bool jwk_bytes(const json_t *jwk, const char *name, unsigned char *out, size_t out_size, size_t *ret_len)
{
    const json_t *value = json_object_get(jwk, name);
    return json_is_string(value) &&
           b64url_decode(json_string_value(value), json_string_length(value), out, out_size, ret_len);
}

static unsigned bit_length(const unsigned char *bytes, size_t len)
{
    while (len > 0 && bytes[0] == 0) {
        bytes++;
        len--;
    }
    if (len == 0)
        return 0;
    unsigned bits = (unsigned)(len - 1) * 8;
    for (unsigned char top = bytes[0]; top; top >>= 1)
        bits++;
    return bits;
}

/* Adds keys[index] of the JWK Set to v, or skips it when it is not a key
 * this verifier could use. A usable-looking key that is broken is an error:
 * silently dropping it would only show up later as "unknown key id". */
static int add_jwk(struct jwt_verifier *v, size_t index, const json_t *jwk, char *err, size_t err_size)
{
    int r = 0;
    struct jwt_key key = {0};
    const json_t *kid = json_object_get(jwk, "kid"), *use = json_object_get(jwk, "use");
    const json_t *alg = json_object_get(jwk, "alg");
    const char *kty = json_string_value(json_object_get(jwk, "kty")), *want_alg;

    if (!json_is_object(jwk))
        return fail(err, err_size, GPUAAS_EINVAL, "JWKS keys[%zu] is not an object", index);
    if (!kty)
        return fail(err, err_size, GPUAAS_EINVAL, "JWKS keys[%zu] has no \"kty\" string", index);
    if (strcmp(kty, "RSA") == 0) {
        key.kty = JWT_KTY_RSA;
        want_alg = "RS256";
    } else if (strcmp(kty, "EC") == 0) {
        key.kty = JWT_KTY_EC;
        want_alg = "ES256";
    } else {
        return 0; /* oct, OKP, ...: not ours */
    }
    if (use && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0))
        return 0; /* an encryption key */
    if (alg && !(json_is_string(alg) && strcmp(json_string_value(alg), want_alg) == 0))
        return 0; /* RS384, PS256, ES384, ...: not ours */
    if (kid) {
        size_t kid_len = json_string_length(kid);
        if (!json_is_string(kid) || kid_len == 0 || kid_len >= sizeof key.kid)
            return fail(err, err_size, GPUAAS_EINVAL, "JWKS keys[%zu]: \"kid\" must be a string of 1 to %d bytes",
                        index, JWT_KID_SIZE - 1);
        memcpy(key.kid, json_string_value(kid), kid_len + 1);
        key.has_kid = true;
    }

    if (key.kty == JWT_KTY_RSA) {
        unsigned char n[RSA_BITS_MAX / 8 + 1], e[RSA_E_BYTES_MAX];
        size_t n_len, e_len;
        const json_t *n_json = json_object_get(jwk, "n");
        if (json_is_string(n_json) && json_string_length(n_json) > RSA_N_B64_MAX)
            return 0; /* over 8192 bits: more work per token than we accept */
        if (!jwk_bytes(jwk, "n", n, sizeof n, &n_len))
            return fail(err, err_size, GPUAAS_EINVAL, "JWKS keys[%zu] (kid \"%s\"): \"n\" is not base64url", index,
                        key.kid);
        if (!jwk_bytes(jwk, "e", e, sizeof e, &e_len) || e_len == 0)
            return fail(err, err_size, GPUAAS_EINVAL, "JWKS keys[%zu] (kid \"%s\"): bad \"e\"", index, key.kid);
        unsigned bits = bit_length(n, n_len);
        if (bits < RSA_BITS_MIN || bits > RSA_BITS_MAX)
            return 0; /* too weak (or too big) to trust */
        r = rsa_key(n, n_len, e, e_len, &key.pkey);
    } else {
        unsigned char x[P256_COORD_SIZE], y[P256_COORD_SIZE];
        size_t x_len, y_len;
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        if (!crv || strcmp(crv, "P-256") != 0)
            return 0; /* P-384, P-521, secp256k1: not ES256 */
        if (!jwk_bytes(jwk, "x", x, sizeof x, &x_len) || x_len != sizeof x ||
            !jwk_bytes(jwk, "y", y, sizeof y, &y_len) || y_len != sizeof y)
            return fail(err, err_size, GPUAAS_EINVAL,
                        "JWKS keys[%zu] (kid \"%s\"): \"x\" and \"y\" must be 32 bytes of base64url", index, key.kid);
        r = p256_key(x, y, &key.pkey);
    }
    if (r == GPUAAS_EINVAL)
        return fail(err, err_size, r, "JWKS keys[%zu] (kid \"%s\"): not a valid %s public key", index, key.kid, kty);
    if (r < 0)
        return fail(err, err_size, r, "JWKS keys[%zu]: out of memory", index);

    for (unsigned i = 0; i < v->key_count; i++) {
        const struct jwt_key *other = &v->keys[i];
        if (other->kty == key.kty && other->has_kid == key.has_kid && strcmp(other->kid, key.kid) == 0) {
            EVP_PKEY_free(key.pkey);
            return fail(err, err_size, GPUAAS_EINVAL, "JWKS keys[%zu]: two %s keys with kid \"%s\"", index, kty,
                        key.kid);
        }
    }
    v->keys[v->key_count++] = key;
    return 0;
}

static int parse_jwks(struct jwt_verifier *v, const char *jwks, size_t len, char *err, size_t err_size)
{
    int r = 0;
    json_error_t jerr;
    json_t *root = NULL;
    const json_t *keys, *jwk;
    size_t index;

    if (!jwks) {
        r = fail(err, err_size, GPUAAS_EINVAL, "no JWKS given");
        goto out;
    }
    if (len > JWT_JWKS_MAX) {
        r = fail(err, err_size, GPUAAS_ETOOBIG, "JWKS is %zu bytes, over the limit of %d", len, JWT_JWKS_MAX);
        goto out;
    }
    root = json_loadb(jwks, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        r = fail(err, err_size, GPUAAS_EPARSE, "JWKS is not JSON: line %d: %s", jerr.line, jerr.text);
        goto out;
    }
    keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        r = fail(err, err_size, GPUAAS_EINVAL, "JWKS is not an object with a \"keys\" array");
        goto out;
    }
    if (json_array_size(keys) > JWT_KEYS_MAX) {
        r = fail(err, err_size, GPUAAS_ETOOBIG, "JWKS has %zu keys, over the limit of %d", json_array_size(keys),
                 JWT_KEYS_MAX);
        goto out;
    }
    json_array_foreach(keys, index, jwk) {
        r = add_jwk(v, index, jwk, err, err_size);
        if (r < 0)
            goto out;
    }
    if (v->key_count == 0)
        r = fail(err, err_size, GPUAAS_EINVAL, "JWKS has no usable key (RSA >= 2048 bits or EC P-256, for signing)");
out:
    json_decref(root);
    return r;
}

/* ---- verifier -------------------------------------------------------------- */

static int check_config(const struct jwt_config *cfg, char *err, size_t err_size)
{
    if (!cfg)
        return fail(err, err_size, GPUAAS_EINVAL, "no SSO configuration");
    if (!cfg->issuer || !*cfg->issuer || strlen(cfg->issuer) > JWT_CONFIG_STRING_MAX)
        return fail(err, err_size, GPUAAS_EINVAL, "issuer is required (1 to %d bytes)", JWT_CONFIG_STRING_MAX);
    if (!cfg->audience || !*cfg->audience || strlen(cfg->audience) > JWT_CONFIG_STRING_MAX)
        return fail(err, err_size, GPUAAS_EINVAL, "audience is required (1 to %d bytes)", JWT_CONFIG_STRING_MAX);
    if (cfg->groups_claim && strlen(cfg->groups_claim) > JWT_CLAIM_NAME_MAX)
        return fail(err, err_size, GPUAAS_EINVAL, "groups_claim is over %d bytes", JWT_CLAIM_NAME_MAX);
    if (cfg->username_claim && strlen(cfg->username_claim) > JWT_CLAIM_NAME_MAX)
        return fail(err, err_size, GPUAAS_EINVAL, "username_claim is over %d bytes", JWT_CLAIM_NAME_MAX);
    if (cfg->leeway_s > JWT_LEEWAY_MAX_S)
        return fail(err, err_size, GPUAAS_EINVAL, "leeway of %lld s is over the limit of %d s",
                    (long long)cfg->leeway_s, JWT_LEEWAY_MAX_S);
    return 0;
}

static char *dup_or(const char *text, const char *fallback)
{
    return strdup(text && *text ? text : fallback);
}

int jwt_verifier_create(const struct jwt_config *cfg, const char *jwks, size_t jwks_len, struct jwt_verifier **ret,
                        char *err, size_t err_size)
{
    struct jwt_verifier *v = NULL;
    int r;

    if (err && err_size)
        err[0] = '\0';
    r = check_config(cfg, err, err_size);
    if (r < 0)
        goto out;
    v = calloc(1, sizeof *v);
    if (v) {
        v->issuer = strdup(cfg->issuer);
        v->audience = strdup(cfg->audience);
        v->groups_claim = dup_or(cfg->groups_claim, "groups");
        v->username_claim = dup_or(cfg->username_claim, "email");
    }
    if (!v || !v->issuer || !v->audience || !v->groups_claim || !v->username_claim) {
        r = fail(err, err_size, GPUAAS_ENOMEM, "out of memory");
        goto out;
    }
    v->leeway_s = cfg->leeway_s == 0 ? JWT_LEEWAY_DEFAULT_S : cfg->leeway_s < 0 ? 0 : cfg->leeway_s;
    r = parse_jwks(v, jwks, jwks_len, err, err_size);
    if (r < 0)
        goto out;
    *ret = v;
    v = NULL;
out:
    jwt_verifier_free(v);
    return r;
}

void jwt_verifier_free(struct jwt_verifier *v)
{
    if (!v)
        return;
    for (unsigned i = 0; i < v->key_count; i++)
        EVP_PKEY_free(v->keys[i].pkey);
    free(v->issuer);
    free(v->audience);
    free(v->groups_claim);
    free(v->username_claim);
    free(v);
}

/* ---- loading the JWK Set ------------------------------------------------- */

static int read_jwks_file(const char *path, char **ret_text, size_t *ret_len, char *err, size_t err_size)
{
    int r = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    char *text = NULL;
    size_t len = 0;
    struct stat st;

    if (fd < 0) {
        r = fail(err, err_size, GPUAAS_EIO, "cannot open JWKS file %s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        r = fail(err, err_size, GPUAAS_EIO, "JWKS file %s is not a regular file", path);
        goto out;
    }
    text = malloc(JWT_JWKS_MAX + 1);
    if (!text) {
        r = fail(err, err_size, GPUAAS_ENOMEM, "out of memory");
        goto out;
    }
    /* read one byte past the limit to tell "exactly at" from "over" */
    while (len <= JWT_JWKS_MAX) {
        ssize_t n = read(fd, text + len, JWT_JWKS_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = fail(err, err_size, GPUAAS_EIO, "cannot read JWKS file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > JWT_JWKS_MAX) {
        r = fail(err, err_size, GPUAAS_ETOOBIG, "JWKS file %s is over %d bytes", path, JWT_JWKS_MAX);
        goto out;
    }
    *ret_text = text;
    *ret_len = len;
    text = NULL;
out:
    free(text);
    if (fd >= 0)
        close(fd);
    return r;
}

struct fetch_sink {
    char *buf; /* JWT_JWKS_MAX bytes */
    size_t len;
    bool too_big;
};

static size_t fetch_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct fetch_sink *sink = userdata;
    size_t n = size * nmemb;

    if (n > JWT_JWKS_MAX - sink->len) {
        sink->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    memcpy(sink->buf + sink->len, data, n);
    sink->len += n;
    return n;
}

static bool is_loopback_host(const char *host)
{
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0;
}

static int fetch_jwks_url(const char *url, char **ret_text, size_t *ret_len, char *err, size_t err_size)
{
    int r = 0;
    char curl_err[CURL_ERROR_SIZE] = "";
    struct fetch_sink sink = {0};
    CURLU *parsed = curl_url();
    CURL *curl = NULL;
    char *scheme = NULL, *host = NULL;
    CURLcode code;
    long status = 0;

    if (!parsed) {
        r = fail(err, err_size, GPUAAS_ENOMEM, "out of memory");
        goto out;
    }
    if (curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        r = fail(err, err_size, GPUAAS_EINVAL, "JWKS URL %s is not a valid URL", url);
        goto out;
    }
    /* keys fetched over plain http could be swapped by anyone on the path */
    if (strcasecmp(scheme, "https") != 0 && !(strcasecmp(scheme, "http") == 0 && is_loopback_host(host))) {
        r = fail(err, err_size, GPUAAS_EINVAL, "JWKS URL %s must use https (plain http only for localhost)", url);
        goto out;
    }
    sink.buf = malloc(JWT_JWKS_MAX);
    curl = curl_easy_init();
    if (!sink.buf || !curl) {
        r = fail(err, err_size, GPUAAS_ENOMEM, "out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_CURLU, parsed);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)JWT_JWKS_MAX);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "gpuaas-sso");
    code = curl_easy_perform(curl);
    if (sink.too_big || code == CURLE_FILESIZE_EXCEEDED) {
        r = fail(err, err_size, GPUAAS_ETOOBIG, "JWKS at %s is over %d bytes", url, JWT_JWKS_MAX);
        goto out;
    }
    if (code == CURLE_HTTP_RETURNED_ERROR) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        r = fail(err, err_size, GPUAAS_EIO, "fetching JWKS from %s: HTTP status %ld", url, status);
        goto out;
    }
    if (code != CURLE_OK) {
        r = fail(err, err_size, GPUAAS_EIO, "fetching JWKS from %s: %s", url,
                 curl_err[0] ? curl_err : curl_easy_strerror(code));
        goto out;
    }
    *ret_text = sink.buf;
    *ret_len = sink.len;
    sink.buf = NULL;
out:
    free(sink.buf);
    curl_easy_cleanup(curl);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(parsed);
    return r;
}

int jwt_verifier_load(const struct jwt_config *cfg, const char *jwks_path_or_url, struct jwt_verifier **ret,
                      char *err, size_t err_size)
{
    char *text = NULL;
    size_t len = 0;
    int r;

    if (err && err_size)
        err[0] = '\0';
    r = check_config(cfg, err, err_size);
    if (r < 0)
        goto out;
    if (!jwks_path_or_url || !*jwks_path_or_url) {
        r = fail(err, err_size, GPUAAS_EINVAL, "jwks (a file path or https URL) is required");
        goto out;
    }
    if (strncasecmp(jwks_path_or_url, "https://", 8) == 0 || strncasecmp(jwks_path_or_url, "http://", 7) == 0)
        r = fetch_jwks_url(jwks_path_or_url, &text, &len, err, err_size);
    else
        r = read_jwks_file(jwks_path_or_url, &text, &len, err, err_size);
    if (r < 0)
        goto out;
    r = jwt_verifier_create(cfg, text, len, ret, err, err_size);
out:
    free(text);
    return r;
}

/* ---- verification ----------------------------------------------------------- */

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t sum;
    if (__builtin_add_overflow(a, b, &sum))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return sum;
}

/* The reason for a refused "alg"; static strings name the usual suspects. */
static const char *unsupported_alg(const char *alg)
{
    static const char *const known[][2] = {
        {"none", "unsupported alg 'none'"},   {"HS256", "unsupported alg 'HS256'"},
        {"HS384", "unsupported alg 'HS384'"}, {"HS512", "unsupported alg 'HS512'"},
        {"RS384", "unsupported alg 'RS384'"}, {"RS512", "unsupported alg 'RS512'"},
        {"PS256", "unsupported alg 'PS256'"}, {"ES384", "unsupported alg 'ES384'"},
        {"ES512", "unsupported alg 'ES512'"}, {"EdDSA", "unsupported alg 'EdDSA'"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcasecmp(alg, known[i][0]) == 0)
            return known[i][1];
    return "unsupported alg";
}

static const struct jwt_key *find_key(const struct jwt_verifier *v, enum jwt_kty kty, const char *kid,
                                      const char **ret_why)
{
    const struct jwt_key *only = NULL;
    unsigned matches = 0;
    bool other_type = false;

    for (unsigned i = 0; i < v->key_count; i++) {
        const struct jwt_key *key = &v->keys[i];
        if (kid && !(key->has_kid && strcmp(key->kid, kid) == 0))
            continue;
        if (key->kty != kty) {
            other_type = true;
            continue;
        }
        if (kid)
            return key;
        only = key;
        matches++;
    }
    if (!kid && matches == 1)
        return only;
    if (kid)
        *ret_why = other_type ? "alg does not match the key's type" : "unknown key id";
    else
        *ret_why = matches ? "token has no key id" : "no key for this alg";
    return NULL;
}

/* 0 when sig is a valid signature of data by key, GPUAAS_EAUTH when not. */
static int verify_signature(const struct jwt_key *key, const unsigned char *data, size_t data_len,
                            const unsigned char *sig, size_t sig_len)
{
    int r = GPUAAS_EAUTH;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    ECDSA_SIG *ecdsa = NULL;
    BIGNUM *bn_r = NULL, *bn_s = NULL;
    unsigned char *der = NULL;
    int der_len;

    if (!md)
        goto out;
    if (key->kty == JWT_KTY_RSA) {
        if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey))
            goto out;
        if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key->pkey) != 1 ||
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto out;
        if (EVP_DigestVerify(md, sig, sig_len, data, data_len) == 1)
            r = 0;
        goto out;
    }
    /* JWS carries ECDSA as r||s, 32 bytes each; OpenSSL wants DER */
    if (sig_len != ES256_SIG_SIZE)
        goto out;
    ecdsa = ECDSA_SIG_new();
    bn_r = BN_bin2bn(sig, P256_COORD_SIZE, NULL);
    bn_s = BN_bin2bn(sig + P256_COORD_SIZE, P256_COORD_SIZE, NULL);
    if (!ecdsa || !bn_r || !bn_s || ECDSA_SIG_set0(ecdsa, bn_r, bn_s) != 1)
        goto out;
    bn_r = bn_s = NULL; /* owned by ecdsa now */
    der_len = i2d_ECDSA_SIG(ecdsa, &der);
    if (der_len <= 0)
        goto out;
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
        EVP_DigestVerify(md, der, (size_t)der_len, data, data_len) == 1)
        r = 0;
out:
    OPENSSL_free(der);
    BN_free(bn_r);
    BN_free(bn_s);
    ECDSA_SIG_free(ecdsa);
    EVP_MD_CTX_free(md);
    ERR_clear_error(); /* the per-thread queue would keep a refused token's errors */
    return r;
}

/* A NumericDate claim: absent (*ret_present false), a number (saturated to
 * int64), or GPUAAS_EAUTH for any other type. */
static int claim_time(const json_t *claims, const char *name, bool *ret_present, int64_t *ret_value)
{
    const json_t *value = json_object_get(claims, name);
    double d;

    *ret_present = value != NULL;
    if (!value)
        return 0;
    if (json_is_integer(value)) {
        *ret_value = (int64_t)json_integer_value(value);
        return 0;
    }
    if (!json_is_real(value))
        return GPUAAS_EAUTH;
    d = json_real_value(value); /* jansson never yields NaN or infinity */
    if (d >= 9223372036854775807.0)
        *ret_value = INT64_MAX;
    else if (d <= -9223372036854775807.0)
        *ret_value = INT64_MIN;
    else
        *ret_value = (int64_t)d;
    return 0;
}

/* Copies a claim string that is 1 to size-1 bytes without control
 * characters; false for anything else. */
static bool copy_clean(const json_t *value, char *out, size_t size)
{
    size_t len = json_string_length(value);
    const char *text = json_string_value(value);

    if (!text || len == 0 || len >= size)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            return false;
    memcpy(out, text, len + 1);
    return true;
}

static bool audience_ok(const json_t *aud, const char *audience)
{
    size_t index;
    const json_t *item;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), audience) == 0;
    json_array_foreach(aud, index, item) {
        if (json_is_string(item) && strcmp(json_string_value(item), audience) == 0)
            return true;
    }
    return false;
}

/* Checks the verified claims and fills *id; returns 0 or GPUAAS_EAUTH with
 * *ret_why set. */
static int check_claims(const struct jwt_verifier *v, const json_t *claims, int64_t now_s, struct jwt_identity *id,
                        const char **ret_why)
{
    const json_t *iss = json_object_get(claims, "iss"), *azp = json_object_get(claims, "azp");
    const json_t *groups = json_object_get(claims, v->groups_claim);
    const json_t *sub = json_object_get(claims, "sub"), *username = json_object_get(claims, v->username_claim);
    const json_t *verified = json_object_get(claims, "email_verified"), *group;
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat;
    size_t index;

    if (!json_is_string(iss) || strcmp(json_string_value(iss), v->issuer) != 0) {
        *ret_why = "wrong issuer";
        return GPUAAS_EAUTH;
    }
    if (!audience_ok(json_object_get(claims, "aud"), v->audience)) {
        *ret_why = "wrong audience";
        return GPUAAS_EAUTH;
    }
    /* OIDC Core 3.1.3.7: an authorized party, if named, must be us */
    if (azp && !(json_is_string(azp) && strcmp(json_string_value(azp), v->audience) == 0)) {
        *ret_why = "wrong authorized party";
        return GPUAAS_EAUTH;
    }
    if (claim_time(claims, "exp", &has_exp, &exp) < 0 || claim_time(claims, "nbf", &has_nbf, &nbf) < 0 ||
        claim_time(claims, "iat", &has_iat, &iat) < 0) {
        *ret_why = "malformed time claim";
        return GPUAAS_EAUTH;
    }
    if (!has_exp) {
        *ret_why = "token has no expiry";
        return GPUAAS_EAUTH;
    }
    if (now_s >= add_sat(exp, v->leeway_s)) {
        *ret_why = "token expired";
        return GPUAAS_EAUTH;
    }
    if (has_nbf && now_s < add_sat(nbf, -v->leeway_s)) {
        *ret_why = "not yet valid";
        return GPUAAS_EAUTH;
    }
    if (has_iat && iat > add_sat(now_s, v->leeway_s)) {
        *ret_why = "issued in the future";
        return GPUAAS_EAUTH;
    }
    if (!copy_clean(sub, id->subject, sizeof id->subject)) {
        *ret_why = "missing or invalid sub claim";
        return GPUAAS_EAUTH;
    }
    if (username) {
        if (!copy_clean(username, id->username, sizeof id->username)) {
            *ret_why = "invalid username claim";
            return GPUAAS_EAUTH;
        }
        /* some IdPs let anyone type in an address they do not own; some
         * (Cognito) send the flag as the string "true" */
        if (strcmp(v->username_claim, "email") == 0 && verified && !json_is_true(verified) &&
            !(json_is_string(verified) && strcmp(json_string_value(verified), "true") == 0)) {
            *ret_why = "email not verified";
            return GPUAAS_EAUTH;
        }
    } else if (!copy_clean(sub, id->username, sizeof id->username)) {
        *ret_why = "sub too long for a username";
        return GPUAAS_EAUTH;
    }
    if (groups && !json_is_array(groups)) {
        *ret_why = "invalid groups claim";
        return GPUAAS_EAUTH;
    }
    json_array_foreach(groups, index, group) {
        if (!json_is_string(group)) {
            *ret_why = "invalid groups claim";
            return GPUAAS_EAUTH;
        }
        /* an over-long or odd name is skipped, never truncated into
         * another group's name */
        if (id->group_count < JWT_GROUPS_MAX && copy_clean(group, id->groups[id->group_count], JWT_GROUP_SIZE))
            id->group_count++;
    }
    id->expires_s = exp;
    return 0;
}

static json_t *parse_object(const unsigned char *text, size_t len)
{
    json_t *value = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
    if (value && !json_is_object(value)) {
        json_decref(value);
        value = NULL;
    }
    return value;
}

int jwt_verify(const struct jwt_verifier *v, const char *token, int64_t now_s, struct jwt_identity *ret,
               const char **ret_why)
{
    int r = GPUAAS_EAUTH;
    const char *why = "malformed token", *dot1, *dot2, *alg, *typ, *kid = NULL;
    unsigned char *buf = NULL, *header_raw, *payload_raw, *sig;
    size_t len, header_len, payload_len, sig_len, used;
    json_t *header = NULL, *claims = NULL;
    const json_t *kid_json, *typ_json;
    const struct jwt_key *key;
    enum jwt_kty kty;
    struct jwt_identity id;

    memset(&id, 0, sizeof id);
    if (!v || !token)
        goto out;
    len = strnlen(token, JWT_TOKEN_MAX + 1);
    if (len > JWT_TOKEN_MAX) {
        why = "token too large";
        goto out;
    }
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) || dot1 == token || dot2 == dot1 + 1)
        goto out;

    /* decoded parts are shorter than the text; one buffer holds all three */
    buf = malloc(len);
    if (!buf) {
        r = GPUAAS_ENOMEM;
        why = "out of memory";
        goto out;
    }
    header_raw = buf;
    if (!b64url_decode(token, (size_t)(dot1 - token), header_raw, len, &header_len))
        goto out;
    payload_raw = header_raw + header_len;
    used = header_len;
    if (!b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload_raw, len - used, &payload_len))
        goto out;
    sig = payload_raw + payload_len;
    used += payload_len;
    if (!b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, len - used, &sig_len))
        goto out;

    header = parse_object(header_raw, header_len);
    if (!header)
        goto out;
    alg = json_string_value(json_object_get(header, "alg"));
    if (!alg)
        goto out;
    if (strcmp(alg, "RS256") == 0) {
        kty = JWT_KTY_RSA;
    } else if (strcmp(alg, "ES256") == 0) {
        kty = JWT_KTY_EC;
    } else {
        why = unsupported_alg(alg);
        goto out;
    }
    typ_json = json_object_get(header, "typ");
    typ = json_string_value(typ_json);
    if (typ_json && !(typ && strcasecmp(typ, "JWT") == 0)) {
        why = "unsupported token type";
        goto out;
    }
    if (json_object_get(header, "crit")) { /* RFC 7515 4.1.11: we know no extensions */
        why = "unsupported critical header";
        goto out;
    }
    kid_json = json_object_get(header, "kid");
    if (kid_json) {
        kid = json_string_value(kid_json);
        if (!kid)
            goto out;
    }
    key = find_key(v, kty, kid, &why);
    if (!key)
        goto out;
    r = verify_signature(key, (const unsigned char *)token, (size_t)(dot2 - token), sig, sig_len);
    if (r < 0) {
        why = "bad signature";
        goto out;
    }

    /* only now, signed by the issuer, is the payload worth reading */
    r = GPUAAS_EAUTH;
    why = "malformed token";
    claims = parse_object(payload_raw, payload_len);
    if (!claims)
        goto out;
    r = check_claims(v, claims, now_s, &id, &why);
out:
    json_decref(claims);
    json_decref(header);
    free(buf);
    if (r == 0)
        *ret = id;
    else if (ret_why)
        *ret_why = why;
    return r;
}
