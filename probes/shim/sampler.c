/* The sampler thread: every interval a samples.csv row (exact counters, RSS from
 * smaps_rollup, the allocator's own stats), every site interval a snapshot of the sites
 * that changed, and on request a reclaim. It runs with shim_busy set for its whole life,
 * so its own allocations are neither recorded nor interposed twice. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "allocator.h"
#include "internal.h"
#include "common/columns.h"

static char run_dir[PATH_MAX];
static struct out_file samples_out, sites_out, stacks_out, facts_out;
static pthread_mutex_t output_lock = PTHREAD_MUTEX_INITIALIZER;
static bool finished;
static bool exec_pending;      /* an exec is under way: this image's files are closed for writing */
static pid_t owner_pid;        /* the process these files belong to (not a vfork or fork child) */
static pid_t sampler_tid;      /* the sampler thread, which a reachability scan need not stop */
static bool reachability_done; /* by the exit handler, before the libraries' destructors */
static bool allocator_facts_written;
static uint32_t sites_with_stacks = 0;
static uint32_t sites_at_last_maps = UINT32_MAX;
static struct timespec control_mtime;

static const char samples_header[] = SAMPLES_CSV_HEADER "\n";

/* ---- where the files go ---- */

static int make_dir(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) && errno != EEXIST ? -1 : 0;
}

/* The main process writes at the top of the output directory; others (and a main process
 * that exec'd, whose pid's files exist already) under children/. */
