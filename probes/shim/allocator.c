/* Which allocator serves malloc, its statistics, its settings read back, and its "give
 * memory back" call. Every allocator function is found with dlsym at run time, in the
 * library that defines the live malloc, so the shim links none of them.
 *
 * The environment checks below encode what each library actually reads on Debian 12
 * (glibc 2.36, jemalloc 5.3.0, mimalloc 2.0.9, gperftools 2.10); docs/ALLOCATORS.md lists
 * them. Runs only on the shim's sampler thread with the reentrancy guard set, so it may
 * allocate and use stdio.
 */
#include "allocator.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define JEMALLOC_ALL_ARENAS 4096 /* MALLCTL_ARENAS_ALL */

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef int (*tc_get_property_fn)(const char *, size_t *);
typedef void (*tc_release_fn)(void);
typedef const char *(*tc_version_fn)(int *, int *, const char **);
typedef int (*mi_version_fn)(void);
typedef long (*mi_option_get_fn)(int);
typedef void (*mi_collect_fn)(bool);
typedef void (*mi_process_info_fn)(size_t *, size_t *, size_t *, size_t *, size_t *, size_t *,
                                   size_t *, size_t *);

static struct {
    enum allocator_kind kind;
    char path[PATH_MAX];
    char version[64];
    void *handle; /* the allocator library, for dlsym */
    mallctl_fn mallctl;
    tc_get_property_fn tc_get_property;
    tc_release_fn tc_release;
    const double *tc_release_rate;
    mi_option_get_fn mi_option_get;
    mi_collect_fn mi_collect;
    mi_process_info_fn mi_process_info;
} live;

static const char *const kind_names[] = {"unknown", "glibc", "jemalloc", "mimalloc", "tcmalloc"};

/* ---- detection ---------------------------------------------------------------------- */

static enum allocator_kind kind_from_path(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5))
        return ALLOCATOR_GLIBC;
    if (strstr(base, "jemalloc"))
        return ALLOCATOR_JEMALLOC;
    if (strstr(base, "mimalloc"))
        return ALLOCATOR_MIMALLOC;
    if (strstr(base, "tcmalloc"))
        return ALLOCATOR_TCMALLOC;
    return ALLOCATOR_UNKNOWN;
}

static void *lookup(const char *symbol)
{
    void *handle = live.handle ? live.handle : RTLD_DEFAULT;
    return dlsym(handle, symbol);
}

static void detect_jemalloc(void)
{
    live.mallctl = (mallctl_fn)lookup("mallctl");
    const char *version = NULL;
    size_t len = sizeof(version);
    if (live.mallctl && live.mallctl("version", &version, &len, NULL, 0) == 0 && version) {
        /* "5.3.0-0-g54eaed1d..." -> "5.3.0" */
        snprintf(live.version, sizeof(live.version), "%.*s", (int)strcspn(version, "-"), version);
    }
}

static void detect_mimalloc(void)
{
    mi_version_fn mi_version = (mi_version_fn)lookup("mi_version");
    live.mi_option_get = (mi_option_get_fn)lookup("mi_option_get");
    live.mi_collect = (mi_collect_fn)lookup("mi_collect");
    live.mi_process_info = (mi_process_info_fn)lookup("mi_process_info");
    if (mi_version) {
        int v = mi_version(); /* 209 means 2.0.9 */
        snprintf(live.version, sizeof(live.version), "%d.%d.%d", v / 100, (v % 100) / 10, v % 10);
    }
}

static void detect_tcmalloc(void)
{
    tc_version_fn tc_version = (tc_version_fn)lookup("tc_version");
    live.tc_get_property = (tc_get_property_fn)lookup("MallocExtension_GetNumericProperty");
    live.tc_release = (tc_release_fn)lookup("MallocExtension_ReleaseFreeMemory");
    /* gperftools keeps the live release rate in this exported flag variable
     * (SetMemoryReleaseRate writes it); the C API has no getter. */
    live.tc_release_rate = lookup("_ZN62FLAG__namespace_do_not_use_directly_use_DECLARE_double_"
                                  "instead27FLAGS_tcmalloc_release_rateE");
    if (tc_version) {
        int major = 0, minor = 0;
        const char *patch = NULL;
        tc_version(&major, &minor, &patch);
        snprintf(live.version, sizeof(live.version), "%d.%d%s", major, minor, patch ? patch : "");
    }
}

