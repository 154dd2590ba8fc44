#include "common/rundata.h"

#include <dirent.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/columns.h"
#include "common/stats.h"
#include "common/util.h"

static bool file_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static int load_facts(struct run_data *run, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/shim.txt", run->dir);
    char *text = util_read_file_bounded(path, UTIL_INPUT_MAX, NULL);
    if (!text && file_exists(run->dir, "samples.csv")) {
        snprintf(err, errlen,
                 "%s has no heap recording (no shim.txt: the program did not load the shim, as "
                 "a static one cannot, or it was attached to); its samples.csv holds RSS: "
                 "allocscope diagnose %s reads it",
                 run->dir, run->dir);
        return -1;
    }
    if (!text) {
        snprintf(err, errlen, "%s is not a run directory: cannot read %s (%s)", run->dir, path,
                 strerror(errno));
        return -1;
    }
    size_t cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        if (run->nfacts == cap) {
            cap = cap ? cap * 2 : 32;
            run->fact_keys = xreallocarray(run->fact_keys, cap, sizeof(char *));
            run->fact_values = xreallocarray(run->fact_values, cap, sizeof(char *));
        }
        run->fact_keys[run->nfacts] = xstrndup(line, (size_t)(eq - line));
        run->fact_values[run->nfacts] = xstrdup(eq + 1);
        run->nfacts++;
    }
    free(text);
    return 0;
}

const char *rundata_fact(const struct run_data *run, const char *key)
{
    for (size_t i = run->nfacts; i-- > 0;)
        if (!strcmp(run->fact_keys[i], key))
            return run->fact_values[i];
    return NULL;
}

static struct site_series *site_by_id(struct run_data *run, uint32_t id)
{
    /* Ids are dense from 0 in the order stacks.csv lists them. */
    if (id < run->nsites && run->sites[id].id == id)
        return &run->sites[id];
    for (size_t i = 0; i < run->nsites; i++)
        if (run->sites[i].id == id)
            return &run->sites[i];
    return NULL;
}

static uint64_t *parse_frames(const char *text, unsigned *depth)
{
    unsigned n = *text ? 1 : 0;
    for (const char *p = text; *p; p++)
        n += *p == ';';
    uint64_t *frames = xcalloc(n, sizeof(uint64_t));
    const char *p = text;
    for (unsigned i = 0; i < n; i++) {
        char *end;
        frames[i] = strtoull(p, &end, 16);
        p = *end == ';' ? end + 1 : end;
    }
    *depth = n;
    return frames;
}

static int load_stacks(struct run_data *run, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct csv stacks;
    snprintf(path, sizeof(path), "%s/stacks.csv", run->dir);
    if (csv_load(&stacks, path, err, errlen))
        return -1;
    int c_id = csv_column(&stacks, STACKS_SITE_ID), c_frames = csv_column(&stacks, STACKS_FRAMES);
    if (c_id < 0 || c_frames < 0) {
        snprintf(err, errlen, "%s: missing column " STACKS_SITE_ID " or " STACKS_FRAMES, path);
        csv_free(&stacks);
        return -1;
    }
    run->sites = xcalloc(stacks.nrows, sizeof(struct site_series));
    for (size_t r = 0; r < stacks.nrows; r++) {
        struct site_series *s = &run->sites[run->nsites++];
        s->id = (uint32_t)csv_int(&stacks, r, c_id, 0);
        s->frames = parse_frames(csv_cell(&stacks, r, c_frames), &s->depth);
    }
    csv_free(&stacks);
    return 0;
}

static void add_point(struct site_series *s, uint64_t t, int64_t bytes, int64_t blocks)
{
    if (s->npoints == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->points = xreallocarray(s->points, s->cap, sizeof(*s->points));
    }
    s->points[s->npoints++] = (struct site_point){t, bytes, blocks};
    s->end_bytes = bytes;
    s->end_blocks = blocks;
    if (bytes > s->peak_bytes)
        s->peak_bytes = bytes;
}

