#include "common/symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_INLINED 32 /* inline nesting kept per address */

struct mapping {
    uint64_t start, end, offset;
    char *path;
    uint64_t base;              /* where the file's offset-0 mapping starts in the run */
    struct module_file *module; /* NULL: not a readable regular file */
};

/* One object file opened for DWARF, shared by every symbolizer of the process: a report or
 * a gate reads tens of runs of the same binaries, and opening a file's debug information
 * (Debian compresses libc's) costs far more than looking addresses up in it. Each file is
 * reported alone at its own link addresses; a run's address is moved there by the run's
 * load base. Known by device, inode, size and time, so a rebuilt binary is opened anew. */
struct module_file {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    Dwfl *dwfl;
    Dwfl_Module *mod; /* NULL when libdwfl could not read it */
    uint64_t low;     /* the module's lowest address in DWFL */
};

static struct module_file **module_files; /* reachable until exit, on purpose */
static size_t nmodule_files;

struct cached_frame {
    uint64_t address;
    struct frame_info *frames;
    unsigned nframes;
};

struct symbolizer {
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
                s->maps = xreallocarray(s->maps, cap, sizeof(*s->maps));
            }
            struct mapping *m = &s->maps[s->nmaps++];
            *m = (struct mapping){.start = start,
                                  .end = end,
                                  .offset = offset,
                                  .path = xstrndup(line + path_at, len)};
            char *deleted = strstr(m->path, " (deleted)");
            if (deleted)
                *deleted = '\0';
        }
        line = nl ? nl + 1 : NULL;
    }
}

static struct module_file *module_file_open(const char *path, const struct stat *st)
{
    for (size_t i = 0; i < nmodule_files; i++) {
        struct module_file *f = module_files[i];
        if (f->dev == st->st_dev && f->ino == st->st_ino && f->size == st->st_size &&
            f->mtime.tv_sec == st->st_mtim.tv_sec && f->mtime.tv_nsec == st->st_mtim.tv_nsec)
            return f;
    }
    struct module_file *f = xcalloc(1, sizeof(*f));
    f->dev = st->st_dev, f->ino = st->st_ino, f->size = st->st_size, f->mtime = st->st_mtim;
    f->dwfl = dwfl_begin(&offline_callbacks);
    if (f->dwfl) {
        const char *name = strrchr(path, '/');
        dwfl_report_begin(f->dwfl);
        f->mod = dwfl_report_elf(f->dwfl, name ? name + 1 : path, path, -1, 0, false);
        dwfl_report_end(f->dwfl, NULL, NULL);
        Dwarf_Addr low = 0;
        if (f->mod)
            dwfl_module_info(f->mod, NULL, &low, NULL, NULL, NULL, NULL, NULL);
        f->low = low;
    }
    module_files = xreallocarray(module_files, nmodule_files + 1, sizeof(*module_files));
    module_files[nmodule_files++] = f;
    return f;
}

/* Each mapping of a file knows the file's load base: where its offset-0 mapping starts. */
static void attach_modules(struct symbolizer *s)
{
    for (size_t i = 0; i < s->nmaps; i++) {
        struct mapping *m = &s->maps[i];
        size_t first = 0; /* the file's first mapping was looked at already */
        while (first < i && strcmp(s->maps[first].path, m->path))
            first++;
        if (first < i) {
            m->base = s->maps[first].base, m->module = s->maps[first].module;
            continue;
        }
        /* maps.txt is outside data: only regular files are opened (a device or a FIFO
         * named there would block or never end). */
        struct stat st;
        if (stat(m->path, &st) || !S_ISREG(st.st_mode) || access(m->path, R_OK))
            continue;
        m->base = m->start - m->offset;
        for (size_t j = 0; j < s->nmaps; j++)
            if (!strcmp(s->maps[j].path, m->path) && s->maps[j].offset == 0)
                m->base = s->maps[j].start;
        m->module = module_file_open(m->path, &st);
    }
}

struct symbolizer *symbolizer_new(const char *maps_text)
{
    struct symbolizer *s = xcalloc(1, sizeof(*s));
    if (maps_text)
        parse_maps(s, maps_text);
    attach_modules(s);
    return s;
}

static const struct mapping *mapping_of(struct symbolizer *s, uint64_t address)
{
    for (size_t i = 0; i < s->nmaps; i++)
        if (address >= s->maps[i].start && address < s->maps[i].end)
            return &s->maps[i];
    return NULL;
}

/* ---- names ---- */

/* Rust's legacy mangling ends in "::h" and 16 hex digits, a hash of the crate; where the
 * C++ demangler read such a name, drop it as the Rust demangler does. */
static void drop_rust_hash(char *name)
{
    size_t len = strlen(name);
    if (len < 19 || strncmp(name + len - 19, "::h", 3))
        return;
    for (size_t i = len - 16; i < len; i++)
        if (!strchr("0123456789abcdef", name[i]))
            return;
    name[len - 19] = '\0';
}

char *symbolizer_demangle(const char *name)
{
    char *plain = NULL;
    if (!strncmp(name, "_Z", 2) || !strncmp(name, "_R", 2))
        plain = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
    if (!plain)
        return xstrdup(name);
    drop_rust_hash(plain);
    return plain;
}

/* The name a DIE's function goes by: its linkage (mangled) name where it has one, through
 * DW_AT_abstract_origin and DW_AT_specification (inlined and out-of-line copies). */
static const char *die_function_name(Dwarf_Die *die)
{
    static const int names[] = {DW_AT_linkage_name, DW_AT_MIPS_linkage_name, DW_AT_name};
    Dwarf_Attribute attr;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *name = dwarf_formstring(dwarf_attr_integrate(die, names[i], &attr));
        if (name)
            return name;
    }
    return NULL;
}

