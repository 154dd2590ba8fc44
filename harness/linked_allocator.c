#include "harness/linked_allocator.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define MAX_DEPTH 3 /* program -> its libraries -> theirs */

/* Shared libraries of each allocator, by the start of their file name. */
static const struct {
    const char *prefix, *kind;
} library_kinds[] = {{"libjemalloc.so", "jemalloc"},
                     {"libtcmalloc", "tcmalloc"}, /* _minimal, _and_profiler, plain */
                     {"libmimalloc", "mimalloc"}};

static const char *library_kind(const char *soname)
{
    for (size_t i = 0; i < sizeof(library_kinds) / sizeof(library_kinds[0]); i++)
        if (!strncmp(soname, library_kinds[i].prefix, strlen(library_kinds[i].prefix)) &&
            strstr(soname, ".so"))
            return library_kinds[i].kind;
    return NULL;
}

/* A defined symbol only an allocator's own code has: jemalloc's mallctl (je_mallctl when
 * built with a prefix, as Redis's bundled copy is), tcmalloc's MallocExtension (C++ and C
 * API) or tc_malloc, mimalloc's mi_version or mi_malloc. */
static const char *symbol_kind(const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "mallctl") || (n > 8 && !strcmp(name + n - 8, "_mallctl")))
        return "jemalloc";
    if (strstr(name, "MallocExtension") || !strcmp(name, "tc_malloc"))
        return "tcmalloc";
    if (!strcmp(name, "mi_version") || !strcmp(name, "mi_malloc"))
        return "mimalloc";
    return NULL;
}

int linked_allocator_resolve(const char *command, char *path, size_t len)
{
    if (strchr(command, '/')) {
        snprintf(path, len, "%s", command);
        return access(path, X_OK);
    }
    const char *env = getenv("PATH");
    char *dirs = xstrdup(env ? env : "/usr/bin:/bin"), *save = NULL;
    int rc = -1;
    for (char *d = strtok_r(dirs, ":", &save); d && rc; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, len, "%s/%s", *d ? d : ".", command);
        rc = access(path, X_OK);
    }
    free(dirs);
    return rc;
}

/* ---- reading one ELF file ---- */

struct elf_facts {
    char **needed; /* DT_NEEDED names */
    size_t n_needed;
    char *runpath; /* DT_RUNPATH, else DT_RPATH; NULL */
    const char *symbol_kind, *symbol;
    char symbol_name[128];
};

static void facts_free(struct elf_facts *f)
{
    for (size_t i = 0; i < f->n_needed; i++)
        free(f->needed[i]);
    free(f->needed);
    free(f->runpath);
    memset(f, 0, sizeof(*f));
}

static void read_dynamic(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr, struct elf_facts *f)
{
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t count = shdr->sh_entsize ? shdr->sh_size / shdr->sh_entsize : 0;
    for (size_t i = 0; data && i < count; i++) {
        GElf_Dyn dyn;
        if (!gelf_getdyn(data, (int)i, &dyn) || dyn.d_tag == DT_NULL)
            break;
        const char *s = elf_strptr(elf, shdr->sh_link, dyn.d_un.d_val);
        if (!s)
            continue;
        if (dyn.d_tag == DT_NEEDED) {
            f->needed = xreallocarray(f->needed, f->n_needed + 1, sizeof(char *));
            f->needed[f->n_needed++] = xstrdup(s);
        } else if (dyn.d_tag == DT_RUNPATH || (dyn.d_tag == DT_RPATH && !f->runpath)) {
            free(f->runpath);
            f->runpath = xstrdup(s);
        }
    }
}

static void read_symbols(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr, struct elf_facts *f)
{
    Elf_Data *data = elf_getdata(scn, NULL);
    size_t count = shdr->sh_entsize ? shdr->sh_size / shdr->sh_entsize : 0;
    for (size_t i = 0; data && i < count && !f->symbol_kind; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
            continue;
        const char *name = elf_strptr(elf, shdr->sh_link, sym.st_name);
        if (name && (f->symbol_kind = symbol_kind(name)))
            snprintf(f->symbol_name, sizeof(f->symbol_name), "%s", name);
    }
}

/* Returns 0 with F filled, -1 when PATH is no ELF file this can read. */
static int read_elf(const char *path, bool want_symbols, struct elf_facts *f)
{
    memset(f, 0, sizeof(*f));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    int rc = elf && elf_kind(elf) == ELF_K_ELF ? 0 : -1;
    for (Elf_Scn *scn = NULL; !rc && (scn = elf_nextscn(elf, scn));) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(scn, &shdr))
            continue;
        if (shdr.sh_type == SHT_DYNAMIC)
            read_dynamic(elf, scn, &shdr, f);
        else if (want_symbols && (shdr.sh_type == SHT_SYMTAB || shdr.sh_type == SHT_DYNSYM))
            read_symbols(elf, scn, &shdr, f);
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return rc;
}

/* ---- following the libraries ---- */

/* Where the dynamic linker would find NAME for a file of directory ORIGIN with RUNPATH:
 * LD_LIBRARY_PATH, the runpath ($ORIGIN expanded), then the system's directories. */
