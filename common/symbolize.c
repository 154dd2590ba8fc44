#include "common/symbolize.h"

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mapping {
    uint64_t start, end, offset;
    char *path;
};

struct cached_frame {
    uint64_t address;
    struct frame_info info;
};

struct symbolizer {
    Dwfl *dwfl;
    struct mapping *maps;
    size_t nmaps;
    struct cached_frame *cache; /* open addressing by address */
    size_t cache_cap, cache_used;
};

static char *debuginfo_path;
static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

static void parse_maps(struct symbolizer *s, const char *text)
{
    size_t cap = 0;
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        unsigned long long start, end, offset;
        int path_at = 0;
        if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &start, &end, &offset, &path_at) >= 3 &&
            path_at > 0 && line[path_at] == '/') {
            size_t len = nl ? (size_t)(nl - line - path_at) : strlen(line + path_at);
            if (s->nmaps == cap) {
                cap = cap ? cap * 2 : 64;
                s->maps = realloc(s->maps, cap * sizeof(*s->maps));
            }
            struct mapping *m = &s->maps[s->nmaps++];
            m->start = start, m->end = end, m->offset = offset;
            m->path = strndup(line + path_at, len);
            char *deleted = strstr(m->path, " (deleted)");
            if (deleted)
                *deleted = '\0';
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Each file is reported once, at the address where its offset-0 mapping starts. */
static void report_modules(struct symbolizer *s)
{
    dwfl_report_begin(s->dwfl);
    for (size_t i = 0; i < s->nmaps; i++) {
        struct mapping *m = &s->maps[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(s->maps[j].path, m->path);
        if (seen || access(m->path, R_OK))
            continue;
        uint64_t base = m->start - m->offset;
        for (size_t j = i; j < s->nmaps; j++)
            if (!strcmp(s->maps[j].path, m->path) && s->maps[j].offset == 0)
                base = s->maps[j].start;
        const char *name = strrchr(m->path, '/');
        dwfl_report_elf(s->dwfl, name ? name + 1 : m->path, m->path, -1, base, false);
    }
    dwfl_report_end(s->dwfl, NULL, NULL);
}

struct symbolizer *symbolizer_new(const char *maps_text)
{
    struct symbolizer *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->dwfl = dwfl_begin(&offline_callbacks);
    if (maps_text)
        parse_maps(s, maps_text);
    if (s->dwfl)
        report_modules(s);
    return s;
}

static const char *object_of(struct symbolizer *s, uint64_t address)
{
    for (size_t i = 0; i < s->nmaps; i++)
        if (address >= s->maps[i].start && address < s->maps[i].end)
            return s->maps[i].path;
    return "??";
}

static void resolve(struct symbolizer *s, uint64_t address, struct frame_info *out)
{
    out->function = "??";
    out->file = "??";
    out->line = 0;
    out->object = object_of(s, address);
    if (!s->dwfl)
        return;
    Dwarf_Addr pc = address - 1; /* inside the call instruction */
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, pc);
    if (!mod)
        return;
    const char *name = dwfl_module_addrname(mod, pc);
    if (name)
        out->function = strdup(name);
    Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (file) {
        out->file = strdup(file);
        out->line = lineno;
    }
}

static size_t slot_of(struct symbolizer *s, uint64_t address)
{
    size_t i = (size_t)((address * 0x9e3779b97f4a7c15ull) >> 20) & (s->cache_cap - 1);
    while (s->cache[i].address && s->cache[i].address != address)
        i = (i + 1) & (s->cache_cap - 1);
    return i;
}

static void grow_cache(struct symbolizer *s)
{
    struct cached_frame *old = s->cache;
    size_t old_cap = s->cache_cap;
    s->cache_cap = old_cap ? old_cap * 2 : 1024;
    s->cache = calloc(s->cache_cap, sizeof(*s->cache));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].address)
            s->cache[slot_of(s, old[i].address)] = old[i];
    free(old);
}

void symbolizer_lookup(struct symbolizer *s, uint64_t address, struct frame_info *out)
{
    if ((s->cache_used + 1) * 2 > s->cache_cap)
        grow_cache(s);
    size_t i = slot_of(s, address);
    if (!s->cache[i].address) {
        s->cache[i].address = address;
        resolve(s, address, &s->cache[i].info);
        s->cache_used++;
    }
    *out = s->cache[i].info;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cache_cap; i++) {
        struct frame_info *f = &s->cache[i].info;
        if (!s->cache[i].address)
            continue;
        if (strcmp(f->function, "??"))
            free((char *)f->function);
        if (strcmp(f->file, "??"))
            free((char *)f->file);
    }
    free(s->cache);
    for (size_t i = 0; i < s->nmaps; i++)
        free(s->maps[i].path);
    free(s->maps);
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s);
}
