/* Open-loop, fixed-rate load for durable job submissions (POST /v1/jobs).
 *
 *   bench_load --url http://HOST:PORT (--token-file F | --token T) [--namespace NS]
 *              [--rate R] [--connections N] [--duration S] [--warmup S] [--prefix P]
 *              [--tick-us T]
 *
 * Request i is due at t0 + i/R: the schedule does not wait for replies. N
 * keep-alive HTTP/1.1 connections share one thread (epoll); a free connection
 * sends the oldest due request. When every connection is busy, due requests
 * wait in the client, and their latency still counts from the time they were
 * due (the coordinated-omission correction of wrk2 and HdrHistogram), so a
 * server that stalls is charged for every request it held up, not just one.
 * The service time (from the actual send to the end of the reply) is
 * reported beside it.
 *
 * Requests due in the measured window [warmup, warmup + duration) are the
 * measured ones; the schedule keeps running after the window until each of
 * them has its reply (so they see steady load), at most DRAIN_S seconds.
 * Only 201 counts as success. Output: a summary and one line
 *   RESULT offered=R connections=N seconds=S measured=M ok=K errors=E
 *          unfinished=U rate=A p50_ms= p90_ms= p99_ms= p999_ms= max_ms=
 *          svc_p50_ms= svc_p90_ms= svc_p99_ms= svc_p999_ms= svc_max_ms=
 *          client_cpu=C created=N
 * where rate is 201 replies that arrived inside the window per second and
 * created counts every 201 of the run (warmup and after the window too).
 * Exit status 1 if any request failed or was left without a reply. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 4096
#define MAX_RATE 1000000.0
#define MAX_SECONDS 3600.0
#define MAX_MEASURED 50000000.0 /* latency arrays: 8 bytes per measured request */
#define DRAIN_S 10              /* after the window, at most this long for replies */
#define RETRY_NS 100000000      /* a connection that failed reconnects after 100 ms */
#define MAX_RESPONSE (1 << 20)
#define MAX_HEADER 16384
#define REQ_CAP 2048

struct options {
    const char *url;
    char token[512];
    const char *ns;
    const char *prefix;
    double rate;
    int connections;
    double duration_s;
    double warmup_s;
    int64_t tick_ns; /* 0: wake for each request's due time */
};

enum conn_state { C_DOWN, C_IDLE, C_BUSY };

struct conn {
    int fd;
    enum conn_state state;
    int64_t retry_at;
    /* the request on the wire */
    int64_t intended;
    int64_t sent;
    bool measured;
    char req[REQ_CAP];
    size_t req_len, req_off;
    /* the reply so far */
    char *buf;
    size_t len, cap;
};

struct lat {
    uint32_t *v;
    size_t n, cap;
};

struct run {
    const struct options *opt;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host_header[300];
    int ep;
    struct conn *conns;
    int *idle;   /* stack of idle connection indices */
    int n_idle;
    int in_flight;
    int n_down; /* connections waiting to reconnect */
    int64_t t0, win_start, win_end, hard_end;
    uint64_t next_seq;  /* next request to send */
    uint64_t end_seq;   /* first request due at or after win_end */
    bool stop_sending;
    /* results */
    uint64_t measured_sent, measured_done, ok_in_window, created, errors, late_ok;
    int64_t max_lag;
    struct lat corrected, service;
    char first_error[600];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t intended_at(const struct run *r, uint64_t seq)
{
    return r->t0 + (int64_t)((double)seq * 1e9 / r->opt->rate);
}

/* the first request due at or after t */
static uint64_t first_seq_at(const struct run *r, int64_t t)
{
    uint64_t s = t > r->t0 ? (uint64_t)((double)(t - r->t0) / 1e9 * r->opt->rate) : 0;
    while (s > 0 && intended_at(r, s - 1) >= t)
        s--;
    while (intended_at(r, s) < t)
        s++;
    return s;
}

static int lat_push(struct lat *l, int64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 65536;
        uint32_t *grown = realloc(l->v, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    int64_t us = ns < 0 ? 0 : ns / 1000;
    l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return 0;
}

static void note_error(struct run *r, const char *what)
{
    r->errors++;
    if (r->first_error[0] == '\0')
        snprintf(r->first_error, sizeof r->first_error, "%s", what);
}

/* ---- options ------------------------------------------------------------ */

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_load --url http://HOST:PORT (--token-file F | --token T)\n"
            "                  [--namespace NS] [--rate R] [--connections N] [--duration S]\n"
            "                  [--warmup S] [--prefix P] [--tick-us T]\n"
            "  --rate R         submissions per second offered, spread evenly (default 1000,\n"
            "                   at most 1000000)\n"
            "  --connections N  keep-alive connections, 1..4096 (default 64)\n"
            "  --duration S     measured seconds (default 10), --warmup S unmeasured (default 1)\n"
            "  --namespace NS   created if missing (default bench); --prefix P job name prefix\n"
            "  --tick-us T      send what falls due within each T microseconds together at its\n"
            "                   end (0..10000, default 0: each at its due time); latency still\n"
            "                   counts from the due time\n");
    return 2;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v != v)
        return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