static int find_library(const char *name, const char *runpath, const char *origin, char *path,
                        size_t len)
{
    static const char *const system_dirs =
        "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64:/lib:/usr/lib:"
        "/usr/local/lib";
    const char *ld = getenv("LD_LIBRARY_PATH");
    char *dirs = util_format("%s:%s:%s", ld ? ld : "", runpath ? runpath : "", system_dirs);
    char *save = NULL;
    int rc = -1;
    for (char *d = strtok_r(dirs, ":", &save); d && rc; d = strtok_r(NULL, ":", &save)) {
        if (!strncmp(d, "$ORIGIN", 7))
            snprintf(path, len, "%s%s/%s", origin, d + 7, name);
        else
            snprintf(path, len, "%s/%s", d, name);
        rc = access(path, R_OK);
    }
    free(dirs);
    return rc;
}

struct walk {
    char seen[64][64];
    size_t n_seen;
    struct linked_allocator *out;
};

static bool seen_before(struct walk *w, const char *name)
{
    for (size_t i = 0; i < w->n_seen; i++)
        if (!strcmp(w->seen[i], name))
            return true;
    if (w->n_seen < sizeof(w->seen) / sizeof(w->seen[0]))
        snprintf(w->seen[w->n_seen++], sizeof(w->seen[0]), "%s", name);
    return false;
}

/* Looks through the libraries F needs (file PATH), breadth first: VIA names the library
 * that needed them below the program ("" for the program itself). */
static bool walk_needed(struct walk *w, const struct elf_facts *f, const char *path,
                        const char *via, int depth)
{
    for (size_t i = 0; i < f->n_needed; i++) {
        const char *kind = library_kind(f->needed[i]);
        if (!kind)
            continue;
        snprintf(w->out->kind, sizeof(w->out->kind), "%s", kind);
        snprintf(w->out->evidence, sizeof(w->out->evidence), "needs %s%s%s", f->needed[i],
                 *via ? " through " : "", via);
        return true;
    }
    if (depth >= MAX_DEPTH)
        return false;
    char *origin = xstrdup(path), *slash = strrchr(origin, '/');
    if (slash)
        *slash = '\0';
    bool found = false;
    for (size_t i = 0; !found && i < f->n_needed; i++) {
        char lib[PATH_MAX];
        struct elf_facts sub;
        if (seen_before(w, f->needed[i]) ||
            find_library(f->needed[i], f->runpath, slash ? origin : ".", lib, sizeof(lib)) ||
            read_elf(lib, false, &sub))
            continue;
        found = walk_needed(w, &sub, lib, *via ? via : f->needed[i], depth + 1);
        facts_free(&sub);
    }
    free(origin);
    return found;
}

int linked_allocator_detect(const char *program, struct linked_allocator *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->program, sizeof(out->program), "%s", program);
    struct elf_facts f;
    if (read_elf(program, true, &f))
        return 0;
    int found = 0;
    if (f.symbol_kind) {
        snprintf(out->kind, sizeof(out->kind), "%s", f.symbol_kind);
        snprintf(out->evidence, sizeof(out->evidence), "defines %s", f.symbol_name);
        out->in_executable = true;
        found = 1;
    } else {
        struct walk w = {.out = out};
        found = walk_needed(&w, &f, program, "", 1) ? 1 : 0;
    }
    facts_free(&f);
    return found;
}

/* ---- what can run ---- */

static const char *config_kind(const struct allocator_config *cfg)
{
    return cfg->allocator && cfg->allocator->kind ? cfg->allocator->kind : "";
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool linked_allocator_allows(const struct linked_allocator *linked,
                             const struct allocator_config *cfg, char *reason, size_t len)
{
    const char *kind = config_kind(cfg), *prog = base_name(linked->program);
    if (!linked->kind[0] || !*kind || !strcmp(kind, linked->kind))
        return true;
    if (linked->in_executable) {
        snprintf(reason, len,
                 "%s has its own copy of %s linked in (it %s): a preloaded %s cannot take over "
                 "its allocations; only %s configurations apply",
                 prog, linked->kind, linked->evidence, kind, linked->kind);
        return false;
    }
    if (!strcmp(kind, "glibc")) {
        snprintf(reason, len,
                 "%s links its own allocator %s (it %s): glibc's malloc cannot be put under it; "
                 "%s configurations and allocators preloaded over it apply",
                 prog, linked->kind, linked->evidence, linked->kind);
        return false;
    }
    return true;
}

bool linked_allocator_preload(const struct linked_allocator *linked,
                              const struct allocator_config *cfg)
{
    return !linked->kind[0] || strcmp(config_kind(cfg), linked->kind) != 0;
}

/* The value of the last "KEY=..." line of shim.txt, or "". */
static void shim_fact(const char *text, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (n > klen && line[klen] == '=' && !strncmp(line, key, klen))
            snprintf(out, len, "%.*s", (int)(n - klen - 1), line + klen + 1);
        line = end ? end + 1 : NULL;
    }
}

bool linked_allocator_took_over(const struct allocator_config *cfg, const char *shim_txt,
                                char *reason, size_t len)
{
    char served[64], path[PATH_MAX];
    const char *kind = config_kind(cfg);
    shim_fact(shim_txt ? shim_txt : "", "allocator", served, sizeof(served));
    shim_fact(shim_txt ? shim_txt : "", "allocator_path", path, sizeof(path));
    if (!*kind || !*served || !strcmp(served, kind) || !strcmp(served, "glibc"))
        return false;
    snprintf(reason, len,
             "the program brought its own allocator: it ran under %s (%s) instead of %s%s; only %s "
             "configurations apply",
             served, *path ? path : "linked in", kind,
             !strcmp(kind, "glibc") ? " (glibc's malloc cannot be put under it)"
                                    : " (the preloaded library did not take over)",
             served);
    return true;
}
