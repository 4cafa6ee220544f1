/* SSO (OIDC ID tokens) end to end, and the audit log: keys made here with
 * OpenSSL 3 (RSA 2048 and EC P-256), their JWKS in a file named by the
 * server's `sso:` config, ID tokens signed here (RS256, ES256) and sent as
 * `Authorization: Bearer <jwt>`. Then the audit log as the admin sees it:
 * who did what, the refusals (401 with user "-", 403, 404), a 422, token
 * creation and revocation, in time order, and still there after a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "support_rbac.h"

#define NS_A "team-a/p/dev"
#define NS_B "team-b/q/dev"
#define ISSUER "https://idp.test"
#define AUDIENCE "gpuaas"

static EVP_PKEY *rsa_key, *ec_key, *other_rsa_key;
static char jwks_path[600];
static char config_full[2048], config_no_mappings[2048];

static struct th_server srv;
static struct th_http http;
static bool started;

/* ---- JOSE ------------------------------------------------------------------------- */

static void b64url(const unsigned char *in, size_t n, char *out, size_t out_size)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        char c[4] = {abc[(v >> 18) & 63], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
        size_t k = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        for (size_t j = 0; j < k && o + 1 < out_size; j++)
            out[o++] = c[j];
    }
    out[o] = '\0';
}

static void b64url_bn(EVP_PKEY *key, const char *param, size_t pad, char *out, size_t out_size)
{
    BIGNUM *bn = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(key, param, &bn), 1);
    unsigned char buf[1024];
    int n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    assert_true(n > 0);
    b64url(buf, (size_t)n, out, out_size);
    BN_free(bn);
}

/* signing input "h.p" signed with key (RS256 or ES256); the JWT into out */
static void jws(const char *header_json, const char *payload_json, EVP_PKEY *key, bool es256, char *out,
                size_t out_size)
{
    char h[1024], p[4096];
    b64url((const unsigned char *)header_json, strlen(header_json), h, sizeof h);
    b64url((const unsigned char *)payload_json, strlen(payload_json), p, sizeof p);
    char input[6000];
    snprintf(input, sizeof input, "%s.%s", h, p);
    if (key == NULL) { /* alg none */
        snprintf(out, out_size, "%s.", input);
        return;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    size_t len = 0;
    assert_int_equal(EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input, strlen(input)), 1);
    unsigned char *sig = malloc(len);
    assert_non_null(sig);
    assert_int_equal(EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input, strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    unsigned char raw[512];
    size_t raw_len = len;
    if (es256) { /* DER -> r||s */
        const unsigned char *q = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)len);
        assert_non_null(es);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32), 32);
        assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32), 32);
        ECDSA_SIG_free(es);
        raw_len = 64;
    } else {
        assert_true(len <= sizeof raw);
        memcpy(raw, sig, len);
    }
    free(sig);
    char s[1024];
    b64url(raw, raw_len, s, sizeof s);
    snprintf(out, out_size, "%s.%s", input, s);
}

struct claims {
    const char *iss, *aud, *email, *groups_json; /* groups_json: NULL = none */
    long long exp_off, nbf_off;                 /* from now; nbf 0 = absent */
};

static void make_jwt(const struct claims *c, const char *alg, EVP_PKEY *key, char *out, size_t out_size)
{
    long long now = (long long)time(NULL);
    char payload[2048], header[256];
    int n = snprintf(payload, sizeof payload, "{\"iss\":\"%s\",\"aud\":\"%s\",\"sub\":\"sub-%s\",\"email\":\"%s\",\"iat\":%lld,\"exp\":%lld",
                     c->iss ? c->iss : ISSUER, c->aud ? c->aud : AUDIENCE, c->email, c->email, now - 5,
                     now + (c->exp_off ? c->exp_off : 600));
    if (c->nbf_off)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"nbf\":%lld", now + c->nbf_off);
    if (c->groups_json)
        n += snprintf(payload + n, sizeof payload - (size_t)n, ",\"groups\":%s", c->groups_json);
    snprintf(payload + n, sizeof payload - (size_t)n, "}");
    bool es = strcmp(alg, "ES256") == 0;
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, es ? "e1" : "r1");
    jws(header, payload, strcmp(alg, "none") == 0 ? NULL : key, es, out, out_size);
}

static long as_jwt(const char *jwt, const char *method, const char *path, const char *body, struct th_resp *r)
{
    char authz[9000];
    snprintf(authz, sizeof authz, "Bearer %s", jwt);
    return srb_call(&http, NULL, authz, method, path, body, r);
}

