#include "elf_syms.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>

/* A symbol's virtual address becomes a file offset through the loadable segment that
 * holds it. */
static long vaddr_to_offset(Elf *elf, GElf_Addr vaddr)
{
    size_t count;
    if (elf_getphdrnum(elf, &count) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        GElf_Phdr phdr;
        if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type != PT_LOAD)
            continue;
        if (vaddr >= phdr.p_vaddr && vaddr < phdr.p_vaddr + phdr.p_memsz)
            return (long)(vaddr - phdr.p_vaddr + phdr.p_offset);
    }
    return -1;
}

static long find_in_section(Elf *elf, Elf_Scn *scn, const char *name)
{
    GElf_Shdr shdr;
    if (!gelf_getshdr(scn, &shdr) || !shdr.sh_entsize)
        return -1;
    Elf_Data *data = elf_getdata(scn, NULL);
    if (!data)
        return -1;
    size_t count = shdr.sh_size / shdr.sh_entsize;
    for (size_t i = 0; i < count; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(data, (int)i, &sym))
            continue;
        if (GELF_ST_TYPE(sym.st_info) != STT_FUNC)
            continue;
        if (sym.st_shndx == SHN_UNDEF || !sym.st_value)
            continue;
        const char *sym_name = elf_strptr(elf, shdr.sh_link, sym.st_name);
        if (sym_name && !strcmp(sym_name, name))
            return vaddr_to_offset(elf, sym.st_value);
    }
    return -1;
}

long elf_function_offset(const char *path, const char *name)
{
    if (elf_version(EV_CURRENT) == EV_NONE)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
    long offset = -1;
    for (int pass = 0; elf && pass < 2 && offset < 0; pass++) {
        Elf_Scn *scn = NULL;
        while ((scn = elf_nextscn(elf, scn)) && offset < 0) {
            GElf_Shdr shdr;
            if (!gelf_getshdr(scn, &shdr))
                continue;
            if (shdr.sh_type == (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM))
                offset = find_in_section(elf, scn, name);
        }
    }
    if (elf)
        elf_end(elf);
    close(fd);
    return offset;
}

bool elf_defines_function(const char *path, const char *name)
{
    return elf_function_offset(path, name) >= 0;
}