void allocator_detect(void *real_malloc)
{
    memset(&live, 0, sizeof(live));
    Dl_info info;
    if (!real_malloc || !dladdr(real_malloc, &info) || !info.dli_fname)
        return;
    char *real = realpath(info.dli_fname, NULL);
    snprintf(live.path, sizeof(live.path), "%s", real ? real : info.dli_fname);
    free(real);
    live.kind = kind_from_path(info.dli_fname);
    if (live.kind == ALLOCATOR_UNKNOWN)
        return;
    live.handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
    switch (live.kind) {
    case ALLOCATOR_GLIBC:
        snprintf(live.version, sizeof(live.version), "%s", gnu_get_libc_version());
        break;
    case ALLOCATOR_JEMALLOC:
        detect_jemalloc();
        break;
    case ALLOCATOR_MIMALLOC:
        detect_mimalloc();
        break;
    case ALLOCATOR_TCMALLOC:
        detect_tcmalloc();
        break;
    default:
        break;
    }
}

enum allocator_kind allocator_kind(void)
{
    return live.kind;
}

const char *allocator_name(void)
{
    return kind_names[live.kind];
}

const char *allocator_path(void)
{
    return live.path;
}

const char *allocator_version(void)
{
    return live.version;
}

/* ---- statistics --------------------------------------------------------------------- */

static int64_t jemalloc_size(const char *name)
{
    size_t value = 0, len = sizeof(value);
    if (live.mallctl(name, &value, &len, NULL, 0) != 0)
        return -1;
    return (int64_t)value;
}

static int read_jemalloc_stats(struct allocator_stats *out)
{
    if (!live.mallctl)
        return -1;
    /* Statistics are a snapshot refreshed only when "epoch" is written. */
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    if (live.mallctl("epoch", &epoch, &len, &epoch, len) != 0)
        return -1;
    out->in_use_bytes = jemalloc_size("stats.allocated");
    out->held_bytes = jemalloc_size("stats.resident");
    out->released_bytes = jemalloc_size("stats.retained");
    return 0;
}

static int64_t tcmalloc_property(const char *name)
{
    size_t value = 0;
    if (!live.tc_get_property || !live.tc_get_property(name, &value))
        return -1;
    return (int64_t)value;
}

static int read_tcmalloc_stats(struct allocator_stats *out)
{
    int64_t heap = tcmalloc_property("generic.heap_size");
    int64_t unmapped = tcmalloc_property("tcmalloc.pageheap_unmapped_bytes");
    out->in_use_bytes = tcmalloc_property("generic.current_allocated_bytes");
    out->held_bytes = heap >= 0 && unmapped >= 0 ? heap - unmapped : -1;
    out->released_bytes = unmapped;
    return out->in_use_bytes < 0 && out->held_bytes < 0 ? -1 : 0;
}

static int read_mimalloc_stats(struct allocator_stats *out)
{
    if (!live.mi_process_info)
        return -1;
    /* Release builds of mimalloc count no per-block statistics, so bytes in use are
     * unknown; the committed total is always tracked. */
    size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
    live.mi_process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit, &peak_commit, &faults);
    out->held_bytes = (int64_t)commit;
    return 0;
}

static int read_glibc_stats(struct allocator_stats *out)
{
    struct mallinfo2 mi = mallinfo2();
    out->in_use_bytes = (int64_t)(mi.uordblks + mi.hblkhd);
    out->held_bytes = (int64_t)(mi.arena + mi.hblkhd);
    out->released_bytes = 0;
    return 0;
}

int allocator_read_stats(struct allocator_stats *out)
{
    out->in_use_bytes = out->held_bytes = out->free_bytes = out->released_bytes = -1;
    int rc = -1;
    switch (live.kind) {
    case ALLOCATOR_GLIBC:
        rc = read_glibc_stats(out);
        break;
    case ALLOCATOR_JEMALLOC:
        rc = read_jemalloc_stats(out);
        break;
    case ALLOCATOR_MIMALLOC:
        rc = read_mimalloc_stats(out);
        break;
    case ALLOCATOR_TCMALLOC:
        rc = read_tcmalloc_stats(out);
        break;
    default:
        break;
    }
    if (out->in_use_bytes >= 0 && out->held_bytes >= 0)
        out->free_bytes = out->held_bytes - out->in_use_bytes;
    return rc;
}

