#include "server/doctor.h"

#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/exec.h"
#include "gpu/probe.h"
#include "gpuaas/error.h"
#include "server/gpus.h"

static const char doctor_usage[] =
    "usage: gpuaas doctor [--data DIR] [--nvml-library PATH] [--gpus-json] [-o table|json]\n"
    "\n"
    "Says what this host offers and enforces: GPUs (real NVML, or the fake NVML\n"
    "on a host without GPUs), driver version, MIG, which cgroup limits the local\n"
    "executor enforces, and whether network namespaces work.\n"
    "  --gpus-json          print every field NVML reports for every GPU, as JSON\n"
    "  --nvml-library PATH  NVML library to load (default libnvidia-ml.so.1)\n"
    "  --data DIR           where the fake NVML description lives (default ./var)\n";

/* unshare(CLONE_NEWNET) in a child: isolation of pods' networks needs it. */
static bool netns_works(char *why, size_t why_size)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork failed");
        return false;
    }
    if (pid == 0)
        _exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
    int status = 0;
    waitpid(pid, &status, 0);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    snprintf(why, why_size, "%s", ok ? "unshare(CLONE_NEWNET) works" : "unshare(CLONE_NEWNET) refused");
    return ok;
}

static void ignore_exit(void *arg, const struct exec_exit *ex) { (void)arg, (void)ex; }

static json_t *exec_report(void)
{
    char dir[] = "/tmp/gpuaas-doctor.XXXXXX";
    char err[256] = "";
    void *ctx = NULL;
    struct exec_caps caps = {0};
    if (!mkdtemp(dir))
        return json_pack("{s:s}", "error", "cannot create a temporary directory");
    int r = exec_local_driver.init(dir, ignore_exit, NULL, &ctx, err, sizeof err);
    if (r == 0) {
        exec_local_driver.caps(ctx, &caps);
        exec_local_driver.shutdown(ctx);
    }
    rmdir(dir);
    if (r < 0)
        return json_pack("{s:s}", "error", err);
    return json_pack("{s:s,s:b,s:b,s:b,s:b,s:s}", "cgroup_version", caps.cgroup_version, "memory_limit",
                     caps.memory_limit, "cpu_limit", caps.cpu_limit, "pids_limit", caps.pids_limit, "kill_tree",
                     caps.kill_tree, "detail", caps.detail);
}

int doctor_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},    {"nvml-library", required_argument, NULL, 'l'},
        {"gpus-json", no_argument, NULL, 'g'},     {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *data = "./var", *library = NULL, *output = "table";
    bool gpus_json = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd': data = optarg; break;
        case 'l': library = optarg; break;
        case 'g': gpus_json = true; break;
        case 'o': output = optarg; break;
        case 'h': fputs(doctor_usage, stdout); return 0;
        default: fputs(doctor_usage, stderr); return 2;
        }
    }
    if (strcmp(output, "table") != 0 && strcmp(output, "json") != 0) {
        fprintf(stderr, "gpuaas doctor: -o must be table or json\n");
        return 2;
    }
    if (gpus_json) /* every NVML field, straight from the driver */
        return gpu_probe_print(library, stdout) < 0 ? 1 : 0;

    /* GPUs: the same discovery the server does (real NVML, else the fake) */
    struct gpu_source src;
    char err[512] = "";
    json_t *gpus = json_array();
    char tmp_data[] = "/tmp/gpuaas-doctor-data.XXXXXX";
    const char *data_dir = access(data, W_OK) == 0 ? data : mkdtemp(tmp_data);
    int r = gpus_open(&src, library, NULL, NULL, data_dir ? data_dir : "/tmp", err, sizeof err);
    json_t *gpu_report;
    if (r == 0) {
        for (unsigned i = 0; i < src.count; i++) {
            struct gpu_info info;
            if (src.driver->query(src.ctx, i, &info) < 0)
                continue;
            json_t *migs = json_array();
            for (unsigned m = 0; m < info.mig_count; m++)
                json_array_append_new(migs, json_pack("{s:s,s:s}", "profile", info.mig[m].profile, "uuid",
                                                      info.mig[m].uuid));
            json_array_append_new(gpus, json_pack("{s:i,s:s,s:s,s:s,s:I,s:i,s:o}", "index", (int)info.index, "uuid",
                                                  info.uuid, "name", info.name, "model", info.model, "memory_bytes",
                                                  (json_int_t)info.memory_total_bytes, "mig_mode", info.mig_mode,
                                                  "mig_devices", migs));
        }
        gpu_report = json_pack("{s:s,s:b,s:o}", "found_through", src.how, "fake", src.fake, "devices", gpus);
    } else {
        gpu_report = json_pack("{s:s,s:o}", "error", err, "devices", gpus);
    }
    gpus_close(&src);
    if (data_dir == tmp_data) {
        char path[128];
        snprintf(path, sizeof path, "%s/fake-nvml.conf", tmp_data);
        unlink(path);
        rmdir(tmp_data);
    }
    char netns_why[128];
    bool netns = netns_works(netns_why, sizeof netns_why);
    json_t *report = json_pack("{s:o,s:o,s:{s:b,s:s}}", "gpus", gpu_report, "executor", exec_report(), "netns",
                               "works", netns, "detail", netns_why);
    if (strcmp(output, "json") == 0) {
        char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text ? text : "{}");
        free(text);
    } else {
        json_t *g = json_object_get(report, "gpus"), *e = json_object_get(report, "executor");
        printf("GPUs:        %s\n", json_string_value(json_object_get(g, "found_through"))
                                        ? json_string_value(json_object_get(g, "found_through"))
                                        : json_string_value(json_object_get(g, "error")));
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(g, "devices"), i, d) {
            printf("  GPU %lld  %-8s %-40s %s%s\n", (long long)json_integer_value(json_object_get(d, "index")),
                   json_string_value(json_object_get(d, "model")), json_string_value(json_object_get(d, "uuid")),
                   json_string_value(json_object_get(d, "name")),
                   json_integer_value(json_object_get(d, "mig_mode")) == 1 ? "  [MIG]" : "");
            size_t m;
            json_t *mig;
            json_array_foreach(json_object_get(d, "mig_devices"), m, mig)
                printf("          MIG %-10s %s\n", json_string_value(json_object_get(mig, "profile")),
                       json_string_value(json_object_get(mig, "uuid")));
        }
        if (json_object_get(e, "error")) {
            printf("Executor:    %s\n", json_string_value(json_object_get(e, "error")));
        } else {
            printf("Executor:    cgroup %s; memory limit %s, cpu limit %s, pids limit %s, whole-tree kill %s\n",
                   json_string_value(json_object_get(e, "cgroup_version")),
                   json_is_true(json_object_get(e, "memory_limit")) ? "enforced" : "NOT enforced",
                   json_is_true(json_object_get(e, "cpu_limit")) ? "enforced" : "NOT enforced",
                   json_is_true(json_object_get(e, "pids_limit")) ? "enforced" : "NOT enforced",
                   json_is_true(json_object_get(e, "kill_tree")) ? "yes" : "no (process group only)");
            printf("             %s\n", json_string_value(json_object_get(e, "detail")));
        }
        printf("Networking:  %s\n", netns_why);
    }
    json_decref(report);
    return r < 0 ? 1 : 0;
}
