/* Integration-test harness: runs the real `gpuaas server` as a child
 * process on a free loopback port with a fresh data directory, and talks to
 * it over HTTP with libcurl (one keep-alive connection per handle).
 *
 * Everything is prefixed th_ so that nothing clashes with libgpuaas.a, which
 * the integration binaries are linked with. */
#ifndef GPUAAS_TESTS_HARNESS_H
#define GPUAAS_TESTS_HARNESS_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TH_START_TIMEOUT_MS 20000
#define TH_STOP_TIMEOUT_MS 30000

struct th_server {
    pid_t pid;           /* 0 when not running */
    int port;
    int starts;          /* how many times it was started */
    char data_dir[512];
    char url[64];        /* "http://127.0.0.1:PORT" */
    char token[512];     /* platform-admin token from DATA/admin.token */
    char log_path[600];  /* DATA/server.log: the server's stdout and stderr */
};

/* Once per program, before any other th_ call / after the last. */
void th_global_init(void);
void th_global_cleanup(void);

/* $GPUAAS_BIN, else "build/test/gpuaas". */
const char *th_server_bin(void);
/* A loopback TCP port that was free a moment ago (bind port 0, close). */
int th_free_port(void);
/* mkdtemp under $TMPDIR (or /tmp): "gpuaas-TAG-XXXXXX". 0 or -1. */
int th_make_tempdir(const char *tag, char *out, size_t out_size);
/* rm -rf; 0 or -1. */
int th_rm_rf(const char *path);

/* Starts the server on a fresh temp data dir and waits until GET /healthz
 * answers 200 and the admin token is readable. 0 or -1 (reason printed as a
 * TAP comment, with the server log). */
int th_server_start(struct th_server *s, const char *tag);
/* Starts it again on the same data dir (on a new free port). 0 or -1. */
int th_server_restart(struct th_server *s);
/* Like th_server_start, but writes config_yaml to DATA/server.yaml first and
 * runs `$GPUAAS_BIN server --config DATA/server.yaml --listen 127.0.0.1:PORT
 * --data DATA`; ready once /healthz is 200, DATA/admin.token is readable and
 * /readyz is 200. Up to 3 tries, each within TH_START_TIMEOUT_MS. 0 or -1
 * (reason and server log printed). */
int th_server_start_config(struct th_server *s, const char *tag, const char *config_yaml);
/* The same with a single try within timeout_ms: no retry, no log printed; on
 * failure the server is killed and the data dir kept (th_server_destroy). */
int th_server_try_start_config(struct th_server *s, const char *tag, const char *config_yaml,
                               long timeout_ms);
/* Starts a --config server again on the same data dir (on a new free port;
 * killed first if still running); config_yaml replaces DATA/server.yaml
 * unless NULL. 0 or -1. */
int th_server_restart_config(struct th_server *s, const char *config_yaml);
/* SIGTERM and wait. Returns the exit status (0..255), 128+N if it died of
 * signal N, or -1 if it did not exit within TH_STOP_TIMEOUT_MS (it is then
 * killed with SIGKILL). A non-zero status prints the server log. */
int th_server_stop(struct th_server *s);
/* The same with another signal (SIGINT). */
int th_server_stop_with(struct th_server *s, int sig);
/* kill -9 and reap. */
void th_server_kill9(struct th_server *s);
/* True while the child has not exited (reaps it if it has). */
bool th_server_alive(struct th_server *s);
/* Prints the last max_lines lines of DATA/server.log as TAP comments. */
void th_server_print_log(const struct th_server *s, int max_lines);
/* kill -9 if still running, then remove the data dir (unless TH_KEEP=1). */
void th_server_destroy(struct th_server *s);

/* ---- HTTP ---------------------------------------------------------------- */
struct th_http {
    CURL *curl;
    char url[64];
    char token[512];
};

struct th_resp {
    long status;     /* 0: no response (transport error) */
    char *body;      /* NUL-terminated, never NULL after th_http_do */
    size_t len;
    json_t *json;    /* body parsed as JSON, or NULL */
    int curl_code;
    long new_connections; /* connections curl had to open for this request */
    char curl_err[CURL_ERROR_SIZE];
};

struct th_req {
    const char *method;        /* "GET", "POST", ... */
    const char *path;          /* "/v1/jobs?namespace=a" */
    const char *body;          /* NULL: none */
    size_t body_len;           /* 0: strlen(body) */
    const char *content_type;  /* NULL: application/json when there is a body */
    const char *token;         /* NULL: the handle's token; "": no Authorization header */
    const char *authorization; /* raw Authorization header value; overrides token */
    long timeout_ms;           /* 0: 30000 */
    bool chunked;              /* send the body with Transfer-Encoding: chunked */
};

