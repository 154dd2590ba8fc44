/* Function symbols of an ELF file, for attaching uprobes by file offset. */
#ifndef ALLOCSCOPE_ELF_SYMS_H
#define ALLOCSCOPE_ELF_SYMS_H

#include <stdbool.h>

/* File offset of the defined function NAME in PATH (.symtab, then .dynsym), or -1. */
long elf_function_offset(const char *path, const char *name);

/* True when PATH defines a function NAME (not an undefined import). */
bool elf_defines_function(const char *path, const char *name);

#endif
