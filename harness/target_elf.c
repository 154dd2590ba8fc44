#include "harness/target_elf.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* The Go linker's note: owner "Go", type 4 (NT_GO_BUILDID in cmd/link). */
#define GO_NOTE_BUILDID 4
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif
#define MAX_TABLE (1u << 20) /* headers and names read at most: 1 MiB each */

/* CMD as execvp finds it: itself when it has a slash, else the first executable regular
 * file of that name along PATH. */
static int resolve(const char *cmd, char *path, size_t len)
{
    struct stat st;
    if (strchr(cmd, '/')) {
        snprintf(path, len, "%s", cmd);
        return 0;
    }
    const char *dirs = getenv("PATH");
    if (!dirs || !*dirs)
        dirs = "/usr/local/bin:/usr/bin:/bin";
    for (const char *d = dirs; *d;) {
        const char *end = strchr(d, ':');
        size_t n = end ? (size_t)(end - d) : strlen(d);
        snprintf(path, len, "%.*s%s%s", (int)n, n ? d : ".", "/", cmd);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
            return 0;
        d += n + (end ? 1 : 0);
    }
    return -1;
}

/* LEN bytes at OFFSET, or NULL when they cannot all be read or LEN is out of bounds. */
static void *read_at(int fd, uint64_t offset, uint64_t len)
{
    if (len == 0 || len > MAX_TABLE)
        return NULL;
    char *buf = xmalloc(len);
    if (pread(fd, buf, len, (off_t)offset) != (ssize_t)len) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

static bool note_is_go(const unsigned char *notes, uint64_t len)
{
    for (uint64_t at = 0; at + sizeof(Elf64_Nhdr) <= len;) {
        const Elf64_Nhdr *n = (const Elf64_Nhdr *)(notes + at);
        uint64_t name = at + sizeof(*n);
        uint64_t desc = name + ((n->n_namesz + 3u) & ~3u);
        if (n->n_namesz == 3 && name + 3 <= len && !memcmp(notes + name, "Go", 3) &&
            n->n_type == GO_NOTE_BUILDID)
            return true;
        at = desc + ((n->n_descsz + 3u) & ~3u);
    }
    return false;
}

static void read_segments(int fd, const Elf64_Ehdr *eh, struct target_elf *out)
{
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return;
    Elf64_Phdr *ph = read_at(fd, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr));
    out->is_static = ph != NULL;
    for (unsigned i = 0; ph && i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_INTERP)
            out->is_static = false;
        if (ph[i].p_type == PT_NOTE && !out->go) {
            unsigned char *notes = read_at(fd, ph[i].p_offset, ph[i].p_filesz);
            out->go = notes && note_is_go(notes, ph[i].p_filesz);
            free(notes);
        }
    }
    free(ph);
}

static void read_sections(int fd, const Elf64_Ehdr *eh, struct target_elf *out)
{
    if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shstrndx >= eh->e_shnum)
        return;
    Elf64_Shdr *sh = read_at(fd, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr));
    const Elf64_Shdr *names = sh ? &sh[eh->e_shstrndx] : NULL;
    char *strtab = names ? read_at(fd, names->sh_offset, names->sh_size) : NULL;
    for (unsigned i = 0; strtab && i < eh->e_shnum && !out->go; i++) {
        uint32_t at = sh[i].sh_name;
        if (at < names->sh_size && strnlen(strtab + at, names->sh_size - at) < names->sh_size - at)
            out->go = !strcmp(strtab + at, ".go.buildinfo");
    }
    free(strtab);
    free(sh);
}

int target_elf_inspect(const char *cmd, struct target_elf *out)
{
    memset(out, 0, sizeof(*out));
    if (resolve(cmd, out->path, sizeof(out->path)))
        return -1;
    int fd = open(out->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
        eh.e_ident[EI_DATA] != HOST_DATA) {
        close(fd);
        return -1;
    }
    out->elf = true;
    read_segments(fd, &eh, out);
    read_sections(fd, &eh, out);
    close(fd);
    return 0;
}