/* names go into the JSON body and the URL unescaped, so only these characters */
static bool name_ok(const char *s, size_t max, bool slash)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || (slash && c == '/')))
            return false;
    }
    return true;
}

static bool token_ok(const char *s)
{
    if (s[0] == '\0')
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            return false;
    return true;
}

static int read_token_file(const char *path, char *out, size_t out_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_load: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n \t")] = '\0';
    if (strlen(line) >= out_size || !token_ok(line)) {
        fprintf(stderr, "bench_load: %s: no usable token on its first line\n", path);
        return -1;
    }
    snprintf(out, out_size, "%s", line);
    return 0;
}

static int parse_options(int argc, char **argv, struct options *opt)
{
    *opt = (struct options){.ns = "bench", .prefix = "l", .rate = 1000, .connections = 64,
                            .duration_s = 10, .warmup_s = 1};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "bench_load: %s needs a value\n", a);
            return usage();
        }
        bool good = true;
        if (strcmp(a, "--url") == 0)
            opt->url = v;
        else if (strcmp(a, "--token") == 0) {
            good = strlen(v) < sizeof opt->token && token_ok(v);
            if (good)
                snprintf(opt->token, sizeof opt->token, "%s", v);
        } else if (strcmp(a, "--token-file") == 0) {
            if (read_token_file(v, opt->token, sizeof opt->token) != 0)
                return 2;
        } else if (strcmp(a, "--namespace") == 0)
            opt->ns = v, good = name_ok(v, 200, true);
        else if (strcmp(a, "--prefix") == 0)
            opt->prefix = v, good = name_ok(v, 40, false);
        else if (strcmp(a, "--rate") == 0)
            good = parse_double(v, &opt->rate) && opt->rate >= 1 && opt->rate <= MAX_RATE;
        else if (strcmp(a, "--connections") == 0)
            good = parse_int(v, &opt->connections) && opt->connections >= 1 &&
                   opt->connections <= MAX_CONNECTIONS;
        else if (strcmp(a, "--duration") == 0)
            good = parse_double(v, &opt->duration_s) && opt->duration_s >= 0.1 &&
                   opt->duration_s <= MAX_SECONDS;
        else if (strcmp(a, "--warmup") == 0)
            good = parse_double(v, &opt->warmup_s) && opt->warmup_s >= 0 &&
                   opt->warmup_s <= MAX_SECONDS;
        else if (strcmp(a, "--tick-us") == 0) {
            int us = 0;
            good = parse_int(v, &us) && us >= 0 && us <= 10000;
            opt->tick_ns = (int64_t)us * 1000;
        }
        else {
            fprintf(stderr, "bench_load: unknown option %s\n", a);
            return usage();
        }
        if (!good) {
            fprintf(stderr, "bench_load: bad value for %s: %s\n", a, v);
            return usage();
        }
    }
    if (opt->url == NULL || opt->token[0] == '\0') {
        fprintf(stderr, "bench_load: --url and a token are required\n");
        return usage();
    }
    if (opt->rate * opt->duration_s > MAX_MEASURED) {
        fprintf(stderr, "bench_load: rate x duration is over %.0f requests\n", MAX_MEASURED);
        return 2;
    }
    return 0;
}

