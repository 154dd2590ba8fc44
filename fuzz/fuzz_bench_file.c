/* Bench files (and the scenario.ini files they name, from the source tree). */
#include "fuzz/fuzz.h"
#include "harness/bench_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bench_spec spec;
    char err[512];
    if (bench_spec_init(&spec, "quick", err, sizeof(err)))
        return 0;
    bench_spec_parse(&spec, "input.ini", fuzz_text(data, size), FUZZ_SCENARIOS, err,
                     sizeof(err));
    bench_spec_free(&spec);
    return 0;
}
