#include "harness/runjson.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/json_text.h"
#include "common/util.h"

void runjson_now_iso(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The environment variables that change what an allocator does. */
static bool env_matters(const char *entry)
{
    static const char *prefixes[] = {"LD_PRELOAD=", "MALLOC_",     "GLIBC_TUNABLES=", "MIMALLOC_",
                                     "TCMALLOC_",   "ALLOCSCOPE_", "JE_MALLOC_CONF="};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (!strncmp(entry, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static void add_env(json_t *env, const char *entry)
{
    const char *eq = strchr(entry, '=');
    if (!eq)
        return;
    char *name = xstrndup(entry, (size_t)(eq - entry));
    json_text_set(env, name, json_text(eq + 1));
    free(name);
}

static json_t *env_json(const struct target_spec *spec)
{
    extern char **environ;
    json_t *env = json_object();
    for (char **e = environ; *e; e++)
        if (env_matters(*e) && strncmp(*e, "LD_PRELOAD=", 11))
            add_env(env, *e);
    for (char **e = spec->extra_env; e && *e; e++)
        add_env(env, *e);
    const char *user = getenv("LD_PRELOAD");
    char *preload = util_format("%s%s%s%s%s", spec->shim_path, spec->preload_after ? " " : "",
                                spec->preload_after ? spec->preload_after : "",
                                user && *user ? " " : "", user && *user ? user : "");
    json_object_set_new(env, "LD_PRELOAD", json_text(preload));
    free(preload);
    return env;
}

static json_t *host_json(void)
{
    struct utsname u;
    uname(&u);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return json_pack("{s:o, s:o, s:o, s:I, s:I}", "hostname", json_text(host), "kernel",
                     json_text(u.release), "machine", json_text(u.machine), "cpus",
                     (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "mem_bytes",
                     (json_int_t)pages * page);
}

static json_t *exit_json(const struct target_result *r)
{
    if (r->exec_failed)
        return json_pack("{s:n, s:n, s:b, s:s}", "status", "signal", "core", 0, "error",
                         strerror(r->exec_errno));
    if (WIFSIGNALED(r->status))
        return json_pack("{s:n, s:i, s:b}", "status", "signal", WTERMSIG(r->status), "core",
                         WCOREDUMP(r->status) != 0);
    return json_pack("{s:i, s:n, s:b}", "status", WEXITSTATUS(r->status), "signal", "core", 0);
}

static json_t *argv_json(char **argv)
{
    json_t *a = json_array();
    for (char **p = argv; *p; p++)
        json_array_append_new(a, json_text(*p));
    return a;
}

static json_t *opt_int(long long v)
{
    return v < 0 ? json_null() : json_integer(v);
}

json_t *runjson_build(const struct target_spec *spec, const struct target_result *result,
                      const char *started_iso, const struct run_summary *s, json_t *allocator)
{
    char cwd[PATH_MAX] = "";
    if (!getcwd(cwd, sizeof(cwd)))
        cwd[0] = '\0';
    const char *slash = strrchr(spec->argv[0], '/');
    json_t *root = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:s, s:f, s:o, s:o, s:o}", "tool", "allocscope", "version",
        ALLOCSCOPE_VERSION, "command", argv_json(spec->argv), "cwd", json_text(cwd), "name",
        json_text(slash ? slash + 1 : spec->argv[0]), "started", started_iso, "duration_s",
        result->duration_s, "env", env_json(spec), "host", host_json(), "exit", exit_json(result));
    json_object_set_new(root, "shim",
                        json_pack("{s:o, s:i, s:i}", "sample",
                                  json_text(spec->shim.sample ? spec->shim.sample : "524288"),
                                  "depth", spec->shim.depth ? (int)spec->shim.depth : 32,
                                  "interval_ms",
                                  spec->shim.interval_ms ? (int)spec->shim.interval_ms : 100));
    json_object_set_new(root, "allocator", allocator ? allocator : json_null());
    json_object_set_new(
        root, "rusage",
        json_pack(
            "{s:I, s:f, s:f}", "max_rss_bytes", (json_int_t)result->usage.ru_maxrss * 1024,
            "user_s", (double)result->usage.ru_utime.tv_sec + result->usage.ru_utime.tv_usec / 1e6,
            "sys_s", (double)result->usage.ru_stime.tv_sec + result->usage.ru_stime.tv_usec / 1e6));
    json_object_set_new(
        root, "summary",
        json_pack("{s:o, s:o, s:o, s:o}", "peak_rss_bytes", opt_int(s->peak_rss_bytes),
                  "peak_live_bytes", opt_int(s->peak_live_bytes), "exit_live_bytes",
                  opt_int(s->exit_live_bytes), "exit_live_blocks", opt_int(s->exit_live_blocks)));
    return root;
}

json_t *runjson_allocator(const struct run_data *run, const char *fallback_name, const char *config)
{
    const char *name = rundata_fact(run, "allocator");
    if (!name && !fallback_name)
        return NULL;
    json_t *settings = json_object();
    for (size_t i = 0; i < run->nfacts; i++)
        if (!strncmp(run->fact_keys[i], "setting.", 8))
            json_text_set(settings, run->fact_keys[i] + 8, json_text(run->fact_values[i]));
    const char *path = rundata_fact(run, "allocator_path");
    const char *version = rundata_fact(run, "allocator_version");
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "name", json_text(name ? name : fallback_name),
                     "config", json_text(config), "path", json_text(path ? path : ""), "version",
                     json_text(version ? version : ""), "settings", settings);
}

int runjson_write(const char *dir, json_t *root)
{
    char *path = util_format("%s/run.json", dir);
    char *text = json_text_dump(root, JSON_INDENT(2) | JSON_SORT_KEYS, path);
    char why[ATOMIC_FILE_ERROR_MAX];
    int rc = text ? atomic_file_write(path, text, strlen(text)) : -1;
    if (text && rc) /* errno is atomic_file_write's; json_text_dump said its own reason */
        util_error("%s", atomic_file_error(why, sizeof(why), path, errno));
    free(text);
    free(path);
    return rc;
}