/* http://HOST[:PORT][/] -> address; no path, no TLS */
static int resolve_url(struct run *r, const char *url)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) {
        fprintf(stderr, "bench_load: --url must start with http:// (%s)\n", url);
        return -1;
    }
    p += 7;
    size_t hostport_len = strcspn(p, "/");
    if (hostport_len == 0 || hostport_len >= 256 || (p[hostport_len] == '/' && p[hostport_len + 1])) {
        fprintf(stderr, "bench_load: --url must be http://HOST:PORT with no path (%s)\n", url);
        return -1;
    }
    char hostport[256], host[256];
    memcpy(hostport, p, hostport_len);
    hostport[hostport_len] = '\0';
    const char *port = "80";
    snprintf(host, sizeof host, "%s", hostport);
    char *colon = strrchr(host, ':');
    if (colon != NULL) {
        *colon = '\0';
        port = colon + 1;
        int pn;
        if (!parse_int(port, &pn) || pn < 1 || pn > 65535) {
            fprintf(stderr, "bench_load: bad port in %s\n", url);
            return -1;
        }
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "bench_load: %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
    r->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    snprintf(r->host_header, sizeof r->host_header, "%s", hostport);
    return 0;
}

/* ---- HTTP/1.1 replies ------------------------------------------------------ */

struct reply {
    int status;
    const char *body;
    size_t body_len;
    size_t total; /* bytes the reply takes in the buffer */
    bool close;   /* the server closes after it */
};

/* 1: a whole reply in buf (filled in *out), 0: need more, -1: malformed (why in *err) */
static int parse_reply(const char *buf, size_t len, struct reply *out, const char **err)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL) {
        if (len > MAX_HEADER) {
            *err = "reply header too large";
            return -1;
        }
        return 0;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    if (head_len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
        buf[11] < '0' || buf[11] > '9') {
        *err = "malformed status line";
        return -1;
    }
    int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    bool http10 = buf[7] == '0';
    bool close = http10, keep_alive = false;
    long long content_length = -1;
    const char *line = memchr(buf, '\n', head_len) + 1;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        if (eol == NULL)
            break;
        size_t n = (size_t)(eol - line);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        const char *colon = memchr(line, ':', n);
        if (colon != NULL) {
            size_t klen = (size_t)(colon - line);
            const char *v = colon + 1;
            size_t vlen = n - klen - 1;
            while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (klen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
                long long cl = 0;
                if (vlen == 0 || vlen > 9) {
                    *err = "bad Content-Length";
                    return -1;
                }
                for (size_t i = 0; i < vlen; i++) {
                    if (v[i] < '0' || v[i] > '9') {
                        *err = "bad Content-Length";
                        return -1;
                    }
                    cl = cl * 10 + (v[i] - '0');
                }
                if (content_length >= 0 && cl != content_length) {
                    *err = "conflicting Content-Length headers";
                    return -1;
                }
                content_length = cl;
            } else if (klen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
                /* the server sends whole buffers with a length; a chunked
                 * reply would be a change this client must learn about */
                *err = "Transfer-Encoding in reply (not supported by bench_load)";
                return -1;
            } else if (klen == 10 && strncasecmp(line, "Connection", 10) == 0) {
                if (vlen == 5 && strncasecmp(v, "close", 5) == 0)
                    close = true;
                else if (vlen == 10 && strncasecmp(v, "keep-alive", 10) == 0)
                    keep_alive = true;
            }
        }
        line = eol + 1;
    }
    if (http10 && keep_alive)
        close = false;
    if (status == 204 || status == 304 || status < 200)
        content_length = 0;
    if (content_length < 0) {
        *err = "reply without Content-Length";
        return -1;
    }
    if ((size_t)content_length > MAX_RESPONSE - head_len) {
        *err = "reply body too large";
        return -1;
    }
    if (len < head_len + (size_t)content_length)
        return 0;
    *out = (struct reply){.status = status, .body = buf + head_len,
                          .body_len = (size_t)content_length,
                          .total = head_len + (size_t)content_length, .close = close};
    return 1;
}

/* ---- connections ------------------------------------------------------------ */

