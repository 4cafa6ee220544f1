/* Integration-test harness: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct th_server *th_log_server;
bool th_test_passed;

/* ---- small utilities ------------------------------------------------------ */

long long th_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void th_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void th_note(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *line = buf;
    for (;;) {
        const char *nl = strchr(line, '\n');
        if (nl == NULL) {
            if (*line != '\0')
                printf("# %s\n", line);
            break;
        }
        printf("# %.*s\n", (int)(nl - line), line);
        line = nl + 1;
    }
    fflush(stdout);
}

void th_global_init(void)
{
    /* A write to a socket the server closed must be an error, not a kill. */
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void th_global_cleanup(void)
{
    curl_global_cleanup();
}

const char *th_server_bin(void)
{
    const char *bin = getenv("GPUAAS_BIN");
    return (bin != NULL && *bin != '\0') ? bin : "build/test/gpuaas";
}

int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

int th_make_tempdir(const char *tag, char *out, size_t out_size)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    int n = snprintf(out, out_size, "%s/gpuaas-%s-XXXXXX", tmp, tag);
    if (n < 0 || (size_t)n >= out_size)
        return -1;
    if (mkdtemp(out) == NULL) {
        th_note("mkdtemp %s: %s", out, strerror(errno));
        return -1;
    }
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

int th_rm_rf(const char *path)
{
    if (path == NULL || *path == '\0' || strcmp(path, "/") == 0)
        return -1;
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *th_read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    if (ret_len != NULL)
        *ret_len = len;
    return buf;
}

int th_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t len = strlen(text);
    int ok = fwrite(text, 1, len, f) == len;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static int decode_status(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Waits for pid up to timeout_ms. Returns decoded status, or -2 on timeout. */
static int wait_child(pid_t pid, long timeout_ms)
{
    long long deadline = th_now_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            return decode_status(status);
        if (got < 0 && errno != EINTR)
            return -1;
        if (th_now_ms() >= deadline)
            return -2;
        th_sleep_ms(10);
    }
}

/* In a freshly forked child: die with the parent, default signals, no
 * inherited descriptors above stderr. */
static void child_prepare(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void close_from(int lowfd)
{
    if (close_range((unsigned)lowfd, ~0U, 0) != 0) {
        for (int fd = lowfd; fd < 1024; fd++)
            close(fd);
    }
}

/* ---- the server process --------------------------------------------------- */

void th_server_print_log(const struct th_server *s, int max_lines)
{
    size_t len = 0;
    char *text = th_read_file(s->log_path, &len);
    if (text == NULL) {
        th_note("(no server log at %s)", s->log_path);
        return;
    }
    /* find the start of the last max_lines lines */
    size_t start = len;
    int lines = 0;
    while (start > 0) {
        if (text[start - 1] == '\n' && start != len && ++lines >= max_lines)
            break;
        start--;
    }
    printf("# ---- %s (last %d lines) ----\n", s->log_path, max_lines);
    char *line = text + start;
    while (*line != '\0') {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        printf("# | %s\n", line);
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    printf("# ---- end of server log ----\n");
    fflush(stdout);
    free(text);
}

/* DATA/server.yaml, the file a --config server reads. */
static void config_path(const struct th_server *s, char *out, size_t size)
{
    snprintf(out, size, "%s/server.yaml", s->data_dir);
}

/* Forks `BIN server [--config DATA/server.yaml] --listen ... --data DATA`
 * on a new free port. */
static int spawn_server(struct th_server *s, bool with_config)
{
    const char *bin = th_server_bin();
    if (access(bin, X_OK) != 0) {
        th_note("server binary %s is not executable: %s", bin, strerror(errno));
        return -1;
    }
    s->port = th_free_port();
    if (s->port <= 0) {
        th_note("no free port");
        return -1;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    char listen_arg[64];
    snprintf(listen_arg, sizeof listen_arg, "127.0.0.1:%d", s->port);
    char cfg[700];
    config_path(s, cfg, sizeof cfg);
    s->token[0] = '\0';

    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        th_note("open %s: %s", s->log_path, strerror(errno));
        return -1;
    }
    s->starts++;
    dprintf(logfd, "==== harness: start #%d: %s server%s%s --listen %s --data %s ====\n", s->starts,
            bin, with_config ? " --config " : "", with_config ? cfg : "", listen_arg, s->data_dir);
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        th_note("fork: %s", strerror(errno));
        close(logfd);
        return -1;
    }
    if (pid == 0) {
        child_prepare(parent);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close_from(3);
        if (with_config)
            execl(bin, bin, "server", "--config", cfg, "--listen", listen_arg, "--data", s->data_dir,
                  (char *)NULL);
        else
            execl(bin, bin, "server", "--listen", listen_arg, "--data", s->data_dir, (char *)NULL);
        dprintf(2, "harness: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(logfd);
    s->pid = pid;
    return 0;
}

bool th_server_alive(struct th_server *s)
{
    if (s->pid <= 0)
        return false;
    int status;
    pid_t got = waitpid(s->pid, &status, WNOHANG);
    if (got == s->pid) {
        th_note("server pid %d exited with status %d", (int)s->pid, decode_status(status));
        s->pid = 0;
        return false;
    }
    return true;
}

static int read_token(struct th_server *s)
{
    char path[700];
    snprintf(path, sizeof path, "%s/admin.token", s->data_dir);
    char *text = th_read_file(path, NULL);
    if (text == NULL)
        return -1;
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ' ||
                     text[n - 1] == '\t'))
        text[--n] = '\0';
    int rc = -1;
    if (n > 0 && n < sizeof s->token) {
        memcpy(s->token, text, n + 1);
        rc = 0;
    }
    free(text);
    return rc;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

/* Waits until /healthz is 200, the token is readable and /readyz is not 503
 * (exactly 200 if need_200). 0 ready, -1 timeout, -2 the server exited. */
static int wait_ready(struct th_server *s, long timeout_ms, bool need_200)
{
    long long deadline = th_now_ms() + timeout_ms;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return -1;
    char url[128];
    int stage = 0; /* 0 healthz, 1 token, 2 readyz */
    int rc = -1;
    long last_status = 0;
    while (th_now_ms() < deadline) {
        if (!th_server_alive(s)) {
            rc = -2; /* exited early */
            break;
        }
        if (stage == 1) {
            if (read_token(s) == 0)
                stage = 2;
            else {
                th_sleep_ms(20);
                continue;
            }
        }
        snprintf(url, sizeof url, "%s/%s", s->url, stage == 0 ? "healthz" : "readyz");
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        CURLcode res = curl_easy_perform(c);
        long status = 0;
        if (res == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        last_status = status;
        if (stage == 0 && status == 200) {
            stage = 1;
            continue;
        }
        if (stage == 2 && (need_200 ? status == 200 : status != 503 && status != 0)) {
            if (status != 200)
                th_note("note: GET /readyz answered %ld (expected 200 once ready)", status);
            rc = 0;
            break;
        }
        th_sleep_ms(25);
    }
    curl_easy_cleanup(c);
    if (rc == -1)
        th_note("server at %s not ready within %ld ms (stage %s, last status %ld)", s->url,
                timeout_ms, stage == 0 ? "healthz" : stage == 1 ? "admin.token" : "readyz",
                last_status);
    return rc;
}

/* Up to 3 tries (a server that exits during start is retried on another
 * port); on failure the log is printed and the server killed. A --config
 * server must answer /readyz with 200. */
static int start_on_dir(struct th_server *s, bool with_config)
{
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (spawn_server(s, with_config) != 0)
            return -1;
        int rc = wait_ready(s, TH_START_TIMEOUT_MS, with_config);
        if (rc == 0)
            return 0;
        if (rc == -2 && attempt < 3) {
            th_note("server exited during start (attempt %d); retrying on another port",
                    attempt);
            continue;
        }
        th_server_print_log(s, 80);
        if (s->pid > 0)
            th_server_kill9(s);
        return -1;
    }
    return -1;
}

/* Writes DATA/server.yaml. 0 or -1. */
static int write_config(const struct th_server *s, const char *config_yaml)
{
    char cfg[700];
    config_path(s, cfg, sizeof cfg);
    if (th_write_file(cfg, config_yaml) != 0) {
        th_note("write %s: %s", cfg, strerror(errno));
        return -1;
    }
    return 0;
}

/* Fresh temp data dir (and DATA/server.yaml if config_yaml is not NULL). */
static int prepare_dir(struct th_server *s, const char *tag, const char *config_yaml)
{
    memset(s, 0, sizeof *s);
    if (th_make_tempdir(tag, s->data_dir, sizeof s->data_dir) != 0)
        return -1;
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->data_dir);
    if (config_yaml != NULL && write_config(s, config_yaml) != 0)
        return -1;
    return 0;
}

int th_server_start(struct th_server *s, const char *tag)
{
    if (prepare_dir(s, tag, NULL) != 0)
        return -1;
    return start_on_dir(s, false);
}

int th_server_start_config(struct th_server *s, const char *tag, const char *config_yaml)
{
    if (prepare_dir(s, tag, config_yaml) != 0)
        return -1;
    return start_on_dir(s, true);
}

int th_server_try_start_config(struct th_server *s, const char *tag, const char *config_yaml,
                               long timeout_ms)
{
    if (prepare_dir(s, tag, config_yaml) != 0)
        return -1;
    int rc = spawn_server(s, true);
    if (rc == 0)
        rc = wait_ready(s, timeout_ms, true);
    if (rc != 0 && s->pid > 0)
        th_server_kill9(s);
    return rc == 0 ? 0 : -1;
}

static void kill_before_restart(struct th_server *s)
{
    if (s->pid > 0) {
        th_note("restart: server still running; killing it first");
        th_server_kill9(s);
    }
    s->token[0] = '\0';
}

int th_server_restart(struct th_server *s)
{
    kill_before_restart(s);
    return start_on_dir(s, false);
}

int th_server_restart_config(struct th_server *s, const char *config_yaml)
{
    kill_before_restart(s);
    if (config_yaml != NULL && write_config(s, config_yaml) != 0)
        return -1;
    return start_on_dir(s, true);
}

int th_server_stop(struct th_server *s)
{
    return th_server_stop_with(s, SIGTERM);
}

int th_server_stop_with(struct th_server *s, int sig)
{
    if (s->pid <= 0) {
        th_note("stop: server is not running");
        return -1;
    }
    kill(s->pid, sig);
    int rc = wait_child(s->pid, TH_STOP_TIMEOUT_MS);
    if (rc == -2) {
        th_note("server pid %d did not exit within %d ms of signal %d; killing it", (int)s->pid,
                TH_STOP_TIMEOUT_MS, sig);
        kill(s->pid, SIGKILL);
        wait_child(s->pid, 5000);
        rc = -1;
    }
    s->pid = 0;
    if (rc != 0) {
        th_note("server exit status after signal %d: %d (expected 0)", sig, rc);
        th_server_print_log(s, 80);
    }
    return rc;
}

void th_server_kill9(struct th_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGKILL);
    wait_child(s->pid, 10000);
    s->pid = 0;
}

void th_server_destroy(struct th_server *s)
{
    th_server_kill9(s);
    const char *keep = getenv("TH_KEEP");
    if (keep != NULL && strcmp(keep, "1") == 0) {
        th_note("TH_KEEP=1: leaving %s", s->data_dir);
        return;
    }
    if (s->data_dir[0] != '\0')
        th_rm_rf(s->data_dir);
    s->data_dir[0] = '\0';
}

/* ---- HTTP ------------------------------------------------------------------ */

int th_http_init(struct th_http *h, const struct th_server *s)
{
    memset(h, 0, sizeof *h);
    h->curl = curl_easy_init();
    if (h->curl == NULL)
        return -1;
    th_http_retarget(h, s);
    return 0;
}

void th_http_retarget(struct th_http *h, const struct th_server *s)
{
    snprintf(h->url, sizeof h->url, "%s", s->url);
    snprintf(h->token, sizeof h->token, "%s", s->token);
}

void th_http_free(struct th_http *h)
{
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct th_resp *r = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(r->body, r->len + n + 1);
    if (grown == NULL)
        return 0;
    r->body = grown;
    memcpy(r->body + r->len, ptr, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

struct chunk_source {
    const char *data;
    size_t len, off;
};

static size_t feed_chunks(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct chunk_source *src = userdata;
    size_t room = size * nitems;
    size_t left = src->len - src->off;
    size_t n = left < room ? left : room;
    if (n > 16384)
        n = 16384; /* many chunks */
    memcpy(buf, src->data + src->off, n);
    src->off += n;
    return n;
}

int th_http_do(struct th_http *h, const struct th_req *req, struct th_resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = h->curl;
    curl_easy_reset(c); /* keeps the live connection */

    size_t url_len = strlen(h->url) + strlen(req->path) + 1;
    char *url = malloc(url_len);
    if (url == NULL)
        return -1;
    snprintf(url, url_len, "%s%s", h->url, req->path);

    struct curl_slist *headers = NULL;
    char hdr[700];
    if (req->authorization != NULL) {
        /* any length: oversized headers are a test case of their own */
        char *auth = NULL;
        if (asprintf(&auth, "Authorization: %s", req->authorization) < 0) {
            free(url);
            return -1;
        }
        headers = curl_slist_append(headers, auth);
        free(auth);
    } else {
        const char *token = req->token != NULL ? req->token : h->token;
        if (*token != '\0') {
            snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
            headers = curl_slist_append(headers, hdr);
        }
    }
    if (req->body != NULL) {
        snprintf(hdr, sizeof hdr, "Content-Type: %s",
                 req->content_type != NULL ? req->content_type : "application/json");
        headers = curl_slist_append(headers, hdr);
    } else {
        headers = curl_slist_append(headers, "Content-Type:"); /* no form default */
    }

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

    const char *method = req->method != NULL ? req->method : "GET";
    struct chunk_source chunks = {0};
    if (req->chunked && req->body != NULL) {
        chunks.data = req->body;
        chunks.len = req->body_len > 0 ? req->body_len : strlen(req->body);
        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, feed_chunks);
        curl_easy_setopt(c, CURLOPT_READDATA, &chunks);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0 && req->body == NULL) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0 || req->body != NULL) {
        const char *body = req->body != NULL ? req->body : "";
        size_t len = req->body != NULL ? (req->body_len > 0 ? req->body_len : strlen(body)) : 0;
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode res = curl_easy_perform(c);
    r->curl_code = (int)res;
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->new_connections);
    if (res == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else if (r->curl_err[0] == '\0')
        snprintf(r->curl_err, sizeof r->curl_err, "%s", curl_easy_strerror(res));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    free(url);

    if (r->body == NULL) {
        r->body = calloc(1, 1);
        if (r->body == NULL)
            return -1;
    }
    if (r->len > 0)
        r->json = json_loadb(r->body, r->len, 0, NULL);
    return res == CURLE_OK ? 0 : -1;
}

void th_resp_free(struct th_resp *r)
{
    free(r->body);
    r->body = NULL;
    if (r->json != NULL)
        json_decref(r->json);
    r->json = NULL;
    r->len = 0;
}

long th_call(struct th_http *h, const char *method, const char *path, const char *body,
             const char *content_type, struct th_resp *r)
{
    struct th_req req = {
        .method = method, .path = path, .body = body, .content_type = content_type};
    th_http_do(h, &req, r);
    return r->status;
}

json_t *th_jpath(json_t *root, const char *path)
{
    json_t *cur = root;
    char key[256];
    while (cur != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
        path += n;
        if (*path == '.')
            path++;
    }
    return cur;
}

const char *th_jstr(json_t *root, const char *path)
{
    json_t *v = th_jpath(root, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *th_err_code(const struct th_resp *r)
{
    return th_jstr(r->json, "error.code");
}

const char *th_err_field(const struct th_resp *r)
{
    return th_jstr(r->json, "error.field");
}

const char *th_err_message(const struct th_resp *r)
{
    return th_jstr(r->json, "error.message");
}

/* ---- child processes ------------------------------------------------------------ */

static int append_fd(int fd, char **buf, size_t *len)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n <= 0)
        return n == 0 || (errno != EINTR && errno != EAGAIN) ? 1 : 0; /* 1: closed */
    char *grown = realloc(*buf, *len + (size_t)n + 1);
    if (grown == NULL)
        return 1;
    *buf = grown;
    memcpy(*buf + *len, chunk, (size_t)n);
    *len += (size_t)n;
    (*buf)[*len] = '\0';
    return 0;
}

int th_run_capture(char *const argv[], char **ret_out, char **ret_err, long timeout_ms)
{
    int outp[2], errp[2];
    if (pipe2(outp, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(errp, O_CLOEXEC) != 0) {
        close(outp[0]);
        close(outp[1]);
        return -1;
    }
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        return -1;
    }
    if (pid == 0) {
        child_prepare(parent);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(outp[1], 1);
        dup2(errp[1], 2);
        close_from(3);
        execvp(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(outp[1]);
    close(errp[1]);
    char *out = calloc(1, 1), *err = calloc(1, 1);
    size_t out_len = 0, err_len = 0;
    bool out_open = true, err_open = true;
    long long deadline = th_now_ms() + timeout_ms;
    int rc = 0;
    while (out_open || err_open) {
        long long left = deadline - th_now_ms();
        if (left <= 0) {
            rc = -1;
            break;
        }
        struct pollfd fds[2] = {{.fd = out_open ? outp[0] : -1, .events = POLLIN},
                                {.fd = err_open ? errp[0] : -1, .events = POLLIN}};
        int n = poll(fds, 2, (int)(left > 1000 ? 1000 : left));
        if (n < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            out_open = append_fd(outp[0], &out, &out_len) == 0;
        if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            err_open = append_fd(errp[0], &err, &err_len) == 0;
    }
    close(outp[0]);
    close(errp[0]);
    if (rc == 0) {
        long long left = deadline - th_now_ms();
        rc = wait_child(pid, left > 0 ? (long)left : 1);
    }
    if (rc < 0) {
        th_note("%s: timed out after %ld ms; killed", argv[0], timeout_ms);
        kill(pid, SIGKILL);
        wait_child(pid, 5000);
        rc = -1;
    }
    if (ret_out != NULL)
        *ret_out = out;
    else
        free(out);
    if (ret_err != NULL)
        *ret_err = err;
    else
        free(err);
    return rc;
}

pid_t th_spawn(char *const argv[], const char *log_path, bool new_process_group)
{
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        th_note("open %s: %s", log_path, strerror(errno));
        return -1;
    }
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(logfd);
        return -1;
    }
    if (pid == 0) {
        child_prepare(parent);
        if (new_process_group)
            setpgid(0, 0);
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        close_from(3);
        execvp(argv[0], argv);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (new_process_group)
        setpgid(pid, pid); /* also here, so it holds before we signal the group */
    close(logfd);
    return pid;
}

int th_wait(pid_t pid, long timeout_ms)
{
    return wait_child(pid, timeout_ms);
}

/* ---- processes in /proc ------------------------------------------------------- */

ssize_t th_read_proc(pid_t pid, const char *what, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    return (ssize_t)len;
}

bool th_proc_is_zombie(pid_t pid)
{
    char stat[512];
    ssize_t n = th_read_proc(pid, "stat", stat, sizeof stat - 1);
    if (n <= 0)
        return true; /* gone */
    stat[n] = '\0';
    char *paren = strrchr(stat, ')');
    return paren == NULL || paren[1] == '\0' || paren[2] == 'Z' || paren[2] == 'X';
}

bool th_proc_matches(pid_t pid, const struct th_proc_match *m)
{
    /* an empty needle would match every process: never */
    if ((m->cmd_word != NULL && *m->cmd_word == '\0') || (m->cmd_sub != NULL && *m->cmd_sub == '\0') ||
        (m->env_entry != NULL && *m->env_entry == '\0'))
        return false;
    static char buf[256 * 1024];
    if (m->cmd_word != NULL || m->cmd_sub != NULL) {
        ssize_t n = th_read_proc(pid, "cmdline", buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = '\0';
            bool word = m->cmd_word == NULL;
            for (ssize_t off = 0; off < n; off += (ssize_t)strlen(buf + off) + 1)
                word |= m->cmd_word != NULL && strcmp(buf + off, m->cmd_word) == 0;
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] == '\0')
                    buf[i] = ' ';
            bool sub = m->cmd_sub == NULL || strstr(buf, m->cmd_sub) != NULL;
            if (word && sub)
                return true;
        }
    }
    if (m->env_entry != NULL) {
        ssize_t n = th_read_proc(pid, "environ", buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = '\0';
            bool first = false, also = m->env_also == NULL;
            for (ssize_t off = 0; off < n; off += (ssize_t)strlen(buf + off) + 1) {
                first |= strcmp(buf + off, m->env_entry) == 0;
                also |= m->env_also != NULL && strcmp(buf + off, m->env_also) == 0;
            }
            if (first && also)
                return true;
        }
    }
    return false;
}

int th_find_procs(const struct th_proc_match *m, pid_t except, pid_t *pids, int max)
{
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 0;
    int count = 0;
    struct dirent *e;
    pid_t self = getpid();
    while ((e = readdir(d)) != NULL) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (*end != '\0' || v <= 0)
            continue;
        pid_t pid = (pid_t)v;
        if (pid == self || (except > 0 && pid == except))
            continue;
        if (!th_proc_matches(pid, m) || th_proc_is_zombie(pid))
            continue;
        if (count < max && pids != NULL)
            pids[count] = pid;
        count++;
    }
    closedir(d);
    return count;
}

void th_describe_procs(const char *why, const pid_t *pids, int n)
{
    char buf[512];
    for (int i = 0; i < n && i < 32; i++) {
        ssize_t len = th_read_proc(pids[i], "cmdline", buf, sizeof buf - 1);
        if (len < 0)
            len = 0;
        buf[len] = '\0';
        for (ssize_t k = 0; k < len; k++)
            if (buf[k] == '\0')
                buf[k] = ' ';
        th_note("%s: pid %d: %s", why, (int)pids[i], buf);
    }
}

void th_kill_procs(int (*find)(pid_t *pids, int max), const char *why)
{
    pid_t pids[256];
    for (int round = 0; round < 5; round++) {
        int n = find(pids, 256);
        if (n == 0)
            return;
        if (round == 0)
            th_describe_procs(why, pids, n < 256 ? n : 256);
        for (int i = 0; i < n && i < 256; i++)
            kill(pids[i], SIGKILL);
        th_sleep_ms(100);
    }
}

/* ---- per-test bookkeeping ----------------------------------------------------- */

int th_setup_mark(void **state)
{
    (void)state;
    th_test_passed = false;
    return 0;
}

int th_teardown_report(void **state)
{
    (void)state;
    if (!th_test_passed && th_log_server != NULL) {
        if (th_log_server->pid > 0 && !th_server_alive(th_log_server))
            th_note("the server is no longer running");
        th_server_print_log(th_log_server, 60);
    }
    return 0;
}