static void set_name(struct frame_info *f, const char *mangled)
{
    f->mangled = xstrdup(mangled ? mangled : "??");
    f->function = mangled ? symbolizer_demangle(mangled) : xstrdup("??");
}

/* ---- one address ---- */

struct position {
    const char *file;
    int line;
};

/* Where the inlined code of SCOPE was called from: a position in the enclosing function. */
static struct position call_site(Dwarf_Die *scope, Dwarf_Files *files)
{
    struct position at = {NULL, 0};
    Dwarf_Attribute attr;
    Dwarf_Word value;
    if (files && dwarf_formudata(dwarf_attr(scope, DW_AT_call_file, &attr), &value) == 0)
        at.file = dwarf_filesrc(files, value, NULL, NULL);
    if (dwarf_formudata(dwarf_attr(scope, DW_AT_call_line, &attr), &value) == 0)
        at.line = (int)value;
    return at;
}

/* The frames at PC from the DWARF scopes holding it, innermost first; 0 without DWARF.
 * The innermost frame's position is the line table's; each enclosing frame's is the call
 * site of the inlined code it holds. */
static unsigned dwarf_frames(Dwfl_Module *mod, Dwarf_Addr pc, struct position at,
                             struct frame_info *out, unsigned max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwfl_module_addrdie(mod, pc, &bias);
    Dwarf_Die *scopes = NULL, innermost;
    int nscopes = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
    /* dwarf_getscopes goes on from an inlined function into the scopes of its abstract
     * definition; the DIE's own parents are the functions it was inlined into. */
    if (nscopes > 0) {
        innermost = scopes[0];
        free(scopes);
        scopes = NULL;
        nscopes = dwarf_getscopes_die(&innermost, &scopes);
    }
    Dwarf_Files *files = NULL;
    size_t nfiles;
    if (nscopes > 0 && dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;
    unsigned n = 0;
    for (int i = 0; i < nscopes && n < max; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
            continue;
        struct frame_info *f = &out[n++];
        set_name(f, die_function_name(&scopes[i]));
        f->file = xstrdup(at.file ? at.file : "??");
        f->line = at.file ? at.line : 0;
        f->inlined = tag == DW_TAG_inlined_subroutine;
        if (!f->inlined)
            break;
        at = call_site(&scopes[i], files);
    }
    free(scopes);
    return n;
}

static void resolve(struct symbolizer *s, uint64_t address, struct cached_frame *c)
{
    struct frame_info frames[MAX_INLINED];
    unsigned n = 0;
    const struct mapping *map = mapping_of(s, address - 1);
    Dwfl_Module *mod = map && map->module ? map->module->mod : NULL;
    /* inside the call instruction, moved to where the file alone is reported */
    Dwarf_Addr pc = mod ? address - 1 - map->base + map->module->low : 0;
    struct position at = {NULL, 0};
    if (mod) {
        Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
        at.file = line ? dwfl_lineinfo(line, NULL, &at.line, NULL, NULL, NULL) : NULL;
        n = dwarf_frames(mod, pc, at, frames, MAX_INLINED);
    }
    /* The function the code belongs to goes by its symbol, as the loader knows it (DWARF
     * names inlined functions; without DWARF, the symbol table is all there is). */
    const char *symbol = mod ? dwfl_module_addrname(mod, pc) : NULL;
    if (n == 0) {
        frames[0] = (struct frame_info){.file = xstrdup(at.file ? at.file : "??"),
                                        .line = at.file ? at.line : 0};
        set_name(&frames[0], symbol);
        n = 1;
    } else if (symbol && !frames[n - 1].inlined) {
        free((char *)frames[n - 1].mangled);
        free((char *)frames[n - 1].function);
        set_name(&frames[n - 1], symbol);
    }
    const char *object = map ? map->path : "??";
    for (unsigned i = 0; i < n; i++) {
        frames[i].object = object;
        frames[i].address = address;
    }
    c->frames = xcalloc(n, sizeof(*c->frames));
    memcpy(c->frames, frames, n * sizeof(*frames));
    c->nframes = n;
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
    s->cache = xcalloc(s->cache_cap, sizeof(*s->cache));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].address)
            s->cache[slot_of(s, old[i].address)] = old[i];
    free(old);
}

unsigned symbolizer_frames(struct symbolizer *s, uint64_t address, const struct frame_info **out)
{
    if (!address) { /* no code lives at 0, and 0 marks an empty cache slot */
        *out = NULL;
        return 0;
    }
    if ((s->cache_used + 1) * 2 > s->cache_cap)
        grow_cache(s);
    size_t i = slot_of(s, address);
    if (!s->cache[i].address) {
        s->cache[i].address = address;
        resolve(s, address, &s->cache[i]);
        s->cache_used++;
    }
    *out = s->cache[i].frames;
    return s->cache[i].nframes;
}

unsigned symbolizer_stack(struct symbolizer *s, const uint64_t *pcs, unsigned depth,
                          struct frame_info *out, unsigned max)
{
    unsigned n = 0;
    for (unsigned i = 0; i < depth && n < max; i++) {
        const struct frame_info *frames;
        unsigned k = symbolizer_frames(s, pcs[i], &frames);
        for (unsigned j = 0; j < k && n < max; j++)
            out[n++] = frames[j];
    }
    return n;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cache_cap; i++) {
        for (unsigned k = 0; k < s->cache[i].nframes; k++) {
            struct frame_info *f = &s->cache[i].frames[k];
            free((char *)f->function);
            free((char *)f->mangled);
            free((char *)f->file);
        }
        free(s->cache[i].frames);
    }
    free(s->cache);
    for (size_t i = 0; i < s->nmaps; i++)
        free(s->maps[i].path);
    free(s->maps);
    free(s);
}