/* ---- settings ----------------------------------------------------------------------- */

struct writer {
    int fd;
    int errors;
};

static void emit(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct writer *w, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    /* A value from the environment must not break the one-fact-per-line format. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    const char *p = line;
    while (n > 0) {
        ssize_t done = write(w->fd, p, (size_t)n);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return;
        p += done;
        n -= (int)done;
    }
}

static void setting_error(struct writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void setting_error(struct writer *w, const char *fmt, ...)
{
    char message[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    emit(w, "setting_error=%s", message);
    w->errors++;
}

/* Parses an integer the way the allocators' own parsers do (decimal, 0x hex). */
static bool parse_long(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

/* Calls fn(name, value, arg) for each NAME=VALUE in the environment whose name starts
 * with prefix (case-insensitively when asked, as mimalloc matches). */
static void for_each_env(const char *prefix, bool ignore_case,
                         void (*fn)(struct writer *, const char *, const char *), struct writer *w)
{
    extern char **environ;
    size_t plen = strlen(prefix);
    for (char **e = environ; e && *e; e++) {
        bool match = ignore_case ? !strncasecmp(*e, prefix, plen) : !strncmp(*e, prefix, plen);
        const char *eq = strchr(*e, '=');
        if (!match || !eq)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        fn(w, name, eq + 1);
    }
}

static void write_trim_setting(struct writer *w)
{
    const char *trim = getenv("ALLOCSCOPE_TRIM_MS");
    if (!trim)
        return;
    long long ms;
    if (!parse_long(trim, &ms) || ms <= 0)
        setting_error(w, "ALLOCSCOPE_TRIM_MS=%s is not a positive number of milliseconds", trim);
    else
        emit(w, "setting.allocscope.trim_ms=%lld", ms);
}

/* -- jemalloc -- */

enum jemalloc_type { JE_BOOL, JE_UNSIGNED, JE_SIZE, JE_SSIZE, JE_STRING };

struct jemalloc_opt {
    const char *name;
    enum jemalloc_type type;
};

/* The options worth reporting; any other MALLOC_CONF key is still checked for existence. */
static const struct jemalloc_opt jemalloc_opts[] = {
    {"background_thread", JE_BOOL},
    {"max_background_threads", JE_SIZE},
    {"dirty_decay_ms", JE_SSIZE},
    {"muzzy_decay_ms", JE_SSIZE},
    {"tcache", JE_BOOL},
    {"tcache_max", JE_SIZE},
    {"narenas", JE_UNSIGNED},
    {"retain", JE_BOOL},
    {"percpu_arena", JE_STRING},
    {"thp", JE_STRING},
    {"metadata_thp", JE_STRING},
    {"dss", JE_STRING},
    {"oversize_threshold", JE_SIZE},
    {"abort_conf", JE_BOOL},
};

/* Keys jemalloc 5.3 accepts in MALLOC_CONF that have no opt.* entry to read back
 * (measured: no "Invalid conf pair" for them, yet mallctl("opt.<key>") is ENOENT). */
static const char *const jemalloc_conf_only_keys[] = {
    "lg_tcache_max",   "slab_sizes",  "bin_shards", "san_guard_small",
    "san_guard_large", "prof_unbias", NULL};

/* Reads opt.NAME as text; false when jemalloc has no such option. */
static bool jemalloc_opt_text(const char *name, enum jemalloc_type type, char *buf, size_t size)
{
    char key[128];
    snprintf(key, sizeof(key), "opt.%s", name);
    union {
        bool b;
        unsigned u;
        size_t z;
        ssize_t s;
        const char *str;
    } v;
    size_t len;
    switch (type) {
    case JE_BOOL:
        len = sizeof(v.b);
        break;
    case JE_UNSIGNED:
        len = sizeof(v.u);
        break;
    default:
        len = sizeof(v.z);
        break;
    }
    if (live.mallctl(key, &v, &len, NULL, 0) != 0)
        return false;
    switch (type) {
    case JE_BOOL:
        snprintf(buf, size, "%s", v.b ? "true" : "false");
        break;
    case JE_UNSIGNED:
        snprintf(buf, size, "%u", v.u);
        break;
    case JE_SIZE:
        snprintf(buf, size, "%zu", v.z);
        break;
    case JE_SSIZE:
        snprintf(buf, size, "%zd", v.s);
        break;
    case JE_STRING:
        snprintf(buf, size, "%s", v.str ? v.str : "");
        break;
    }
    return true;
}

static bool jemalloc_opt_exists(const char *name)
{
    char key[128];
    snprintf(key, sizeof(key), "opt.%s", name);
    /* A read of nothing succeeds for any existing node and fails with ENOENT otherwise. */
    return live.mallctl(key, NULL, NULL, NULL, 0) != ENOENT;
}

static const struct jemalloc_opt *jemalloc_known_opt(const char *name)
{
    for (size_t i = 0; i < sizeof(jemalloc_opts) / sizeof(jemalloc_opts[0]); i++)
        if (!strcmp(jemalloc_opts[i].name, name))
            return &jemalloc_opts[i];
    return NULL;
}

static bool values_equal(enum jemalloc_type type, const char *wanted, const char *actual)
{
    long long a, b;
    if (type == JE_STRING || type == JE_BOOL)
        return !strcmp(wanted, actual);
    return parse_long(wanted, &a) && parse_long(actual, &b) && a == b;
}

static void check_jemalloc_pair(struct writer *w, const char *key, const char *value)
{
    for (size_t i = 0; jemalloc_conf_only_keys[i]; i++)
        if (!strcmp(key, jemalloc_conf_only_keys[i]))
            return;
    if (!jemalloc_opt_exists(key)) {
        setting_error(w,
                      "MALLOC_CONF key '%s' is not a jemalloc %s option (jemalloc ignored "
                      "it: 'Invalid conf pair')",
                      key, live.version);
        return;
    }
    const struct jemalloc_opt *opt = jemalloc_known_opt(key);
    /* An option outside the table is compared only when it reads back as a bool. */
    struct jemalloc_opt as_bool = {key, JE_BOOL};
    if (!opt)
        opt = &as_bool;
    char actual[128];
    if (jemalloc_opt_text(key, opt->type, actual, sizeof(actual)) &&
        !values_equal(opt->type, value, actual))
        setting_error(w, "MALLOC_CONF %s:%s did not take effect: opt.%s is %s", key, value, key,
                      actual);
}

static void check_malloc_conf(struct writer *w, const char *conf)
{
    char *copy = strdup(conf);
    if (!copy)
        return;
    char *save = NULL;
    for (char *pair = strtok_r(copy, ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(pair, ':');
        if (!colon || colon == pair) {
            setting_error(w, "MALLOC_CONF entry '%s' is malformed (expected key:value)", pair);
            continue;
        }
        *colon = '\0';
        check_jemalloc_pair(w, pair, colon + 1);
    }
    free(copy);
}

static void write_jemalloc_settings(struct writer *w)
{
    if (!live.mallctl)
        return;
    char text[128];
    for (size_t i = 0; i < sizeof(jemalloc_opts) / sizeof(jemalloc_opts[0]); i++)
        if (jemalloc_opt_text(jemalloc_opts[i].name, jemalloc_opts[i].type, text, sizeof(text)))
            emit(w, "setting.opt.%s=%s", jemalloc_opts[i].name, text);
    bool running = false;
    size_t len = sizeof(running);
    if (live.mallctl("background_thread", &running, &len, NULL, 0) == 0)
        emit(w, "setting.background_thread=%s", running ? "true" : "false");
    const char *conf = getenv("MALLOC_CONF");
    if (conf && *conf)
        check_malloc_conf(w, conf);
}

/* -- mimalloc 2.0.x -- */

/* mi_option_t of mimalloc 2.0.9, in enum order. Later versions renumber and rename
 * (decommit_delay became purge_delay in 2.1), so these are read only from a 2.0.x. */
static const char *const mimalloc_options[] = {"show_errors",
                                               "show_stats",
                                               "verbose",
                                               "eager_commit",
                                               "deprecated_eager_region_commit",
                                               "deprecated_reset_decommits",
                                               "large_os_pages",
                                               "reserve_huge_os_pages",
                                               "reserve_huge_os_pages_at",
                                               "reserve_os_memory",
                                               "deprecated_segment_cache",
                                               "page_reset",
                                               "abandoned_page_decommit",
                                               "deprecated_segment_reset",
                                               "eager_commit_delay",
                                               "decommit_delay",
                                               "use_numa_nodes",
                                               "limit_os_alloc",
                                               "os_tag",
                                               "max_errors",
                                               "max_warnings",
                                               "max_segment_reclaim",
                                               "allow_decommit",
                                               "segment_decommit_delay",
                                               "decommit_extend_delay",
                                               "destroy_on_exit"};
enum { MIMALLOC_OPTION_COUNT = sizeof(mimalloc_options) / sizeof(mimalloc_options[0]) };

static int mimalloc_option_index(const char *lower_name)
{
    if (!strcmp(lower_name, "reset_delay")) /* deprecated alias 2.0.9 still reads */
        lower_name = "decommit_delay";
    else if (!strcmp(lower_name, "abandoned_page_reset"))
        lower_name = "abandoned_page_decommit";
    for (int i = 0; i < MIMALLOC_OPTION_COUNT; i++)
        if (!strcmp(mimalloc_options[i], lower_name))
            return i;
    return -1;
}

static bool mimalloc_is_2_0(void)
{
    return !strncmp(live.version, "2.0.", 4);
}

/* mimalloc's own reading of an option value: yes/no words, else a number. */
static bool mimalloc_parse_value(const char *s, long long *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return true;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return true;
        }
    }
    return parse_long(s, out);
}

static void check_mimalloc_env(struct writer *w, const char *name, const char *value)
{
    char lower[128];
    size_t n = 0;
    for (const char *p = name + strlen("MIMALLOC_"); *p && n + 1 < sizeof(lower); p++)
        lower[n++] = (char)tolower((unsigned char)*p);
    lower[n] = '\0';
    int index = mimalloc_option_index(lower);
    if (index < 0) {
        const char *hint = strstr(lower, "purge") ? " (2.0.9 has decommit_delay, not purge_*)" : "";
        setting_error(w, "%s is not a mimalloc %s option: ignored%s", name, live.version, hint);
        return;
    }
    long long wanted;
    if (!strcmp(mimalloc_options[index], "reserve_os_memory"))
        return; /* a size with K/M/G suffixes, in KiB: not compared */
    long actual = live.mi_option_get(index);
    if (!mimalloc_parse_value(value, &wanted))
        setting_error(w, "%s=%s is not a valid value (mimalloc kept %ld)", name, value, actual);
    else if (wanted != actual)
        setting_error(w, "%s=%s did not take effect: mimalloc.%s is %ld", name, value,
                      mimalloc_options[index], actual);
}

static void write_mimalloc_settings(struct writer *w)
{
    if (!live.mi_option_get || !mimalloc_is_2_0())
        return;
    for (int i = 0; i < MIMALLOC_OPTION_COUNT; i++)
        if (strncmp(mimalloc_options[i], "deprecated_", 11))
            emit(w, "setting.mimalloc.%s=%ld", mimalloc_options[i], live.mi_option_get(i));
    for_each_env("MIMALLOC_", true, check_mimalloc_env, w);
}

/* -- tcmalloc (gperftools 2.10) -- */

/* Every TCMALLOC_* variable libtcmalloc*.so.4 2.10 reads (from the libraries' strings;
 * the debug variants add the page-fence, free-queue and trace ones). */
static const char *const tcmalloc_env_names[] = {"TCMALLOC_AGGRESSIVE_DECOMMIT",
                                                 "TCMALLOC_DEVMEM_LIMIT",
                                                 "TCMALLOC_DEVMEM_START",
                                                 "TCMALLOC_DISABLE_MEMORY_RELEASE",
                                                 "TCMALLOC_HEAP_LIMIT_MB",
                                                 "TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD",
                                                 "TCMALLOC_MAX_FREE_QUEUE_SIZE",
                                                 "TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES",
                                                 "TCMALLOC_MEMFS_ABORT_ON_FAIL",
                                                 "TCMALLOC_MEMFS_DISABLE_FALLBACK",
                                                 "TCMALLOC_MEMFS_IGNORE_MMAP_FAIL",
                                                 "TCMALLOC_MEMFS_LIMIT_MB",
                                                 "TCMALLOC_MEMFS_MALLOC_PATH",
                                                 "TCMALLOC_MEMFS_MAP_PRIVATE",
                                                 "TCMALLOC_PAGE_FENCE",
                                                 "TCMALLOC_PAGE_FENCE_NEVER_RECLAIM",
                                                 "TCMALLOC_PAGE_FENCE_READABLE",
                                                 "TCMALLOC_RECLAIM_MEMORY",
                                                 "TCMALLOC_RELEASE_RATE",
                                                 "TCMALLOC_SAMPLE_PARAMETER",
                                                 "TCMALLOC_SKIP_MMAP",
                                                 "TCMALLOC_SKIP_SBRK",
                                                 "TCMALLOC_STACKTRACE_METHOD",
                                                 "TCMALLOC_STACKTRACE_METHOD_VERBOSE",
                                                 "TCMALLOC_SYMBOLIZE_STACKTRACE",
                                                 "TCMALLOC_TRACE",
                                                 "TCMALLOC_TRACE_FILE",
                                                 "TCMALLOC_TRANSFER_NUM_OBJ",
                                                 NULL};

/* gperftools' EnvToBool: true when the value starts with t, T, y, Y, 1 or is empty. */
static long long tcmalloc_env_bool(const char *value)
{
    return memchr("tTyY1", value[0], 6) != NULL;
}

static void check_tcmalloc_value(struct writer *w, const char *name, const char *value)
{
    if (!strcmp(name, "TCMALLOC_RELEASE_RATE")) {
        char *end;
        double wanted = strtod(value, &end);
        if (end == value || *end)
            setting_error(w, "%s=%s is not a number", name, value);
        else if (live.tc_release_rate && *live.tc_release_rate != wanted)
            setting_error(w, "%s=%s did not take effect: tcmalloc.release_rate is %g", name, value,
                          *live.tc_release_rate);
        return;
    }
    long long wanted;
    const char *property = NULL;
    if (!strcmp(name, "TCMALLOC_AGGRESSIVE_DECOMMIT")) {
        property = "tcmalloc.aggressive_memory_decommit";
        wanted = tcmalloc_env_bool(value);
    } else if (!strcmp(name, "TCMALLOC_MAX_TOTAL_THREAD_CACHE_BYTES")) {
        property = "tcmalloc.max_total_thread_cache_bytes";
        if (!parse_long(value, &wanted)) {
            setting_error(w, "%s=%s is not a number", name, value);
            return;
        }
    }
    int64_t actual = property ? tcmalloc_property(property) : -1;
    if (property && actual >= 0 && actual != wanted)
        setting_error(w, "%s=%s did not take effect: %s is %lld", name, value, property,
                      (long long)actual);
}

static void check_tcmalloc_env(struct writer *w, const char *name, const char *value)
{
    for (size_t i = 0; tcmalloc_env_names[i]; i++)
        if (!strcmp(name, tcmalloc_env_names[i])) {
            check_tcmalloc_value(w, name, value);
            return;
        }
    setting_error(w, "%s is not a variable gperftools tcmalloc %s reads: ignored", name,
                  live.version);
}

static void write_tcmalloc_settings(struct writer *w)
{
    static const char *const properties[] = {"tcmalloc.max_total_thread_cache_bytes",
                                             "tcmalloc.aggressive_memory_decommit",
                                             "tcmalloc.heap_limit_mb"};
    for (size_t i = 0; i < sizeof(properties) / sizeof(properties[0]); i++) {
        int64_t v = tcmalloc_property(properties[i]);
        if (v >= 0)
            emit(w, "setting.%s=%lld", properties[i], (long long)v);
    }
    if (live.tc_release_rate)
        emit(w, "setting.tcmalloc.release_rate=%g", *live.tc_release_rate);
    for_each_env("TCMALLOC_", false, check_tcmalloc_env, w);
}

/* -- glibc 2.36 -- */

struct glibc_tunable {
    const char *name;       /* after "glibc.malloc." */
    const char *legacy_env; /* MALLOC_* alias, or NULL */
    unsigned long long min; /* values outside [min, max] are ignored by glibc */
    unsigned long long max;
};

static const struct glibc_tunable glibc_malloc_tunables[] = {
    {"arena_max", "MALLOC_ARENA_MAX", 1, ULLONG_MAX},
    {"arena_test", "MALLOC_ARENA_TEST", 1, ULLONG_MAX},
    {"check", "MALLOC_CHECK_", 0, 3},
    {"hugetlb", NULL, 0, ULLONG_MAX},
    /* do_set_mmap_threshold ignores values above HEAP_MAX_SIZE / 2 (32 MiB). */
    {"mmap_max", "MALLOC_MMAP_MAX_", 0, INT_MAX},
    {"mmap_threshold", "MALLOC_MMAP_THRESHOLD_", 0, 32ull << 20},
    {"mxfast", NULL, 0, ULLONG_MAX},
    {"perturb", "MALLOC_PERTURB_", 0, 255},
    {"tcache_count", NULL, 0, ULLONG_MAX},
    {"tcache_max", NULL, 0, ULLONG_MAX},
    {"tcache_unsorted_limit", NULL, 0, ULLONG_MAX},
    {"top_pad", "MALLOC_TOP_PAD_", 0, ULLONG_MAX},
    {"trim_threshold", "MALLOC_TRIM_THRESHOLD_", 0, ULLONG_MAX},
};
enum { GLIBC_TUNABLE_COUNT = sizeof(glibc_malloc_tunables) / sizeof(glibc_malloc_tunables[0]) };

/* Tunable namespaces other than malloc that glibc 2.36 has; entries there are not ours
 * to judge beyond being well formed. */
static const char *const glibc_other_namespaces[] = {"glibc.cpu.", "glibc.elision.", "glibc.gmon.",
                                                     "glibc.mem.", "glibc.pthread.", "glibc.rtld.",
                                                     NULL};

struct glibc_config {
    const char *value[GLIBC_TUNABLE_COUNT]; /* as configured, NULL when not */
};

static int glibc_tunable_index(const char *name)
{
    for (int i = 0; i < GLIBC_TUNABLE_COUNT; i++)
        if (!strcmp(glibc_malloc_tunables[i].name, name))
            return i;
    return -1;
}

static bool glibc_value_in_range(const struct glibc_tunable *t, const char *value)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 0);
    return !errno && end != value && !*end && *value != '-' && v >= t->min && v <= t->max;
}