static int open_socket(const struct run *r)
{
    int fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* connect blocks at most 2 s (loopback answers at once) */
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)&r->addr, r->addrlen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void conn_down(struct run *r, int i, int64_t now)
{
    struct conn *c = &r->conns[i];
    if (c->fd >= 0) {
        epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (c->state == C_IDLE) {
        for (int k = 0; k < r->n_idle; k++)
            if (r->idle[k] == i) {
                r->idle[k] = r->idle[--r->n_idle];
                break;
            }
    }
    if (c->state == C_BUSY)
        r->in_flight--;
    c->state = C_DOWN;
    r->n_down++;
    c->retry_at = now; /* at once after a clean close; callers delay after errors */
    c->len = 0;
}

static int conn_up(struct run *r, int i)
{
    struct conn *c = &r->conns[i];
    int fd = open_socket(r);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)i};
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    if (c->state == C_DOWN)
        r->n_down--;
    c->state = C_IDLE;
    c->len = 0;
    r->idle[r->n_idle++] = i;
    return 0;
}

/* the request on connection i failed: count it, drop the connection */
static void fail_request(struct run *r, int i, int64_t now, const char *why)
{
    struct conn *c = &r->conns[i];
    if (c->state == C_BUSY) {
        note_error(r, why);
        if (c->measured)
            r->measured_done++;
    }
    conn_down(r, i, now);
    c->retry_at = now + RETRY_NS;
}

static void want_write(struct run *r, int i, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)i};
    epoll_ctl(r->ep, EPOLL_CTL_MOD, r->conns[i].fd, &ev);
}

static void flush_request(struct run *r, int i, int64_t now)
{
    struct conn *c = &r->conns[i];
    while (c->req_off < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->req_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want_write(r, i, true);
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        char why[200];
        snprintf(why, sizeof why, "send: %s", strerror(errno));
        fail_request(r, i, now, why);
        return;
    }
}

