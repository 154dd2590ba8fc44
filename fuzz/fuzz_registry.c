/* The allocator registry's files (registry.ini, --allocators FILE), read from a file as
 * allocscope reads them, so NUL bytes and overlong files reach the reader too. */
#include "allocators/registry.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(fuzz_dir(), "input.ini", data, size);
    struct registry *reg = registry_load_files(&path, 1);
    if (!reg)
        return 0;
    char err[512];
    for (size_t i = 0; i < reg->n_configs; i++)
        registry_resolve(reg, reg->configs[i]->full_name, err, sizeof(err));
    registry_free(reg);
    return 0;
}