static int choose_dir(void)
{
    pid_t pid = getpid();
    bool is_main = shim_opts.main_pid == 0 || shim_opts.main_pid == pid;
    for (int attempt = 0; attempt < 100; attempt++) {
        if (is_main && attempt == 0)
            snprintf(run_dir, sizeof(run_dir), "%s", shim_opts.out_dir);
        else if (attempt <= (is_main ? 1 : 0))
            snprintf(run_dir, sizeof(run_dir), "%s/children/%d", shim_opts.out_dir, (int)pid);
        else
            snprintf(run_dir, sizeof(run_dir), "%s/children/%d-%d", shim_opts.out_dir, (int)pid,
                     attempt);
        if (make_dir(run_dir))
            return -1;
        if (out_open(&samples_out, run_dir, "samples.csv") == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

int sampler_open_files(void)
{
    finished = false;
    exec_pending = false;
    reachability_done = false;
    owner_pid = getpid();
    allocator_facts_written = false;
    sites_with_stacks = 0;
    sites_at_last_maps = UINT32_MAX;
    /* A forked child starts its own files: every site it inherited is written afresh. */
    for (uint32_t id = 0, n = sites_count(); id < n; id++)
        memset(sites_get(id)->last_written, 0, sizeof(sites_get(id)->last_written));
    if (choose_dir()) {
        shim_warn("cannot write to %s (%s); the program runs unrecorded", shim_opts.out_dir,
                  error_text(errno));
        return -1;
    }
    if (out_open(&sites_out, run_dir, "sites.csv") ||
        out_open(&stacks_out, run_dir, "stacks.csv") || out_open(&facts_out, run_dir, "shim.txt")) {
        shim_warn("cannot write to %s (%s); the program runs unrecorded", run_dir,
                  error_text(errno));
        return -1;
    }
    out_write(&samples_out, samples_header, sizeof(samples_header) - 1);
    out_printf(&sites_out, SITES_CSV_HEADER "\n");
    out_printf(&stacks_out, STACKS_CSV_HEADER "\n");
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    out_printf(&facts_out,
               "pid=%d\nppid=%d\nexe=%s\nmode=%s\nsample_bytes=%llu\ndepth=%u\ninterval_ms=%u\n"
               "site_interval_ms=%u\nunwind=%s\nsmaps_cpu_percent=%u\n",
               (int)getpid(), (int)getppid(), exe, mode_name(shim_opts.mode),
               (unsigned long long)shim_opts.sample_bytes, shim_opts.depth, shim_opts.interval_ms,
               shim_opts.site_interval_ms, unwind_name(shim_opts.unwind),
               shim_opts.smaps_cpu_percent);
    out_flush(&samples_out);
    out_flush(&sites_out);
    out_flush(&stacks_out);
    out_flush(&facts_out);
    return 0;
}

/* ---- one samples.csv row ---- */

struct proc_memory {
    int64_t rss, pss, anon, lazyfree;
};

static int64_t field_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtoll(p + strlen(key), NULL, 10) * 1024 : -1;
}

static void read_smaps_rollup(struct proc_memory *m)
{
    char text[4096];
    m->rss = m->pss = m->anon = m->lazyfree = -1;
    if (read_small_file("/proc/self/smaps_rollup", text, sizeof(text)) <= 0)
        return;
    m->rss = field_kb(text, "\nRss:");
    m->pss = field_kb(text, "\nPss:");
    m->anon = field_kb(text, "\nAnonymous:");
    m->lazyfree = field_kb(text, "\nLazyFree:");
}

/* Resident and anonymous bytes from the kernel's own counters (/proc/self/statm: pages
 * resident, of them file-backed or shared), read in constant time. */
static void read_statm(struct proc_memory *m)
{
    char text[256];
    unsigned long long size, resident, shared;
    if (read_small_file("/proc/self/statm", text, sizeof(text)) <= 0 ||
        sscanf(text, "%llu %llu %llu", &size, &resident, &shared) != 3)
        return;
    long long page = sysconf(_SC_PAGESIZE);
    m->rss = (int64_t)(resident * (unsigned long long)page);
    m->anon =
        (int64_t)((resident - (shared < resident ? shared : resident)) * (unsigned long long)page);
    if (m->pss > m->rss) /* held from a read when more was resident */
        m->pss = m->rss;
    if (m->lazyfree > m->rss)
        m->lazyfree = m->rss;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* smaps_rollup walks every page table of the process, about 5 ms per resident GiB here: a
 * 10 GiB service read every 100 ms would give the sampler half a core. So its reads are held
 * to smaps_cpu_percent of one core: after a read that cost C of CPU, the next is due
 * C * 100 / percent later. Rows in between take rss and anon from statm (no walk) and the
 * last read's pss and lazyfree (at most rss). EXACT rows (the first, around a reclaim, at
 * exit) always read it. A small process (0.4 ms at 48 MiB) reads it every row as before. */
static void read_proc_memory(struct proc_memory *m, bool exact)
{
    static struct proc_memory last = {-1, -1, -1, -1};
    static uint64_t next_read_ms;
    uint64_t now = now_ms_since_t0();
    if (exact || last.rss < 0 || (shim_opts.smaps_cpu_percent && now >= next_read_ms)) {
        uint64_t cpu = thread_cpu_ns();
        read_smaps_rollup(m);
        if (shim_opts.smaps_cpu_percent)
            next_read_ms = now + (thread_cpu_ns() - cpu) / 10000 / shim_opts.smaps_cpu_percent;
        last = *m;
        return;
    }
    *m = last;
    read_statm(m);
}

static void write_sample_row(const char *tag, bool exact, int64_t *rss_out)
{
    struct counter_totals c;
    struct proc_memory m;
    struct allocator_stats a;
    counters_sum(&c);
    read_proc_memory(&m, exact);
    allocator_read_stats(&a);
    out_printf(
        &samples_out, "%llu,%lld,%lld,%llu,%llu,%llu,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%s\n",
        (unsigned long long)now_ms_since_t0(), (long long)(c.alloc_bytes - c.free_bytes),
        (long long)(c.alloc_calls - c.free_calls), (unsigned long long)c.alloc_calls,
        (unsigned long long)c.free_calls, (unsigned long long)c.alloc_bytes, (long long)m.rss,
        (long long)m.pss, (long long)m.anon, (long long)m.lazyfree, (long long)a.in_use_bytes,
        (long long)a.held_bytes, (long long)a.free_bytes, (long long)a.released_bytes, tag);
    out_flush(&samples_out);
    if (rss_out)
        *rss_out = m.rss;
}

/* ---- site snapshots ---- */

static void write_new_stacks(uint32_t n)
{
    char line[64 + ALLOCSCOPE_MAX_DEPTH * 20];
    for (uint32_t id = sites_with_stacks; id < n; id++) {
        const struct site *site = sites_get(id);
        const uintptr_t *pcs = sites_stack(site);
        int len = snprintf(line, sizeof(line), "%u,", id);
        for (unsigned i = 0; i < site->depth; i++)
            len += snprintf(line + len, sizeof(line) - (size_t)len, "%s0x%lx", i ? ";" : "",
                            (unsigned long)pcs[i]);
        line[len++] = '\n';
        out_write(&stacks_out, line, (size_t)len);
    }
    sites_with_stacks = n;
    out_flush(&stacks_out);
}

static void write_changed_sites(uint64_t t_ms, uint32_t n)
{
    site_counts_read_begin(n);
    for (uint32_t id = 0; id < n; id++) {
        struct site *site = sites_get(id);
        uint64_t now[SITE_COUNTS];
        site_counts_read(id, now);
        if (!memcmp(now, site->last_written, sizeof(now)))
            continue;
        memcpy(site->last_written, now, sizeof(now));
        out_printf(&sites_out, "%llu,%u,%llu,%llu,%llu,%llu,%llu,%llu\n", (unsigned long long)t_ms,
                   id, (unsigned long long)now[0], (unsigned long long)now[1],
                   (unsigned long long)now[2], (unsigned long long)now[3],
                   (unsigned long long)now[4], (unsigned long long)now[5]);
    }
    site_counts_read_end();
    out_flush(&sites_out);
}

static void write_histogram(void)
{
    static struct replacement r;
    struct counter_totals c;
    counters_sum(&c);
    if (out_open_replacement(&r, run_dir, "histogram.csv"))
        return;
    out_printf(&r.file, HISTOGRAM_CSV_HEADER "\n");
    for (unsigned i = 0; i < HIST_CLASSES; i++) {
        unsigned long long lo = i == 0 ? 0 : (1ull << (i + 3)) + 1;
        unsigned long long hi = 1ull << (i + 4);
        if (i == HIST_CLASSES - 1)
            out_printf(&r.file, "%llu,,%llu\n", lo, (unsigned long long)c.hist[i]);
        else
            out_printf(&r.file, "%llu,%llu,%llu\n", lo, hi, (unsigned long long)c.hist[i]);
    }
    out_commit_replacement(&r);
}

static void snapshot_sites(void)
{
    ptrtable_flush_all(); /* the frees threads hold back count as done */
    uint32_t n = sites_count();
    write_new_stacks(n);
    write_changed_sites(now_ms_since_t0(), n);
    write_histogram();
    if (n != sites_at_last_maps) {
        copy_file_atomic("/proc/self/maps", run_dir, "maps.txt");
        sites_at_last_maps = n;
    }
}

/* ---- reclaim on request ---- */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* The control file's content is "reclaim [ID]"; a new modification time is a new request. */
static void check_control(void)
{
    struct stat st;
    if (!shim_opts.control_path[0] || stat(shim_opts.control_path, &st))
        return;
    if (st.st_mtim.tv_sec == control_mtime.tv_sec && st.st_mtim.tv_nsec == control_mtime.tv_nsec)
        return;
    control_mtime = st.st_mtim;
    char cmd[128];
    if (read_small_file(shim_opts.control_path, cmd, sizeof(cmd)) < 0)
        return;
    if (!strncmp(cmd, "reachability", 12)) {
        if (shim_opts.mode == MODE_EXACT)
            reachability_scan(run_dir, &facts_out, sampler_tid);
        else
            out_printf(&facts_out, "warning=reachability needs exact mode (--sample all)\n");
        out_flush(&facts_out);
        return;
    }
    if (strncmp(cmd, "reclaim", 7))
        return;
    char *id = cmd + 7;
    id += strspn(id, " \t");
    id[strcspn(id, "\r\n")] = '\0';
    int64_t before, after;
    ptrtable_flush_all(); /* blocks held back for a batch of remote frees go back first */
    write_sample_row("before", true, &before);
    uint64_t t = now_ms_since_t0();
    int rc = allocator_release_free_memory();
    sleep_ms(100); /* let deferred unmapping (background threads) land */
    write_sample_row("after", true, &after);
    out_printf(&facts_out,
               "reclaim_id=%s\nreclaim_t_ms=%llu\nreclaim_supported=%d\n"
               "reclaim_before_rss=%lld\nreclaim_after_rss=%lld\n",
               id, (unsigned long long)t, rc == 0, (long long)before, (long long)after);
    out_flush(&facts_out);
}

/* ---- the thread ---- */

/* From the constructor (after it chose how usable sizes are read), so that a program that
 * ends at once or execs still names its allocator; else from the sampler's start or the
 * exit (a forked child). */
static void write_allocator_facts(void)
{
    if (allocator_facts_written)
        return;
    allocator_facts_written = true;
    allocator_detect((void *)real.malloc);
    out_printf(&facts_out,
               "usable_size=%s\nallocator=%s\nallocator_path=%s\nallocator_version=%s\n",
               alloc_usable_size_source(), allocator_name(), allocator_path(), allocator_version());
    out_flush(&facts_out);
    allocator_write_settings(facts_out.fd);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    shim_busy = 1;
    sampler_tid = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&output_lock);
    write_allocator_facts();
    pthread_mutex_unlock(&output_lock);
    uint64_t next_sites = 0, next_trim = shim_opts.trim_ms;
    for (;;) {
        pthread_mutex_lock(&output_lock);
        if (finished) {
            pthread_mutex_unlock(&output_lock);
            return NULL;
        }
        if (exec_pending) {
            pthread_mutex_unlock(&output_lock);
            sleep_ms(shim_opts.interval_ms);
            continue;
        }
        uint64_t now = now_ms_since_t0();
        write_sample_row("", false, NULL);
        if (shim_opts.mode != MODE_COUNT && now >= next_sites) {
            snapshot_sites();
            next_sites = now + shim_opts.site_interval_ms;
        }
        if (shim_opts.trim_ms && now >= next_trim) {
            ptrtable_flush_all();
            allocator_release_free_memory();
            next_trim = now + shim_opts.trim_ms;
        }
        check_control();
        pthread_mutex_unlock(&output_lock);
        sleep_ms(shim_opts.interval_ms);
    }
}

void sampler_write_allocator_facts(void)
{
    pthread_mutex_lock(&output_lock);
    if (samples_out.fd >= 0)
        write_allocator_facts();
    pthread_mutex_unlock(&output_lock);
}

int sampler_start(void)
{
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, sampler_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc)
        shim_warn("cannot start the sampler thread (%s); only the exit state is recorded",
                  error_text(rc));
    return rc ? -1 : 0;
}