static long as_admin(const char *method, const char *path, const char *body, struct th_resp *r)
{
    return srb_call(&http, srv.token, NULL, method, path, body, r);
}

static void admin_ok(const char *method, const char *path, const char *body)
{
    struct th_resp r;
    long st = as_admin(method, path, body, &r);
    if (st < 200 || st > 299)
        th_note("%s %s -> %ld %.300s", method, path, st, r.body);
    th_resp_free(&r);
    assert_true(st >= 200 && st <= 299);
}

static const char JOB_JSON[] = "{\"kind\":\"Job\",\"name\":\"%s\",\"namespace\":\"%s\",\"command\":[\"true\"],"
                               "\"selector\":{\"gx-sso-none\":\"x\"}}";

/* ---- setup -------------------------------------------------------------------------- */

static int write_keys(void)
{
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    other_rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa_key || !other_rsa_key || !ec_key)
        return -1;
    char n[600], e[16], x[64], y[64];
    b64url_bn(rsa_key, OSSL_PKEY_PARAM_RSA_N, 0, n, sizeof n);
    b64url_bn(rsa_key, OSSL_PKEY_PARAM_RSA_E, 0, e, sizeof e);
    b64url_bn(ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof x);
    b64url_bn(ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof y);
    char dir[512];
    if (th_make_tempdir("sso-keys", dir, sizeof dir) != 0)
        return -1;
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", dir);
    char jwks[2048];
    snprintf(jwks, sizeof jwks,
             "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"alg\":\"RS256\",\"n\":\"%s\",\"e\":\"%s\"},"
             "{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"e1\",\"use\":\"sig\",\"x\":\"%s\",\"y\":\"%s\"}]}",
             n, e, x, y);
    if (th_write_file(jwks_path, jwks) != 0)
        return -1;
    static const char base[] = "stop_grace: 2s\n"
                               "nvml_library: /nonexistent/gpuaas-test/libnvidia-ml.so.1\n"
                               "sso:\n"
                               "  issuer: " ISSUER "\n"
                               "  audience: " AUDIENCE "\n"
                               "  jwks: %s\n";
    snprintf(config_no_mappings, sizeof config_no_mappings, base, jwks_path);
    snprintf(config_full, sizeof config_full,
             "%s  role_mappings:\n    - {group: ml-team, role: developer, namespace: team-a/p}\n", config_no_mappings);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    return write_keys();
}

static int group_teardown(void **state)
{
    (void)state;
    int rc = 0;
    if (started) {
        th_http_free(&http);
        rc = th_server_stop(&srv);
        th_server_destroy(&srv);
        started = false;
    }
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(other_rsa_key);
    EVP_PKEY_free(ec_key);
    if (jwks_path[0]) {
        char *slash = strrchr(jwks_path, '/');
        *slash = '\0';
        th_rm_rf(jwks_path);
    }
    return rc == 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    th_test_passed = false;
    return 0;
}

static int teardown(void **state) { return th_teardown_report(state); }

/* The documented config on a fresh data dir: the mapped namespace does not
 * exist yet. The server must still start (the mapping is a binding on a
 * subtree that may be created later). */
static void test_sso_mapping_on_fresh_data_dir(void **state)
{
    (void)state;
    struct th_server s;
    int rc = srb_server_try_start(&s, "sso-fresh", config_full, 15000);
    if (rc != 0) {
        th_note("BUG: the server does not start with sso.role_mappings naming a namespace that does not exist yet:");
        th_server_print_log(&s, 5);
        th_server_destroy(&s);
        fail_msg("server refused the documented sso config on a fresh data dir");
    }
    th_log_server = &s;
    int stop = th_server_stop(&s);
    th_server_destroy(&s);
    th_log_server = NULL;
    assert_int_equal(stop, 0);
    TH_PASS();
}

/* Starts the shared server: without mappings first (see above), creates the
 * namespaces, then restarts with the full config. */
static void start_world(void)
{
    assert_int_equal(srb_server_start(&srv, "sso", config_no_mappings), 0);
    started = true;
    th_log_server = &srv;
    assert_int_equal(th_http_init(&http, &srv), 0);
    admin_ok("POST", "/v1/namespaces", "{\"name\":\"" NS_A "\"}");
    admin_ok("POST", "/v1/namespaces", "{\"name\":\"" NS_B "\"}");
    assert_int_equal(th_server_stop(&srv), 0);
    assert_int_equal(srb_server_restart(&srv, config_full), 0);
    th_http_retarget(&http, &srv);
}

