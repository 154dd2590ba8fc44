/* pprof's profile.proto (reports/profile.proto), encoded with libprotobuf-c's generated code
 * and gzip'd with zlib, as `go tool pprof` reads it. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "common/atomic_file.h"
#include "common/util.h"
#include "reports/profile.pb-c.h"
#include "reports/stack_export.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Mapping Mapping;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;

/* ---- the string table ---------------------------------------------------------------- */

struct strings {
    char **list; /* list[0] = "" */
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t nslots;
};

static size_t hash_text(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void strings_rehash(struct strings *t)
{
    free(t->slots);
    t->nslots = t->nslots ? t->nslots * 2 : 1024;
    t->slots = xcalloc(t->nslots, sizeof(size_t));
    for (size_t i = 0; i < t->n; i++) {
        size_t s = hash_text(t->list[i]) & (t->nslots - 1);
        while (t->slots[s])
            s = (s + 1) & (t->nslots - 1);
        t->slots[s] = i + 1;
    }
}

/* The index of TEXT in the table, added when new. */
static int64_t string_index(struct strings *t, const char *text)
{
    if ((t->n + 1) * 2 > t->nslots)
        strings_rehash(t);
    size_t s = hash_text(text) & (t->nslots - 1);
    for (; t->slots[s]; s = (s + 1) & (t->nslots - 1))
        if (!strcmp(t->list[t->slots[s] - 1], text))
            return (int64_t)(t->slots[s] - 1);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->list = xreallocarray(t->list, t->cap, sizeof(char *));
    }
    t->list[t->n] = xstrdup(text);
    t->slots[s] = ++t->n;
    return (int64_t)(t->n - 1);
}

/* ---- mappings: the executable regions of maps.txt ------------------------------------ */

struct map_region {
    uint64_t start, end, offset;
    char *path;
};