/* The last rows of this image's recording; the caller holds output_lock. */
static void write_last_rows(void)
{
    write_allocator_facts();
    write_sample_row("", true, NULL); /* the state at exit */
    if (shim_opts.mode != MODE_COUNT)
        snapshot_sites();
}

/* From exit(), through a handler the constructor registered: it runs where exit is, as
 * valgrind's scan does, and not from deep in the loader's destructor calls, whose frames
 * hold stale copies of pointers the program dropped. */
void sampler_reachability_at_exit(void)
{
    if (shim_opts.mode != MODE_EXACT || !shim_opts.reachability || getpid() != owner_pid)
        return;
    pthread_mutex_lock(&output_lock);
    if (!finished && !exec_pending && samples_out.fd >= 0 && !reachability_done) {
        reachability_done = true;
        reachability_scan(run_dir, &facts_out, sampler_tid);
    }
    pthread_mutex_unlock(&output_lock);
}

void sampler_final_snapshot(void)
{
    pthread_mutex_lock(&output_lock);
    if (!finished && !exec_pending && samples_out.fd >= 0) {
        finished = true;
        write_last_rows();
        if (shim_opts.mode == MODE_EXACT && shim_opts.reachability && !reachability_done)
            reachability_scan(run_dir, &facts_out, sampler_tid);
        out_printf(&facts_out, "exit=clean\n");
        out_close(&facts_out);
        out_close(&samples_out);
        out_close(&sites_out);
        out_close(&stacks_out);
    }
    pthread_mutex_unlock(&output_lock);
}