static int load_site_rows(struct run_data *run, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct csv rows;
    snprintf(path, sizeof(path), "%s/sites.csv", run->dir);
    if (csv_load(&rows, path, err, errlen))
        return -1;
    int c_t = csv_column(&rows, SITES_T_MS), c_id = csv_column(&rows, SITES_SITE_ID);
    int c_ac = csv_column(&rows, SITES_ALLOC_CALLS), c_ab = csv_column(&rows, SITES_ALLOC_BYTES);
    int c_fc = csv_column(&rows, SITES_FREE_CALLS), c_fb = csv_column(&rows, SITES_FREE_BYTES);
    int c_peak = csv_column(&rows, SITES_PEAK_BYTES);           /* optional */
    int c_temporary = csv_column(&rows, SITES_TEMPORARY_CALLS); /* optional */
    if (c_t < 0 || c_id < 0 || c_ac < 0 || c_ab < 0 || c_fc < 0 || c_fb < 0) {
        snprintf(err, errlen, "%s: missing one of the columns " SITES_CSV_HEADER_COUNTS, path);
        csv_free(&rows);
        return -1;
    }
    for (size_t r = 0; r < rows.nrows; r++) {
        struct site_series *s = site_by_id(run, (uint32_t)csv_int(&rows, r, c_id, -1));
        if (!s)
            continue; /* its stacks.csv row was lost (truncated file) */
        int64_t v[7];
        const int cols[7] = {c_ac, c_ab, c_fc, c_fb, c_t, c_temporary, c_peak};
        for (int k = 0; k < 7; k++) {
            v[k] = cols[k] < 0 ? 0 : csv_int(&rows, r, cols[k], 0);
            if (v[k] < 0 || v[k] > CSV_MAX_QUANTITY) {
                snprintf(err, errlen, "%s:%zu: %s '%s' is out of range; the file is damaged", path,
                         r + 2, rows.header[cols[k]], csv_cell(&rows, r, cols[k]));
                csv_free(&rows);
                return -1;
            }
        }
        s->alloc_calls = (uint64_t)v[0];
        s->alloc_bytes = (uint64_t)v[1];
        if (c_temporary >= 0)
            s->temporary_calls = (uint64_t)v[5];
        /* Both within 2^53: the differences cannot overflow. */
        add_point(s, (uint64_t)v[4], v[1] - v[3], v[0] - v[2]);
        int64_t peak = v[6];
        if (peak > s->peak_bytes)
            s->peak_bytes = peak;
    }
    csv_free(&rows);
    for (size_t i = 0; i < run->nsites; i++)
        run->sites[i].growth_bytes_per_s = site_growth_rate(&run->sites[i]);
    return 0;
}

double site_growth_rate(const struct site_series *site)
{
    size_t peak = 0;
    for (size_t i = 0; i < site->npoints; i++)
        if (site->points[i].live_bytes >= site->points[peak].live_bytes)
            peak = i;
    size_t n = peak + 1;
    if (n < 3)
        return 0.0;
    double *t = xcalloc(2 * n, sizeof(double)), *bytes = t + n;
    for (size_t i = 0; i < n; i++) {
        t[i] = (double)site->points[i].t_ms / 1000.0;
        bytes[i] = (double)site->points[i].live_bytes;
    }
    struct stats_line line;
    double rate = stats_fit_line(t, bytes, n, &line) ? 0.0 : line.slope;
    free(t);
    return rate;
}

const char *const reach_class_names[REACH_CLASSES] = {
    REACHABILITY_DEFINITELY_LOST, REACHABILITY_INDIRECTLY_LOST, REACHABILITY_POSSIBLY_LOST,
    REACHABILITY_STILL_REACHABLE};