static size_t parse_regions(const char *maps, struct map_region **out)
{
    size_t n = 0;
    *out = NULL;
    for (const char *line = maps; line && *line;) {
        const char *nl = strchr(line, '\n');
        unsigned long long start, end, offset;
        char perms[8];
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &offset, &path_at) >=
                4 &&
            path_at > 0 && line[path_at] == '/' && strchr(perms, 'x')) {
            size_t len = nl ? (size_t)(nl - line - path_at) : strlen(line + path_at);
            *out = xreallocarray(*out, n + 1, sizeof(**out));
            (*out)[n++] = (struct map_region){start, end, offset, xstrndup(line + path_at, len)};
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* ---- building the message ------------------------------------------------------------- */

struct builder {
    const struct site_profile *p;
    struct strings strings;
    struct map_region *regions;
    size_t nregions;
    Mapping *mappings;
    Mapping **mapping_ptrs;
    Location **locations; /* by id - 1 */
    size_t nlocations;
    uint64_t *location_pcs; /* open addressing: pc -> location id */
    uint64_t *location_ids;
    size_t nlocslots;
    Function **functions;
    size_t nfunctions;
    struct strings function_keys; /* "name\x1fsystem\x1ffile" -> index (= id - 1) */
};

static void add_mappings(struct builder *b)
{
    const char *maps = b->p->run.maps_text;
    b->nregions = maps ? parse_regions(maps, &b->regions) : 0;
    b->mappings = xcalloc(b->nregions ? b->nregions : 1, sizeof(Mapping));
    b->mapping_ptrs = xcalloc(b->nregions ? b->nregions : 1, sizeof(Mapping *));
    for (size_t i = 0; i < b->nregions; i++) {
        Mapping *m = &b->mappings[i];
        perftools__profiles__mapping__init(m);
        m->id = i + 1;
        m->memory_start = b->regions[i].start;
        m->memory_limit = b->regions[i].end;
        m->file_offset = b->regions[i].offset;
        m->filename = string_index(&b->strings, b->regions[i].path);
        /* The frames carry their names: pprof must not look for the binaries. */
        m->has_functions = m->has_filenames = m->has_line_numbers = m->has_inline_frames = true;
        b->mapping_ptrs[i] = m;
    }
}

static uint64_t mapping_of(const struct builder *b, uint64_t pc)
{
    for (size_t i = 0; i < b->nregions; i++)
        if (pc >= b->regions[i].start && pc < b->regions[i].end)
            return i + 1;
    return 0;
}

static uint64_t function_id(struct builder *b, const struct frame_info *f)
{
    char *key = util_format("%s\x1f%s\x1f%s", f->function, f->mangled, f->file);
    int64_t index = string_index(&b->function_keys, key);
    free(key);
    if ((size_t)index < b->nfunctions)
        return (uint64_t)index + 1;
    Function *fn = xcalloc(1, sizeof(*fn));
    perftools__profiles__function__init(fn);
    fn->id = (uint64_t)index + 1;
    fn->name = string_index(&b->strings, f->function);
    fn->system_name = string_index(&b->strings, f->mangled);
    fn->filename = string_index(&b->strings, strcmp(f->file, "??") ? f->file : "");
    b->functions = xreallocarray(b->functions, b->nfunctions + 1, sizeof(Function *));
    b->functions[b->nfunctions++] = fn;
    return fn->id;
}

static void grow_location_slots(struct builder *b)
{
    uint64_t *pcs = b->location_pcs, *ids = b->location_ids;
    size_t old = b->nlocslots;
    b->nlocslots = old ? old * 2 : 1024;
    b->location_pcs = xcalloc(b->nlocslots, sizeof(uint64_t));
    b->location_ids = xcalloc(b->nlocslots, sizeof(uint64_t));
    for (size_t i = 0; i < old; i++) {
        if (!ids[i])
            continue;
        size_t s = (size_t)(pcs[i] * 0x9e3779b97f4a7c15ull >> 17) & (b->nlocslots - 1);
        while (b->location_ids[s])
            s = (s + 1) & (b->nlocslots - 1);
        b->location_pcs[s] = pcs[i], b->location_ids[s] = ids[i];
    }
    free(pcs);
    free(ids);
}

/* The location of return address PC, with the functions inlined there as its lines. */
static uint64_t location_id(struct builder *b, uint64_t pc)
{
    if ((b->nlocations + 1) * 2 > b->nlocslots)
        grow_location_slots(b);
    size_t s = (size_t)(pc * 0x9e3779b97f4a7c15ull >> 17) & (b->nlocslots - 1);
    for (; b->location_ids[s]; s = (s + 1) & (b->nlocslots - 1))
        if (b->location_pcs[s] == pc)
            return b->location_ids[s];
    const struct frame_info *frames;
    unsigned n = symbolizer_frames(b->p->sym, pc, &frames);
    Location *loc = xcalloc(1, sizeof(*loc));
    perftools__profiles__location__init(loc);
    loc->id = b->nlocations + 1;
    loc->mapping_id = mapping_of(b, pc);
    loc->address = pc;
    loc->n_line = n;
    loc->line = xcalloc(n ? n : 1, sizeof(Line *));
    for (unsigned i = 0; i < n; i++) { /* inlined first, the enclosing function last */
        Line *line = xcalloc(1, sizeof(*line));
        perftools__profiles__line__init(line);
        line->function_id = function_id(b, &frames[i]);
        line->line = frames[i].line;
        loc->line[i] = line;
    }
    b->locations = xreallocarray(b->locations, b->nlocations + 1, sizeof(Location *));
    b->locations[b->nlocations++] = loc;
    b->location_pcs[s] = pc, b->location_ids[s] = loc->id;
    return loc->id;
}

/* The sample types, in order, with how each stack's value is read. */
struct sample_kind {
    const char *type, *unit;
    enum profile_value value;
};
static const struct sample_kind base_kinds[] = {
    {"alloc_objects", "count", PV_ALLOC_CALLS},      {"alloc_space", "bytes", PV_ALLOC_BYTES},
    {"inuse_objects", "count", PV_EXIT_BLOCKS},      {"inuse_space", "bytes", PV_EXIT_BYTES},
    {"peak_objects", "count", PV_PEAK_BLOCKS},       {"peak_space", "bytes", PV_PEAK_BYTES},
    {"growth_space", "bytes_per_second", PV_GROWTH}, {"temporary_objects", "count", PV_TEMPORARY}};
static const struct sample_kind reach_kinds[] = {
    {"definitely_lost_space", "bytes", PV_DEFINITELY_LOST},
    {"indirectly_lost_space", "bytes", PV_INDIRECTLY_LOST},
    {"possibly_lost_space", "bytes", PV_POSSIBLY_LOST},
    {"still_reachable_space", "bytes", PV_STILL_REACHABLE}};
#define NBASE (sizeof(base_kinds) / sizeof(base_kinds[0]))
#define NREACH (sizeof(reach_kinds) / sizeof(reach_kinds[0]))
#define INUSE_SPACE 3 /* the default sample type: what `leaks` lists */

static size_t sample_kinds(const struct site_profile *p, struct sample_kind *out)
{
    size_t n = 0;
    for (size_t i = 0; i < NBASE; i++)
        out[n++] = base_kinds[i];
    for (size_t i = 0; p->has_reach && i < NREACH; i++)
        out[n++] = reach_kinds[i];
    return n;
}

static void add_samples(struct builder *b, Profile *prof, const struct sample_kind *kinds,
                        size_t nkinds)
{
    const struct site_profile *p = b->p;
    prof->sample = xcalloc(p->n ? p->n : 1, sizeof(Sample *));
    for (size_t i = 0; i < p->n; i++) {
        const struct profile_stack *st = &p->stacks[i];
        Sample *s = xcalloc(1, sizeof(*s));
        perftools__profiles__sample__init(s);
        s->n_value = nkinds;
        s->value = xcalloc(nkinds, sizeof(int64_t));
        bool any = false;
        for (size_t k = 0; k < nkinds; k++) {
            double v = profile_stack_value(st, kinds[k].value);
            s->value[k] = v > 0 ? (int64_t)(v + 0.5) : 0; /* nothing negative to show */
            any |= s->value[k] != 0;
        }
        if (!any) {
            free(s->value);
            free(s);
            continue;
        }
        s->n_location_id = st->depth;
        s->location_id = xcalloc(st->depth ? st->depth : 1, sizeof(uint64_t));
        for (unsigned d = 0; d < st->depth; d++)
            s->location_id[d] = location_id(b, st->pcs[d]);
        prof->sample[prof->n_sample++] = s;
    }
}

static void add_comments(struct builder *b, Profile *prof)
{
    const struct site_profile *p = b->p;
    char *lines[3];
    size_t n = 0;
    lines[n++] = util_format("allocscope %s: %s", ALLOCSCOPE_VERSION, p->run.dir);
    if (p->sampled)
        lines[n++] = util_format("sampled recording (one sample per %llu bytes on average): "
                                 "values are estimates",
                                 (unsigned long long)p->sample_bytes);
    lines[n++] = util_format("peak_* at t=%.1f s; inuse_* %s", (double)p->peak_t_ms / 1000.0,
                             p->exited ? "unfreed at exit" : "live at the end (no clean exit)");
    prof->comment = xcalloc(n, sizeof(int64_t));
    for (size_t i = 0; i < n; i++) {
        prof->comment[prof->n_comment++] = string_index(&b->strings, lines[i]);
        free(lines[i]);
    }
}

static void build(struct builder *b, Profile *prof)
{
    perftools__profiles__profile__init(prof);
    string_index(&b->strings, ""); /* entry 0 */
    struct sample_kind kinds[NBASE + NREACH];
    size_t nkinds = sample_kinds(b->p, kinds);
    prof->n_sample_type = nkinds;
    prof->sample_type = xcalloc(nkinds, sizeof(ValueType *));
    for (size_t k = 0; k < nkinds; k++) {
        ValueType *vt = xcalloc(1, sizeof(*vt));
        perftools__profiles__value_type__init(vt);
        vt->type = string_index(&b->strings, kinds[k].type);
        vt->unit = string_index(&b->strings, kinds[k].unit);
        prof->sample_type[k] = vt;
    }
    prof->default_sample_type = prof->sample_type[INUSE_SPACE]->type;
    add_mappings(b);
    add_samples(b, prof, kinds, nkinds);
    add_comments(b, prof);
    if (b->p->sampled) {
        ValueType *period = xcalloc(1, sizeof(*period));
        perftools__profiles__value_type__init(period);
        period->type = string_index(&b->strings, "space");
        period->unit = string_index(&b->strings, "bytes");
        prof->period_type = period;
        prof->period = (int64_t)b->p->sample_bytes;
    }
    prof->duration_nanos = (int64_t)(b->p->duration_s * 1e9);
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/sites.csv", b->p->run.dir);
    if (!stat(path, &st)) /* the last snapshot's time */
        prof->time_nanos = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    prof->n_mapping = b->nregions;
    prof->mapping = b->mapping_ptrs;
    prof->n_location = b->nlocations;
    prof->location = b->locations;
    prof->n_function = b->nfunctions;
    prof->function = b->functions;
    prof->n_string_table = b->strings.n;
    prof->string_table = b->strings.list;
}

static void strings_free(struct strings *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->list[i]);
    free(t->list);
    free(t->slots);
}

