/* Submission throughput and latency of a running gpuaas server.
 *
 *   bench_submit run --url URL (--token T | --token-file F) [--namespace NS]
 *                    [--threads T] [--duration S] [--warmup S] [--prefix P]
 *   bench_submit free-port            print a free loopback TCP port
 *   bench_submit wait URL SECONDS     wait until GET URL/healthz is 200
 *
 * `run` starts T threads, each with one keep-alive libcurl easy handle, that
 * POST small valid job specs with unique names to /v1/jobs as fast as the
 * server answers, for warmup + duration seconds. A submission counts when
 * its 201 arrives inside the measured window (the server replies only once
 * the job is durable); its latency is from just before the request is sent
 * to the end of the reply. Prints a human summary and one line
 *   RESULT threads=T seconds=S ok=N errors=E rate=R p50_ms=A p99_ms=B max_ms=C created=N
 * Exit status 1 if any request failed. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 1024

struct options {
    const char *url;
    char token[512];
    const char *ns;
    const char *prefix;
    int threads;
    double duration_s;
    double warmup_s;
};

struct worker {
    pthread_t thread;
    int index;
    const struct options *opt;
    int64_t window_start_ns;
    int64_t window_end_ns;
    /* results */
    uint64_t ok;        /* 201 inside the window */
    uint64_t ok_total;  /* 201 at any time */
    uint64_t errors;
    uint32_t *lat_us;   /* latencies of the counted submissions */
    size_t lat_len, lat_cap;
    char first_error[400];
};

static atomic_bool error_noted;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct reply {
    char text[300];
    size_t len;
};

static size_t keep_head(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct reply *r = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof r->text - 1 - r->len;
    size_t take = n < room ? n : room;
    memcpy(r->text + r->len, ptr, take);
    r->len += take;
    r->text[r->len] = '\0';
    return n;
}

static int push_latency(struct worker *w, uint32_t us)
{
    if (w->lat_len == w->lat_cap) {
        size_t cap = w->lat_cap ? w->lat_cap * 2 : 65536;
        uint32_t *grown = realloc(w->lat_us, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        w->lat_us = grown;
        w->lat_cap = cap;
    }
    w->lat_us[w->lat_len++] = us;
    return 0;
}

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    const struct options *opt = w->opt;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        w->errors++;
        return NULL;
    }
    char url[512], auth[600], body[512];
    snprintf(url, sizeof url, "%s/v1/jobs", opt->url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", opt->token);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    struct reply reply;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_head);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);

    for (uint64_t seq = 0;; seq++) {
        int64_t start = now_ns();
        if (start >= w->window_end_ns)
            break;
        /* gpus: 1 and a selector no node has: a realistic spec that stays
         * Pending, so the benchmark measures admission, not execution */
        int len = snprintf(body, sizeof body,
                           "{\"kind\":\"Job\",\"name\":\"%s-%d-%llu\",\"namespace\":\"%s\","
                           "\"resources\":{\"gpus\":1,\"cpu\":2,\"memory\":\"8Gi\"},"
                           "\"selector\":{\"bench.gpuaas.io/never-matches\":\"yes\"},"
                           "\"command\":[\"python3\",\"train.py\"]}",
                           opt->prefix, w->index, (unsigned long long)seq, opt->ns);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        reply.len = 0;
        reply.text[0] = '\0';
        CURLcode res = curl_easy_perform(c);
        int64_t end = now_ns();
        long status = 0;
        if (res == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 201) {
            w->ok_total++;
            if (end >= w->window_start_ns && end < w->window_end_ns) {
                w->ok++;
                int64_t us = (end - start) / 1000;
                push_latency(w, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
            }
        } else {
            w->errors++;
            if (!atomic_exchange(&error_noted, true))
                snprintf(w->first_error, sizeof w->first_error, "%s: %s",
                         res != CURLE_OK ? curl_easy_strerror(res) : "HTTP",
                         res != CURLE_OK ? "" : reply.text);
            if (res != CURLE_OK && end - start < 1000000)
                usleep(1000); /* do not spin on a dead server */
        }
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    if (i >= n)
        i = n - 1;
    return v[i] / 1000.0;
}

static long post_namespace(const struct options *opt)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 0;
    char url[512], auth[600], body[300];
    struct reply reply = {.len = 0};
    snprintf(url, sizeof url, "%s/v1/namespaces", opt->url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", opt->token);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", opt->ns);
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_head);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 201 && status != 409)
        fprintf(stderr, "bench_submit: POST /v1/namespaces %s: HTTP %ld %s\n", opt->ns, status,
                reply.text);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return status;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_submit run --url URL (--token T | --token-file F) [--namespace NS]\n"
            "                        [--threads T] [--duration S] [--warmup S] [--prefix P]\n"
            "       bench_submit free-port\n"
            "       bench_submit wait URL SECONDS\n");
    return 2;
}

static int read_token_file(const char *path, char *out, size_t out_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_submit: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fgets(out, (int)out_size, f) == NULL)
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n \t")] = '\0';
    return out[0] != '\0' ? 0 : -1;
}