/* reachability.csv: per site, the bytes and blocks of each class. */
static int load_reachability(struct run_data *run, char *err, size_t errlen)
{
    char path[PATH_MAX];
    struct csv rows;
    snprintf(path, sizeof(path), "%s/reachability.csv", run->dir);
    if (csv_load(&rows, path, err, errlen))
        return -1;
    static const char *const bytes_columns[REACH_CLASSES] = {
        REACHABILITY_DEFINITELY_LOST_BYTES, REACHABILITY_INDIRECTLY_LOST_BYTES,
        REACHABILITY_POSSIBLY_LOST_BYTES, REACHABILITY_STILL_REACHABLE_BYTES};
    static const char *const blocks_columns[REACH_CLASSES] = {
        REACHABILITY_DEFINITELY_LOST_BLOCKS, REACHABILITY_INDIRECTLY_LOST_BLOCKS,
        REACHABILITY_POSSIBLY_LOST_BLOCKS, REACHABILITY_STILL_REACHABLE_BLOCKS};
    int c_id = csv_column(&rows, REACHABILITY_SITE_ID), c_bytes[REACH_CLASSES],
        c_blocks[REACH_CLASSES];
    bool complete = c_id >= 0;
    for (int k = 0; k < REACH_CLASSES; k++) {
        c_bytes[k] = csv_column(&rows, bytes_columns[k]);
        c_blocks[k] = csv_column(&rows, blocks_columns[k]);
        complete = complete && c_bytes[k] >= 0 && c_blocks[k] >= 0;
    }
    if (!complete) {
        snprintf(err, errlen,
                 "%s: missing a column (" REACHABILITY_SITE_ID ", CLASS_bytes, CLASS_blocks)",
                 path);
        csv_free(&rows);
        return -1;
    }
    for (size_t r = 0; r < rows.nrows; r++) {
        struct site_series *s = site_by_id(run, (uint32_t)csv_int(&rows, r, c_id, -1));
        for (int k = 0; k < REACH_CLASSES; k++) {
            int64_t bytes = csv_int(&rows, r, c_bytes[k], 0),
                    blocks = csv_int(&rows, r, c_blocks[k], 0);
            if (bytes < 0 || blocks < 0 || bytes > CSV_MAX_QUANTITY || blocks > CSV_MAX_QUANTITY ||
                run->reach.bytes[k] + bytes > CSV_MAX_QUANTITY ||
                run->reach.blocks[k] + blocks > CSV_MAX_QUANTITY) {
                snprintf(err, errlen,
                         "%s:%zu: %s has a count that is negative or beyond any real heap; the "
                         "file is damaged",
                         path, r + 2, reach_class_names[k]);
                csv_free(&rows);
                return -1;
            }
            run->reach.bytes[k] += bytes;
            run->reach.blocks[k] += blocks;
            if (s) {
                s->reach.bytes[k] = bytes;
                s->reach.blocks[k] = blocks;
            }
        }
    }
    csv_free(&rows);
    run->has_reach = true;
    return 0;
}

static int load_parts(struct run_data *run, const char *dir, unsigned parts, char *err,
                      size_t errlen)
{
    run->dir = xstrdup(dir);
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: no such run directory", dir);
        return -1;
    }
    if (load_facts(run, err, errlen))
        return -1;
    if (parts & RUNDATA_SAMPLES) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/samples.csv", dir);
        if (csv_load(&run->samples, path, err, errlen))
            return -1;
        run->has_samples = true;
    }
    if ((parts & RUNDATA_SITES) && file_exists(dir, "stacks.csv")) {
        if (load_stacks(run, err, errlen) || load_site_rows(run, err, errlen))
            return -1;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/maps.txt", dir);
        run->maps_text = util_read_file(path, NULL);
        if (!run->maps_text && run->nsites > 1)
            util_warn("%s is missing: frames will not be symbolized", path);
        if (file_exists(dir, "reachability.csv") && load_reachability(run, err, errlen))
            return -1;
    }
    return 0;
}

int rundata_load(struct run_data *run, const char *dir, unsigned parts, char *err, size_t errlen)
{
    memset(run, 0, sizeof(*run));
    if (load_parts(run, dir, parts, err, errlen) == 0)
        return 0;
    rundata_free(run); /* what it read before the error */
    return -1;
}

void rundata_free(struct run_data *run)
{
    for (size_t i = 0; i < run->nfacts; i++) {
        free(run->fact_keys[i]);
        free(run->fact_values[i]);
    }
    free(run->fact_keys);
    free(run->fact_values);
    if (run->has_samples)
        csv_free(&run->samples);
    for (size_t i = 0; i < run->nsites; i++) {
        free(run->sites[i].frames);
        free(run->sites[i].points);
    }
    free(run->sites);
    free(run->maps_text);
    free(run->dir);
    memset(run, 0, sizeof(*run));
}

static int image_number(const char *name)
{
    char *end;
    long k = strtol(name, &end, 10);
    return end != name && *end == '-' && k > 0 && k < 100000 ? (int)k : -1;
}

static int by_image_number(const void *a, const void *b)
{
    return image_number(*(char *const *)a) - image_number(*(char *const *)b);
}

bool rundata_exited(const struct run_data *run)
{
    const char *exit = rundata_fact(run, "exit");
    return exit && !strcmp(exit, "clean");
}

size_t rundata_images(const char *dir, char ***names)
{
    char *path = util_format("%s/images", dir);
    DIR *d = opendir(path);
    free(path);
    size_t n = 0;
    *names = NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (image_number(e->d_name) < 0)
            continue;
        *names = xreallocarray(*names, n + 1, sizeof(char *));
        (*names)[n++] = xstrdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (n)
        util_sort(*names, n, sizeof(char *), by_image_number);
    for (size_t i = 0; i < n; i++) /* "K-NAME" -> "NAME" */
        memmove((*names)[i], strchr((*names)[i], '-') + 1, strlen(strchr((*names)[i], '-')));
    return n;
}

void rundata_free_images(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