static char viewer_token[512];
static long long revoked_id;

static void test_sso_tokens(void **state)
{
    (void)state;
    start_world();
    char jwt[8192], body[512];
    struct th_resp r;
    int f = 0;
    /* a valid RS256 token in ml-team: developer on team-a/p */
    struct claims alice = {.email = "alice@idp.test", .groups_json = "[\"ml-team\"]"};
    make_jwt(&alice, "RS256", rsa_key, jwt, sizeof jwt);
    snprintf(body, sizeof body, JOB_JSON, "sso-job", NS_A);
    long st = as_jwt(jwt, "POST", "/v1/jobs", body, &r);
    th_note("alice POST job: %ld %.200s", st, r.body);
    th_resp_free(&r);
    assert_int_equal(st, 201);
    /* ES256 too */
    struct claims bob = {.email = "bob@idp.test", .groups_json = "[\"other\",\"ml-team\"]"};
    make_jwt(&bob, "ES256", ec_key, jwt, sizeof jwt);
    st = as_jwt(jwt, "GET", "/v1/jobs/sso-job?namespace=" NS_A, NULL, &r);
    th_note("bob (ES256) GET job: %ld", st);
    th_resp_free(&r);
    assert_int_equal(st, 200);
    /* developer, not namespace-admin */
    st = as_jwt(jwt, "PUT", "/v1/quotas/" NS_A, "{\"gpus\":1}", &r);
    th_resp_free(&r);
    assert_int_equal(st, 403);

    /* bad tokens: 401 each */
    struct {
        const char *what, *alg;
        struct claims c;
        EVP_PKEY *key;
        bool tamper;
    } bad[] = {
        {"expired", "RS256", {.email = "alice@idp.test", .groups_json = "[\"ml-team\"]", .exp_off = -3600}, NULL, false},
        {"not yet valid", "RS256", {.email = "alice@idp.test", .groups_json = "[\"ml-team\"]", .nbf_off = 3600}, NULL, false},
        {"wrong audience", "RS256", {.aud = "someone-else", .email = "alice@idp.test", .groups_json = "[\"ml-team\"]"}, NULL, false},
        {"wrong issuer", "RS256", {.iss = "https://evil.test", .email = "alice@idp.test", .groups_json = "[\"ml-team\"]"}, NULL, false},
        {"alg none", "none", {.email = "alice@idp.test", .groups_json = "[\"ml-team\"]"}, NULL, false},
        {"another key", "RS256", {.email = "alice@idp.test", .groups_json = "[\"ml-team\"]"}, NULL, false},
        {"tampered payload", "ES256", {.email = "alice@idp.test", .groups_json = "[\"ml-team\"]"}, NULL, true},
    };
    bad[0].key = bad[1].key = bad[2].key = bad[3].key = rsa_key;
    bad[5].key = other_rsa_key;
    bad[6].key = ec_key;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        make_jwt(&bad[i].c, bad[i].alg, bad[i].key, jwt, sizeof jwt);
        if (bad[i].tamper) { /* re-encode a payload that names another group, keep the signature */
            char *dot1 = strchr(jwt, '.'), *dot2 = strchr(dot1 + 1, '.');
            struct claims evil = bad[i].c;
            evil.groups_json = "[\"ml-team\",\"system:platform-admins\"]";
            char other[8192];
            make_jwt(&evil, "ES256", ec_key, other, sizeof other);
            char *o1 = strchr(other, '.'), *o2 = strchr(o1 + 1, '.');
            char forged[8192];
            snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(dot1 - jwt), jwt, (int)(o2 - o1), o1, dot2);
            snprintf(jwt, sizeof jwt, "%s", forged);
        }
        snprintf(body, sizeof body, JOB_JSON, "bad-job", NS_A);
        st = as_jwt(jwt, "POST", "/v1/jobs", body, &r);
        th_note("%s: %ld %s", bad[i].what, st, srb_msg(&r));
        if (st != 401) {
            f++;
            th_note("MISMATCH: %s token: expected 401, got %ld %.200s", bad[i].what, st, r.body);
        }
        th_resp_free(&r);
    }
    /* valid, but not in the mapped group: no role anywhere */
    struct claims carol = {.email = "carol@idp.test", .groups_json = "[\"other-team\"]"};
    make_jwt(&carol, "RS256", rsa_key, jwt, sizeof jwt);
    snprintf(body, sizeof body, JOB_JSON, "carol-job", NS_A);
    st = as_jwt(jwt, "POST", "/v1/jobs", body, &r);
    th_note("carol POST job: %ld %s", st, srb_msg(&r));
    if (st != 404)
        f++;
    th_resp_free(&r);
    st = as_jwt(jwt, "GET", "/v1/jobs/sso-job?namespace=" NS_A, NULL, &r);
    if (st != 404)
        f++;
    th_resp_free(&r);
    st = as_jwt(jwt, "GET", "/v1/audit", NULL, &r);
    if (st != 403)
        f++;
    th_resp_free(&r);
    st = as_jwt(jwt, "GET", "/v1/jobs", NULL, &r); /* AUTHENTICATED: allowed, but empty */
    if (st != 200 || json_array_size(json_object_get(r.json, "items")) != 0)
        f++;
    th_resp_free(&r);

    /* a viewer (token user) for a 403, token creation and revocation */
    char tbody[128];
    snprintf(tbody, sizeof tbody, "{\"user\":\"viewer-u\"}");
    st = as_admin("POST", "/v1/tokens", tbody, &r);
    assert_int_equal(st, 201);
    snprintf(viewer_token, sizeof viewer_token, "%s", th_jstr(r.json, "token"));
    th_resp_free(&r);
    st = as_admin("POST", "/v1/tokens", "{\"user\":\"to-revoke\"}", &r);
    assert_int_equal(st, 201);
    revoked_id = (long long)json_integer_value(json_object_get(r.json, "id"));
    th_resp_free(&r);
    char path[64];
    snprintf(path, sizeof path, "/v1/tokens/%lld", revoked_id);
    admin_ok("DELETE", path, NULL);
    admin_ok("POST", "/v1/bindings", "{\"role\":\"viewer\",\"user\":\"viewer-u\",\"namespace\":\"team-a/p\"}");
    snprintf(body, sizeof body, JOB_JSON, "viewer-job", NS_A);
    st = srb_call(&http, viewer_token, NULL, "POST", "/v1/jobs", body, &r);
    th_resp_free(&r);
    assert_int_equal(st, 403);
    /* a bad spec: 422 */
    st = as_admin("POST", "/v1/jobs", "{\"kind\":\"Job\",\"name\":\"no-command\",\"namespace\":\"" NS_A "\"}", &r);
    th_resp_free(&r);
    assert_int_equal(st, 422);
    /* the audit log is for platform admins only */
    st = srb_call(&http, viewer_token, NULL, "GET", "/v1/audit", NULL, &r);
    th_resp_free(&r);
    assert_int_equal(st, 403);
    make_jwt(&alice, "RS256", rsa_key, jwt, sizeof jwt);
    st = as_jwt(jwt, "GET", "/v1/audit", NULL, &r);
    th_resp_free(&r);
    assert_int_equal(st, 403);
    assert_int_equal(f, 0);
    TH_PASS();
}

