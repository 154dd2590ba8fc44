/* What kind of program a command is, read from its ELF file before it runs: whether it can
 * load the shim at all (a static program cannot) and whether it is a Go program (whose heap
 * the Go runtime maps itself: only its cgo code calls malloc). Used by `allocscope run`. */
#ifndef ALLOCSCOPE_TARGET_ELF_H
#define ALLOCSCOPE_TARGET_ELF_H

#include <stdbool.h>
#include <stddef.h>

struct target_elf {
    char path[4096]; /* the file the command names (PATH searched as execvp does) */
    bool elf;        /* a 64-bit ELF file of this machine's byte order */
    bool is_static;  /* no program interpreter: LD_PRELOAD never applies */
    bool go;         /* a .go.buildinfo section or a Go build-id note */
};

/* Fills *out for CMD (argv[0]). Reads only the ELF headers, the notes and the section
 * names. Returns 0, or -1 when the file cannot be found or read or is no ELF file of this
 * machine (out->elf false: a script, or a missing command, which exec reports itself). */
int target_elf_inspect(const char *cmd, struct target_elf *out);

#endif