/* Accepts one configured value, or reports why glibc ignored it. */
static void glibc_take(struct writer *w, struct glibc_config *cfg, int index, const char *value,
                       const char *source)
{
    const struct glibc_tunable *t = &glibc_malloc_tunables[index];
    if (!glibc_value_in_range(t, value)) {
        if (t->max == ULLONG_MAX)
            setting_error(w, "%s: glibc.malloc.%s=%s is not a number >= %llu: ignored", source,
                          t->name, value, t->min);
        else
            setting_error(w, "%s: glibc.malloc.%s=%s is not a number in [%llu, %llu]: ignored",
                          source, t->name, value, t->min, t->max);
        return;
    }
    if (!cfg->value[index])
        cfg->value[index] = value;
}

static void parse_glibc_tunables(struct writer *w, struct glibc_config *cfg, char *tunables)
{
    char *save = NULL;
    for (char *item = strtok_r(tunables, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
        char *eq = strchr(item, '=');
        if (!eq) {
            setting_error(w, "GLIBC_TUNABLES entry '%s' is malformed (expected name=value)", item);
            continue;
        }
        *eq = '\0';
        const char *value = eq + 1;
        if (!strncmp(item, "glibc.malloc.", 13)) {
            int index = glibc_tunable_index(item + 13);
            if (index < 0)
                setting_error(w, "GLIBC_TUNABLES: '%s' is not a glibc %s malloc tunable: ignored",
                              item, live.version);
            else
                glibc_take(w, cfg, index, value, "GLIBC_TUNABLES");
            continue;
        }
        bool known = false;
        for (size_t i = 0; glibc_other_namespaces[i]; i++)
            known |= !strncmp(item, glibc_other_namespaces[i], strlen(glibc_other_namespaces[i]));
        if (!known)
            setting_error(w, "GLIBC_TUNABLES: '%s' is not a glibc %s tunable: ignored", item,
                          live.version);
    }
}

/* Legacy MALLOC_* names people mistype: glibc reads them only with the trailing '_'. */
static void check_glibc_legacy_env(struct writer *w, const char *name, const char *value)
{
    (void)value;
    for (int i = 0; i < GLIBC_TUNABLE_COUNT; i++) {
        const char *legacy = glibc_malloc_tunables[i].legacy_env;
        if (!legacy || !strcmp(name, legacy))
            continue;
        size_t n = strlen(name);
        bool missing_underscore = !strncmp(name, legacy, n) && legacy[n] == '_' && !legacy[n + 1];
        bool extra_underscore =
            n == strlen(legacy) + 1 && !strncmp(name, legacy, n - 1) && name[n - 1] == '_';
        if (missing_underscore || extra_underscore)
            setting_error(w, "%s is not read by glibc: ignored (did you mean %s?)", name, legacy);
    }
}

static void write_glibc_settings(struct writer *w)
{
    struct glibc_config cfg = {{0}};
    /* glibc 2.36 applies GLIBC_TUNABLES first and a legacy alias only to a tunable not
     * set yet, so GLIBC_TUNABLES wins when both are present. */
    const char *tunables = getenv("GLIBC_TUNABLES");
    char *copy = tunables ? strdup(tunables) : NULL;
    if (copy)
        parse_glibc_tunables(w, &cfg, copy);
    for (int i = 0; i < GLIBC_TUNABLE_COUNT; i++) {
        const char *legacy = glibc_malloc_tunables[i].legacy_env;
        const char *value = legacy ? getenv(legacy) : NULL;
        if (value)
            glibc_take(w, &cfg, i, value, legacy);
    }
    for_each_env("MALLOC_", false, check_glibc_legacy_env, w);

    /* Defaults of glibc 2.36 on 64-bit: 8 arenas per core; mmap and trim thresholds start
     * at 128 KiB and then adapt, unless set. */
    char arena_default[32];
    snprintf(arena_default, sizeof(arena_default), "%ld", 8 * sysconf(_SC_NPROCESSORS_ONLN));
    const char *shown[][2] = {
        {"arena_max", arena_default}, {"mmap_threshold", "131072"}, {"trim_threshold", "131072"}};
    for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
        int index = glibc_tunable_index(shown[i][0]);
        emit(w, "setting.glibc.malloc.%s=%s", shown[i][0],
             cfg.value[index] ? cfg.value[index] : shown[i][1]);
    }
    for (int i = 0; i < GLIBC_TUNABLE_COUNT; i++) {
        bool already = !strcmp(glibc_malloc_tunables[i].name, "arena_max") ||
                       !strcmp(glibc_malloc_tunables[i].name, "mmap_threshold") ||
                       !strcmp(glibc_malloc_tunables[i].name, "trim_threshold");
        if (cfg.value[i] && !already)
            emit(w, "setting.glibc.malloc.%s=%s", glibc_malloc_tunables[i].name, cfg.value[i]);
    }
    free(copy);
}