/* The built-in platform-admin binding is on the group system:platform-admins.
 * A group of that name in an ID token (any IdP user who can name a group)
 * must not make its bearer a platform admin. */
static void test_sso_reserved_group_is_not_platform_admin(void **state)
{
    (void)state;
    assert_true(started);
    char jwt[8192];
    struct claims mallory = {.email = "mallory@idp.test", .groups_json = "[\"system:platform-admins\"]"};
    make_jwt(&mallory, "RS256", rsa_key, jwt, sizeof jwt);
    struct th_resp r;
    long st = as_jwt(jwt, "GET", "/v1/tokens", NULL, &r);
    th_note("ID token with groups [system:platform-admins]: GET /v1/tokens -> %ld", st);
    th_resp_free(&r);
    long st2 = as_jwt(jwt, "POST", "/v1/tokens", "{\"user\":\"mallory-backdoor\"}", &r);
    th_note("... POST /v1/tokens -> %ld", st2);
    th_resp_free(&r);
    assert_int_equal(st, 403);
    assert_int_equal(st2, 403);
    TH_PASS();
}

/* ---- audit ------------------------------------------------------------------------ */

struct want_entry {
    const char *user, *method, *path_prefix; /* user NULL: any but "-" */
    long status;
    int min;
    const char *what;
};