/* ---- exec: the process goes on in a new image ---- */

/* The files of one image at the top of its run directory (children/ and images/ stay). */
static const char *const image_files[] = {"samples.csv",     "sites.csv",     "stacks.csv",
                                          "shim.txt",        "histogram.csv", "maps.txt",
                                          "reachability.csv"};
#define N_IMAGE_FILES (sizeof(image_files) / sizeof(image_files[0]))
static char image_dir[PATH_MAX]; /* where this image's files went, while an exec is pending */

/* One more than the highest K of the "K-PROGRAM" folders in PARENT. */
static unsigned next_image_number(const char *parent)
{
    unsigned highest = 0;
    DIR *d = opendir(parent);
    for (struct dirent *e; d && (e = readdir(d));) {
        unsigned k = (unsigned)strtoul(e->d_name, NULL, 10);
        highest = k > highest ? k : highest;
    }
    if (d)
        closedir(d);
    return highest + 1;
}

/* A name for this image: "K-PROGRAM", K counting the images before, PROGRAM the file's
 * base name with anything but [A-Za-z0-9._-] replaced. */
static int make_image_dir(void)
{
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    char name[64];
    size_t len = 0;
    for (; *base && len < sizeof(name) - 1; base++)
        name[len++] = strchr("._-", *base) || (*base >= '0' && *base <= '9') ||
                              ((*base | 32) >= 'a' && (*base | 32) <= 'z')
                          ? *base
                          : '_';
    name[len] = '\0';
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s/images", run_dir);
    if (mkdir(parent, 0777) && errno != EEXIST)
        return -1;
    for (unsigned k = next_image_number(parent); k < next_image_number(parent) + 100; k++) {
        snprintf(image_dir, sizeof(image_dir), "%s/%u-%s", parent, k, len ? name : "image");
        if (mkdir(image_dir, 0777) == 0)
            return 0;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

static void move_image_files(const char *from, const char *to)
{
    for (unsigned i = 0; i < N_IMAGE_FILES; i++) {
        char a[PATH_MAX + 32], b[PATH_MAX + 32];
        snprintf(a, sizeof(a), "%s/%s", from, image_files[i]);
        snprintf(b, sizeof(b), "%s/%s", to, image_files[i]);
        rename(a, b); /* a file not written yet (histogram, maps) is simply absent */
    }
}

/* Finishes this image's recording and moves it to images/K-PROGRAM/, so that the image
 * the exec starts records at the same place, as the same process. */
void sampler_before_exec(const char *path)
{
    if (getpid() != owner_pid)
        return; /* a child (vfork's shares our memory): the recording is not its own */
    pthread_mutex_lock(&output_lock);
    if (!finished && !exec_pending && samples_out.fd >= 0) {
        write_last_rows();
        out_printf(&facts_out, "exit=exec\nexec_path=%s\n", path ? path : "");
        out_flush(&facts_out);
        if (make_image_dir() == 0) {
            move_image_files(run_dir, image_dir);
            exec_pending = true;
        } else {
            shim_warn("cannot keep the recording of this program apart from the one it execs "
                      "(%s); the new program records under children/",
                      error_text(errno));
        }
    }
    pthread_mutex_unlock(&output_lock);
}

/* The exec failed: this image goes on recording where it was. */
void sampler_after_failed_exec(int err)
{
    if (getpid() != owner_pid)
        return;
    pthread_mutex_lock(&output_lock);
    if (exec_pending) {
        move_image_files(image_dir, run_dir);
        rmdir(image_dir);
        exec_pending = false;
        out_printf(&facts_out, "exit=\nexec_failed=%s\n", error_text(err));
        out_flush(&facts_out);
    }
    pthread_mutex_unlock(&output_lock);
}

void sampler_lock_for_fork(void)
{
    pthread_mutex_lock(&output_lock);
}

/* In a child the inherited descriptors are the parent's files: never write to them. */
void sampler_unlock_after_fork(bool in_child)
{
    if (in_child) {
        struct out_file *files[] = {&samples_out, &sites_out, &stacks_out, &facts_out};
        for (unsigned i = 0; i < 4; i++) {
            if (files[i]->fd >= 0)
                close(files[i]->fd);
            files[i]->fd = -1;
            files[i]->len = 0;
        }
        finished = false;
        exec_pending = false;
    }
    pthread_mutex_unlock(&output_lock);
}