static void builder_free(struct builder *b, Profile *prof)
{
    for (size_t i = 0; i < prof->n_sample_type; i++)
        free(prof->sample_type[i]);
    free(prof->sample_type);
    for (size_t i = 0; i < prof->n_sample; i++) {
        free(prof->sample[i]->value);
        free(prof->sample[i]->location_id);
        free(prof->sample[i]);
    }
    free(prof->sample);
    free(prof->comment);
    free(prof->period_type);
    for (size_t i = 0; i < b->nlocations; i++) {
        for (size_t k = 0; k < b->locations[i]->n_line; k++)
            free(b->locations[i]->line[k]);
        free(b->locations[i]->line);
        free(b->locations[i]);
    }
    free(b->locations);
    free(b->location_pcs);
    free(b->location_ids);
    for (size_t i = 0; i < b->nfunctions; i++)
        free(b->functions[i]);
    free(b->functions);
    for (size_t i = 0; i < b->nregions; i++)
        free(b->regions[i].path);
    free(b->regions);
    free(b->mappings);
    free(b->mapping_ptrs);
    strings_free(&b->strings);
    strings_free(&b->function_keys);
}

/* DATA gzip'd (RFC 1952) into a malloc'd buffer. */
static unsigned char *gzip(const unsigned char *data, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        util_out_of_memory();
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    unsigned char *out = xmalloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END)
        util_out_of_memory(); /* deflateBound is enough: only memory can fail */
    return out;
}

int pprof_write(const struct site_profile *p, const char *path, char *err, size_t errlen)
{
    struct builder b = {.p = p};
    Profile prof;
    build(&b, &prof);
    size_t len = perftools__profiles__profile__get_packed_size(&prof);
    unsigned char *packed = xmalloc(len ? len : 1);
    perftools__profiles__profile__pack(&prof, packed);
    builder_free(&b, &prof);
    size_t zlen;
    unsigned char *z = gzip(packed, len, &zlen);
    free(packed);
    int rc = atomic_file_write(path, z, zlen);
    if (rc)
        atomic_file_error(err, errlen, path, errno);
    free(z);
    return rc;
}