static int count_entries(json_t *items, const struct want_entry *w)
{
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *u = th_jstr(it, "user"), *m = th_jstr(it, "method"), *p = th_jstr(it, "path");
        long s = (long)json_integer_value(json_object_get(it, "status"));
        if (!u || !m || !p)
            continue;
        if (w->user ? strcmp(u, w->user) != 0 : strcmp(u, "-") == 0)
            continue;
        if (strcmp(m, w->method) == 0 && strncmp(p, w->path_prefix, strlen(w->path_prefix)) == 0 && s == w->status)
            n++;
    }
    return n;
}

static int check_audit(json_t *doc, size_t *ret_count)
{
    json_t *items = json_object_get(doc, "items");
    char revoke_path[64];
    snprintf(revoke_path, sizeof revoke_path, "/v1/tokens/%lld", revoked_id);
    const struct want_entry wants[] = {
        {NULL, "POST", "/v1/namespaces", 201, 2, "namespace creations by the admin"},
        {"alice@idp.test", "POST", "/v1/jobs", 201, 1, "the SSO user's job submit"},
        {"-", "POST", "/v1/jobs", 401, 7, "the refused bad ID tokens"},
        {"carol@idp.test", "POST", "/v1/jobs", 404, 1, "the SSO user without the group (404)"},
        {"carol@idp.test", "GET", "/v1/jobs/sso-job", 404, 1, "a read denial (404)"},
        {"carol@idp.test", "GET", "/v1/audit", 403, 1, "the audit read denial"},
        {"viewer-u", "POST", "/v1/jobs", 403, 1, "the viewer's submit (403)"},
        {NULL, "POST", "/v1/jobs", 422, 1, "the bad spec (422)"},
        {NULL, "POST", "/v1/tokens", 201, 2, "token creation"},
        {NULL, "DELETE", revoke_path, 200, 1, "token revocation"},
        {"viewer-u", "GET", "/v1/audit", 403, 1, "the viewer's audit read (403)"},
    };
    int f = 0;
    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
        int n = count_entries(items, &wants[i]);
        if (n < wants[i].min) {
            f++;
            th_note("MISSING in the audit: %s: %s %s %ld by %s: %d entries, expected >= %d", wants[i].what,
                    wants[i].method, wants[i].path_prefix, wants[i].status, wants[i].user ? wants[i].user : "(someone)",
                    n, wants[i].min);
        }
    }
    /* no secret in the audit */
    char *text = json_dumps(doc, JSON_COMPACT);
    if (text && (strstr(text, "gpa_") || strstr(text, "eyJ"))) {
        f++;
        th_note("MISMATCH: the audit log contains a token secret");
    }
    free(text);
    /* time order */
    const char *prev = "";
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *t = th_jstr(it, "time");
        if (!t || strcmp(t, prev) < 0) {
            f++;
            th_note("MISMATCH: audit entry %zu at %s comes after one at %s", i, t ? t : "(none)", prev);
            break;
        }
        prev = t;
    }
    *ret_count = json_array_size(items);
    return f;
}

static void test_audit(void **state)
{
    (void)state;
    assert_true(started);
    struct th_resp r;
    assert_int_equal(as_admin("GET", "/v1/audit?since=0&limit=10000", NULL, &r), 200);
    size_t before = 0;
    int f = check_audit(r.json, &before);
    th_note("audit: %zu entries", before);
    if (f)
        th_note("audit: %.4000s", r.body);
    th_resp_free(&r);
    /* ?limit= */
    assert_int_equal(as_admin("GET", "/v1/audit?since=0&limit=3", NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 3);
    th_resp_free(&r);
    /* it survives a restart */
    assert_int_equal(th_server_stop(&srv), 0);
    assert_int_equal(srb_server_restart(&srv, NULL), 0);
    th_http_retarget(&http, &srv);
    assert_int_equal(as_admin("GET", "/v1/audit?since=0&limit=10000", NULL, &r), 200);
    size_t after = 0;
    f += check_audit(r.json, &after);
    th_note("audit after restart: %zu entries", after);
    th_resp_free(&r);
    assert_true(after >= before);
    assert_int_equal(f, 0);
    TH_PASS();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    th_global_init();
    const struct CMUnitTest tests[] = {
        T(test_sso_mapping_on_fresh_data_dir),
        T(test_sso_tokens),
        T(test_sso_reserved_group_is_not_platform_admin),
        T(test_audit),
    };
    int rc = cmocka_run_group_tests_name("sso_audit", tests, group_setup, group_teardown);
    th_global_cleanup();
    return rc;
}