int allocator_write_settings(int fd)
{
    struct writer w = {fd, 0};
    switch (live.kind) {
    case ALLOCATOR_GLIBC:
        write_glibc_settings(&w);
        break;
    case ALLOCATOR_JEMALLOC:
        write_jemalloc_settings(&w);
        break;
    case ALLOCATOR_MIMALLOC:
        write_mimalloc_settings(&w);
        break;
    case ALLOCATOR_TCMALLOC:
        write_tcmalloc_settings(&w);
        break;
    default:
        break;
    }
    write_trim_setting(&w);
    return w.errors;
}

/* ---- release ------------------------------------------------------------------------ */

int allocator_release_free_memory(void)
{
    char purge[64];
    switch (live.kind) {
    case ALLOCATOR_GLIBC:
        malloc_trim(0);
        return 0;
    case ALLOCATOR_JEMALLOC:
        if (!live.mallctl)
            return -1;
        snprintf(purge, sizeof(purge), "arena.%d.purge", JEMALLOC_ALL_ARENAS);
        return live.mallctl(purge, NULL, NULL, NULL, 0) == 0 ? 0 : -1;
    case ALLOCATOR_TCMALLOC:
        if (!live.tc_release)
            return -1;
        live.tc_release();
        return 0;
    case ALLOCATOR_MIMALLOC:
        /* Collects the calling thread's heap and the shared segments; pages cached by
         * other threads' heaps stay until those threads allocate again. */
        if (!live.mi_collect)
            return -1;
        live.mi_collect(true);
        return 0;
    default:
        return -1;
    }
}