static void send_next(struct run *r, int i, int64_t now)
{
    struct conn *c = &r->conns[i];
    const struct options *opt = r->opt;
    uint64_t seq = r->next_seq++;
    char body[512];
    /* gpus: 1 and a selector no node has: a realistic spec that stays
     * Pending, so the figure is durable admission, not execution */
    int blen = snprintf(body, sizeof body,
                        "{\"kind\":\"Job\",\"name\":\"%s-%llu\",\"namespace\":\"%s\","
                        "\"resources\":{\"gpus\":1,\"cpu\":2,\"memory\":\"8Gi\"},"
                        "\"selector\":{\"bench.gpuaas.io/never-matches\":\"yes\"},"
                        "\"command\":[\"python3\",\"train.py\"]}",
                        opt->prefix, (unsigned long long)seq, opt->ns);
    int len = snprintf(c->req, sizeof c->req,
                       "POST /v1/jobs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                       r->host_header, opt->token, blen, body);
    c->intended = intended_at(r, seq);
    c->sent = now;
    c->measured = c->intended >= r->win_start && c->intended < r->win_end;
    if (c->measured)
        r->measured_sent++;
    if (c->measured && now - c->intended > r->max_lag)
        r->max_lag = now - c->intended;
    c->req_len = (size_t)len;
    c->req_off = 0;
    c->state = C_BUSY;
    c->len = 0;
    r->in_flight++;
    flush_request(r, i, now);
}

static void on_reply(struct run *r, int i, const struct reply *rep, int64_t now)
{
    struct conn *c = &r->conns[i];
    if (rep->status == 201) {
        r->created++;
        if (now >= r->win_start && now < r->win_end)
            r->ok_in_window++;
        if (c->measured) {
            if (lat_push(&r->corrected, now - c->intended) != 0 ||
                lat_push(&r->service, now - c->sent) != 0) {
                fprintf(stderr, "bench_load: out of memory\n");
                exit(1);
            }
        }
    } else {
        char detail[500];
        size_t n = rep->body_len < 400 ? rep->body_len : 400;
        snprintf(detail, sizeof detail, "HTTP %d: %.*s", rep->status, (int)n, rep->body);
        note_error(r, detail);
    }
    if (c->measured)
        r->measured_done++;
    c->state = C_IDLE;
    r->in_flight--;
    r->idle[r->n_idle++] = i;
}

static void on_readable(struct run *r, int i, int64_t now)
{
    struct conn *c = &r->conns[i];
    for (;;) {
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 8192;
            if (cap > MAX_RESPONSE + 4096) {
                fail_request(r, i, now, "reply too large");
                return;
            }
            char *grown = realloc(c->buf, cap);
            if (grown == NULL) {
                fail_request(r, i, now, "out of memory for a reply");
                return;
            }
            c->buf = grown;
            c->cap = cap;
        }
        size_t room = c->cap - c->len;
        ssize_t n = recv(c->fd, c->buf + c->len, room, 0);
        if (n > 0) {
            c->len += (size_t)n;
            if ((size_t)n < room)
                break; /* drained: skip the recv that would say EAGAIN (epoll is level-triggered) */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        /* closed (n == 0) or reset */
        if (c->state == C_BUSY) {
            char why[200];
            snprintf(why, sizeof why, "%s", n == 0 ? "connection closed before the reply"
                                                   : strerror(errno));
            fail_request(r, i, now, why);
        } else
            conn_down(r, i, now); /* an idle keep-alive connection closed: reopen */
        return;
    }
    if (c->state != C_BUSY) {
        if (c->len > 0)
            fail_request(r, i, now, "bytes from the server with no request outstanding");
        return;
    }
    struct reply rep;
    const char *err = NULL;
    int rc = parse_reply(c->buf, c->len, &rep, &err);
    if (rc == 0)
        return;
    if (rc < 0) {
        fail_request(r, i, now, err);
        return;
    }
    if (rep.total != c->len) {
        fail_request(r, i, now, "extra bytes after the reply");
        return;
    }
    bool unsent = c->req_off < c->req_len; /* replied before reading all of it */
    on_reply(r, i, &rep, now);
    c->len = 0;
    if (rep.close || unsent)
        conn_down(r, i, now);
}

/* ---- one blocking request (namespace set-up) --------------------------------- */

static int create_namespace(struct run *r)
{
    int fd = open_socket(r);
    if (fd < 0) {
        fprintf(stderr, "bench_load: connect to %s: %s\n", r->opt->url, strerror(errno));
        return -1;
    }
    char body[300], req[1500];
    int blen = snprintf(body, sizeof body, "{\"name\":\"%s\"}", r->opt->ns);
    int len = snprintf(req, sizeof req,
                       "POST /v1/namespaces HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/json\r\nContent-Length: %d\r\n"
                       "Connection: close\r\n\r\n%s",
                       r->host_header, r->opt->token, blen, body);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int status = -1;
    const char *err = "no reply";
    char *buf = malloc(MAX_HEADER + 65536);
    size_t got = 0;
    if (buf != NULL && send(fd, req, (size_t)len, MSG_NOSIGNAL) == len) {
        struct reply rep;
        for (;;) {
            ssize_t n = recv(fd, buf + got, MAX_HEADER + 65536 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            int rc = parse_reply(buf, got, &rep, &err);
            if (rc < 0)
                break;
            if (rc > 0) {
                status = rep.status;
                if (status != 201 && status != 409)
                    fprintf(stderr, "bench_load: POST /v1/namespaces %s: HTTP %d %.*s\n",
                            r->opt->ns, status, (int)(rep.body_len < 400 ? rep.body_len : 400),
                            rep.body);
                break;
            }
            if (got == MAX_HEADER + 65536)
                break;
        }
    }
    if (status < 0)
        fprintf(stderr, "bench_load: POST /v1/namespaces: %s\n", err);
    free(buf);
    close(fd);
    return status == 201 || status == 409 ? 0 : -1;
}

/* ---- the schedule -------------------------------------------------------------- */

/* epoll_wait until the monotonic time `at` at the latest, to the microsecond
 * (epoll_pwait2; kernels before 5.11 lack it, then whole milliseconds) */
static int wait_until(struct run *r, struct epoll_event *ev, int max, int64_t at)
{
    static bool no_pwait2;
    int64_t d = at - now_ns();
    if (d < 0)
        d = 0;
    if (!no_pwait2) {
        struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
        int n = epoll_pwait2(r->ep, ev, max, &ts, NULL);
        if (n >= 0 || errno != ENOSYS)
            return n;
        no_pwait2 = true;
        fprintf(stderr, "bench_load: no epoll_pwait2, waits are rounded up to 1 ms\n");
    }
    return epoll_wait(r->ep, ev, max, (int)((d + 999999) / 1000000));
}

static void run_loop(struct run *r)
{
    struct epoll_event events[256];
    for (;;) {
        int64_t now = now_ns();
        /* reopen connections whose retry time has come */
        int64_t next_retry = INT64_MAX;
        for (int i = 0; r->n_down > 0 && !r->stop_sending && i < r->opt->connections; i++) {
            struct conn *c = &r->conns[i];
            if (c->state != C_DOWN)
                continue;
            if (c->retry_at <= now) {
                if (conn_up(r, i) != 0) {
                    char why[200];
                    snprintf(why, sizeof why, "connect: %s", strerror(errno));
                    note_error(r, why);
                    c->retry_at = now + RETRY_NS;
                }
            }
            if (c->state == C_DOWN && c->retry_at < next_retry)
                next_retry = c->retry_at;
        }
        /* the measured requests are all answered: stop the schedule */
        if (!r->stop_sending && r->next_seq >= r->end_seq && r->measured_done == r->measured_sent)
            r->stop_sending = true;
        if (now >= r->hard_end)
            break;
        /* send every due request a free connection can take */
        while (!r->stop_sending && r->n_idle > 0 && intended_at(r, r->next_seq) <= now) {
            int i = r->idle[--r->n_idle];
            send_next(r, i, now);
        }
        if (r->stop_sending && r->in_flight == 0)
            break;
        /* wake for the next due request only when a connection could send it */
        int64_t wake = r->hard_end;
        if (!r->stop_sending && r->n_idle > 0) {
            int64_t due = intended_at(r, r->next_seq);
            /* with a tick, the requests due within it go out together at
             * its end: fewer wake-ups of the client, and the wait still
             * counts in their latency (it runs from the due time) */
            if (r->opt->tick_ns > 0)
                due = (due / r->opt->tick_ns + 1) * r->opt->tick_ns;
            if (due < wake)
                wake = due;
        }
        if (next_retry < wake)
            wake = next_retry;
        int n = wait_until(r, events, 256, wake);
        if (n < 0 && errno != EINTR) {
            perror("bench_load: epoll_wait");
            break;
        }
        now = now_ns();
        for (int k = 0; k < n; k++) {
            int i = (int)events[k].data.u32;
            struct conn *c = &r->conns[i];
            if (c->fd < 0)
                continue;
            if ((events[k].events & EPOLLOUT) && c->state == C_BUSY) {
                flush_request(r, i, now);
                if (c->fd >= 0 && c->req_off == c->req_len)
                    want_write(r, i, false);
            }
            if (c->fd >= 0 && (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                on_readable(r, i, now);
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const struct lat *l, double p)
{
    if (l->n == 0)
        return 0.0;
    size_t i = (size_t)(p * (double)(l->n - 1) + 0.5);
    if (i >= l->n)
        i = l->n - 1;
    return l->v[i] / 1000.0;
}

int main(int argc, char **argv)
{
    struct options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0)
        return rc;
    struct run r = {.opt = &opt, .ep = -1};
    if (resolve_url(&r, opt.url) != 0)
        return 2;
    if (create_namespace(&r) != 0)
        return 1;
    /* timer wake-ups close to the due time, not 50 us late */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    r.conns = calloc((size_t)opt.connections, sizeof *r.conns);
    r.idle = calloc((size_t)opt.connections, sizeof *r.idle);
    if (r.ep < 0 || r.conns == NULL || r.idle == NULL) {
        perror("bench_load: setup");
        return 1;
    }
    r.n_down = opt.connections; /* calloc: every connection starts C_DOWN */
    for (int i = 0; i < opt.connections; i++) {
        r.conns[i].fd = -1;
        if (conn_up(&r, i) != 0) {
            fprintf(stderr, "bench_load: connect to %s: %s\n", opt.url, strerror(errno));
            return 1;
        }
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    r.t0 = now_ns();
    r.win_start = r.t0 + (int64_t)(opt.warmup_s * 1e9);
    r.win_end = r.win_start + (int64_t)(opt.duration_s * 1e9);
    r.hard_end = r.win_end + (int64_t)DRAIN_S * 1000000000;
    r.end_seq = first_seq_at(&r, r.win_end);

    run_loop(&r);

    int64_t t_end = now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec -
                            ru0.ru_stime.tv_sec) +
                   (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                            ru0.ru_stime.tv_usec) / 1e6;
    double elapsed_s = (double)(t_end - r.t0) / 1e9;
    /* measured requests without a reply by the deadline (never sent, or on the wire) */
    uint64_t measured_total = r.end_seq - first_seq_at(&r, r.win_start);
    uint64_t unfinished = measured_total - r.measured_done;
    if (unfinished > 0 && r.first_error[0] == '\0')
        snprintf(r.first_error, sizeof r.first_error,
                 "%llu measured requests had no reply %d s after the window",
                 (unsigned long long)unfinished, DRAIN_S);
    uint64_t errors = r.errors + unfinished;

    qsort(r.corrected.v, r.corrected.n, sizeof *r.corrected.v, cmp_u32);
    qsort(r.service.v, r.service.n, sizeof *r.service.v, cmp_u32);
    double rate = (double)r.ok_in_window / opt.duration_s;
    const struct lat *C = &r.corrected, *S = &r.service;
    printf("offered %.0f/s for %.1f s (+%.1f s warmup) on %d connections: %llu measured, "
           "%zu ok (201), %llu errors, %llu unfinished; achieved %.0f/s (201s inside the "
           "window)\n",
           opt.rate, opt.duration_s, opt.warmup_s, opt.connections,
           (unsigned long long)measured_total, C->n, (unsigned long long)errors,
           (unsigned long long)unfinished, rate);
    printf("latency from the due time (corrected): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  "
           "max %.2f ms\n",
           pct_ms(C, 0.50), pct_ms(C, 0.90), pct_ms(C, 0.99), pct_ms(C, 0.999),
           C->n ? C->v[C->n - 1] / 1000.0 : 0.0);
    printf("service time from the send (uncorrected): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  "
           "max %.2f ms\n",
           pct_ms(S, 0.50), pct_ms(S, 0.90), pct_ms(S, 0.99), pct_ms(S, 0.999),
           S->n ? S->v[S->n - 1] / 1000.0 : 0.0);
    printf("client: %.2f CPU s over %.1f s (%.0f %% of one core); largest send delay behind "
           "schedule (measured) %.2f ms; %llu jobs created in all\n",
           cpu_s, elapsed_s, 100.0 * cpu_s / elapsed_s, (double)r.max_lag / 1e6,
           (unsigned long long)r.created);
    if (r.first_error[0] != '\0')
        printf("first error: %s\n", r.first_error);
    printf("RESULT offered=%.0f connections=%d seconds=%.1f measured=%llu ok=%zu errors=%llu "
           "unfinished=%llu rate=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f p999_ms=%.2f "
           "max_ms=%.2f svc_p50_ms=%.2f svc_p90_ms=%.2f svc_p99_ms=%.2f svc_p999_ms=%.2f "
           "svc_max_ms=%.2f client_cpu=%.2f created=%llu\n",
           opt.rate, opt.connections, opt.duration_s, (unsigned long long)measured_total, C->n,
           (unsigned long long)errors, (unsigned long long)unfinished, rate, pct_ms(C, 0.50),
           pct_ms(C, 0.90), pct_ms(C, 0.99), pct_ms(C, 0.999), C->n ? C->v[C->n - 1] / 1000.0 : 0.0,
           pct_ms(S, 0.50), pct_ms(S, 0.90), pct_ms(S, 0.99), pct_ms(S, 0.999),
           S->n ? S->v[S->n - 1] / 1000.0 : 0.0, cpu_s, (unsigned long long)r.created);
    for (int i = 0; i < opt.connections; i++) {
        if (r.conns[i].fd >= 0)
            close(r.conns[i].fd);
        free(r.conns[i].buf);
    }
    free(r.conns);
    free(r.idle);
    free(C->v);
    free(S->v);
    close(r.ep);
    return errors == 0 ? 0 : 1;
}