/* Points the handle at the server (URL and admin token). 0 or -1. */
int th_http_init(struct th_http *h, const struct th_server *s);
/* After a restart: new URL and token, same handle. */
void th_http_retarget(struct th_http *h, const struct th_server *s);
void th_http_free(struct th_http *h);

/* Performs one request. Returns 0 when a response arrived, -1 otherwise
 * (r->status 0, r->curl_err says why). r must be freed with th_resp_free. */
int th_http_do(struct th_http *h, const struct th_req *req, struct th_resp *r);
void th_resp_free(struct th_resp *r);

/* Shorthands with the handle's token; return the HTTP status (0: none).
 * The response stays in *r (free it). */
long th_call(struct th_http *h, const char *method, const char *path, const char *body,
             const char *content_type, struct th_resp *r);

/* error.code / error.field / error.message of an error reply, or NULL. */
const char *th_err_code(const struct th_resp *r);
const char *th_err_field(const struct th_resp *r);
const char *th_err_message(const struct th_resp *r);

/* Member lookup by a dotted path ("status.state"); NULL if absent. */
json_t *th_jpath(json_t *root, const char *path);
/* String at a dotted path, or NULL. */
const char *th_jstr(json_t *root, const char *path);

/* Reads a whole file into a malloc'd NUL-terminated string, or NULL. */
char *th_read_file(const char *path, size_t *ret_len);
/* Writes a file (mode 0644). 0 or -1. */
int th_write_file(const char *path, const char *text);

/* Runs argv (argv[0] looked up in PATH if it has no '/') with stdout
 * captured into *ret_out (malloc'd) and stderr into *ret_err; waits at most
 * timeout_ms. Returns the exit status, 128+N for signal N, -1 on error or
 * timeout. */
int th_run_capture(char *const argv[], char **ret_out, char **ret_err, long timeout_ms);

/* Starts argv (PATH lookup) with stdin from /dev/null and stdout+stderr
 * appended to log_path; in a new process group (pgid = pid) if asked. The
 * child is killed if this process dies. Returns the pid or -1. */
pid_t th_spawn(char *const argv[], const char *log_path, bool new_process_group);
/* Waits for a child up to timeout_ms: exit status, 128+N for signal N, -1 on
 * error, -2 on timeout (the child is left running). */
int th_wait(pid_t pid, long timeout_ms);

/* ---- processes in /proc ----------------------------------------------------
 * For finding (and killing) what a test's jobs left behind. */

/* Reads /proc/PID/WHAT (binary, at most size bytes) into buf; length or -1. */
ssize_t th_read_proc(pid_t pid, const char *what, char *buf, size_t size);
/* True when the process is a zombie, dead, or gone. */
bool th_proc_is_zombie(pid_t pid);

/* What th_proc_matches looks for; NULL members are not looked at. */
struct th_proc_match {
    const char *cmd_word;  /* an argv element equal to this ... */
    const char *cmd_sub;   /* ... and/or the cmdline (args joined by ' ') containing this */
    const char *env_entry; /* an environment entry exactly NAME=VALUE */
    const char *env_also;  /* with env_entry: this entry too */
};

/* True when pid's cmdline matches (cmd_word and cmd_sub, those given) or its
 * environment holds env_entry (and env_also). An empty needle never matches. */
bool th_proc_matches(pid_t pid, const struct th_proc_match *m);
/* Live (not zombie) processes matching m, other than this process and
 * `except` (0: none); fills pids (up to max; NULL: none); returns the count. */
int th_find_procs(const struct th_proc_match *m, pid_t except, pid_t *pids, int max);
/* th_note "WHY: pid N: CMDLINE" for each of the first (at most 32) pids. */
void th_describe_procs(const char *why, const pid_t *pids, int n);
/* SIGKILLs what find(pids, max) reports, in up to 5 rounds 100 ms apart,
 * until it reports none; the first round's processes are described (why). */
void th_kill_procs(int (*find)(pid_t *pids, int max), const char *why);

/* ---- per-test bookkeeping --------------------------------------------------
 * A test calls TH_PASS() as its last statement; the teardown
 * th_teardown_report() prints the server log when it was not reached (the
 * test failed), so a failing test shows what the server said. */
extern struct th_server *th_log_server;
extern bool th_test_passed;
#define TH_PASS() (th_test_passed = true)
int th_setup_mark(void **state);
int th_teardown_report(void **state);

/* Monotonic milliseconds. */
long long th_now_ms(void);
void th_sleep_ms(long ms);

/* TAP comment to stdout ("# ..."), flushed. */
void th_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