static int cmd_run(int argc, char **argv)
{
    struct options opt = {.ns = "bench/load/dev", .prefix = "b", .threads = 16,
                          .duration_s = 10, .warmup_s = 1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        if (strcmp(a, "--url") == 0)
            opt.url = v;
        else if (strcmp(a, "--token") == 0)
            snprintf(opt.token, sizeof opt.token, "%s", v);
        else if (strcmp(a, "--token-file") == 0) {
            if (read_token_file(v, opt.token, sizeof opt.token) != 0)
                return 2;
        } else if (strcmp(a, "--namespace") == 0)
            opt.ns = v;
        else if (strcmp(a, "--prefix") == 0)
            opt.prefix = v;
        else if (strcmp(a, "--threads") == 0)
            opt.threads = atoi(v);
        else if (strcmp(a, "--duration") == 0)
            opt.duration_s = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            opt.warmup_s = atof(v);
        else
            return usage();
        i++;
    }
    if (opt.url == NULL || opt.token[0] == '\0' || opt.threads < 1 ||
        opt.threads > MAX_THREADS || opt.duration_s <= 0 || opt.warmup_s < 0)
        return usage();

    long st = post_namespace(&opt);
    if (st != 201 && st != 409)
        return 1;

    struct worker *workers = calloc((size_t)opt.threads, sizeof *workers);
    if (workers == NULL)
        return 1;
    int64_t t0 = now_ns();
    int64_t wstart = t0 + (int64_t)(opt.warmup_s * 1e9);
    int64_t wend = wstart + (int64_t)(opt.duration_s * 1e9);
    for (int i = 0; i < opt.threads; i++) {
        workers[i] = (struct worker){.index = i, .opt = &opt, .window_start_ns = wstart,
                                     .window_end_ns = wend};
        if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) != 0) {
            fprintf(stderr, "bench_submit: pthread_create failed\n");
            return 1;
        }
    }
    uint64_t ok = 0, ok_total = 0, errors = 0;
    size_t n = 0;
    const char *first_error = NULL;
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(workers[i].thread, NULL);
        ok += workers[i].ok;
        ok_total += workers[i].ok_total;
        errors += workers[i].errors;
        n += workers[i].lat_len;
        if (workers[i].first_error[0] != '\0')
            first_error = workers[i].first_error;
    }
    uint32_t *all = malloc((n ? n : 1) * sizeof *all);
    if (all == NULL)
        return 1;
    size_t at = 0;
    for (int i = 0; i < opt.threads; i++) {
        if (workers[i].lat_len > 0)
            memcpy(all + at, workers[i].lat_us, workers[i].lat_len * sizeof *all);
        at += workers[i].lat_len;
        free(workers[i].lat_us);
    }
    qsort(all, n, sizeof *all, cmp_u32);
    double rate = (double)ok / opt.duration_s;
    double p50 = pct_ms(all, n, 0.50), p99 = pct_ms(all, n, 0.99);
    double max = n ? all[n - 1] / 1000.0 : 0.0;

    printf("threads %d: %llu durable submissions in %.1f s (after %.1f s warmup) = %.0f/s; "
           "latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %llu errors; %llu jobs created in "
           "all\n",
           opt.threads, (unsigned long long)ok, opt.duration_s, opt.warmup_s, rate, p50, p99, max,
           (unsigned long long)errors, (unsigned long long)ok_total);
    if (first_error != NULL)
        printf("first error: %s\n", first_error);
    printf("RESULT threads=%d seconds=%.1f ok=%llu errors=%llu rate=%.0f p50_ms=%.2f "
           "p99_ms=%.2f max_ms=%.2f created=%llu\n",
           opt.threads, opt.duration_s, (unsigned long long)ok, (unsigned long long)errors, rate,
           p50, p99, max, (unsigned long long)ok_total);
    free(all);
    free(workers);
    return errors == 0 ? 0 : 1;
}

static int cmd_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int rc = 1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        printf("%d\n", ntohs(sa.sin_port));
        rc = 0;
    }
    close(fd);
    return rc;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static int cmd_wait(const char *base, double seconds)
{
    char url[512];
    snprintf(url, sizeof url, "%s/healthz", base);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 1;
    int64_t deadline = now_ns() + (int64_t)(seconds * 1e9);
    int rc = 1;
    while (now_ns() < deadline) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        long status = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            rc = 0;
            break;
        }
        usleep(50000);
    }
    curl_easy_cleanup(c);
    if (rc != 0)
        fprintf(stderr, "bench_submit: %s did not answer 200 within %.0f s\n", url, seconds);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc;
    if (strcmp(argv[1], "run") == 0)
        rc = cmd_run(argc - 2, argv + 2);
    else if (strcmp(argv[1], "free-port") == 0)
        rc = cmd_free_port();
    else if (strcmp(argv[1], "wait") == 0 && argc == 4)
        rc = cmd_wait(argv[2], atof(argv[3]));
    else
        rc = usage();
    curl_global_cleanup();
    return rc;
}
