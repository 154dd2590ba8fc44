/* The allocator registry's files (registry.ini, --allocators FILE). */
#include "allocators/registry.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct registry *reg = registry_new();
    char err[512];
    const char *text = fuzz_text(data, size);
    if (registry_merge_text(reg, "input.ini", text, err, sizeof(err)) == 0 &&
        registry_finish(reg, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < reg->n_configs; i++)
            registry_resolve(reg, reg->configs[i]->full_name, err, sizeof(err));
    }
    registry_free(reg);
    return 0;
}
