/* Synthetic recordings for the unit tests of the stack views (flame graphs, exports, diff):
 * a struct site_profile filled by hand, stacks given as their functions. */
#ifndef ALLOCSCOPE_TEST_FAKE_PROFILE_H
#define ALLOCSCOPE_TEST_FAKE_PROFILE_H

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "reports/site_profile.h"

static void fake_profile_init(struct site_profile *p)
{
    memset(p, 0, sizeof(*p));
    p->sym = symbolizer_new(NULL); /* every address unknown: pprof's locations say "??" */
    p->exited = true;
}

/* A stack whose functions are FUNCTIONS, innermost first, separated by '|' (not ';', which a
 * test may put in a name); a name ending in '+' is inlined into the next. Returns it for the
 * caller to set its values (valid until the next call). */
static struct profile_stack *fake_stack(struct site_profile *p, const char *functions)
{
    static const uint64_t pcs[] = {0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000, 0x8000};
    if ((p->n & (p->n - 1)) == 0) /* grown at each power of two: the pointers move then */
        p->stacks = xreallocarray(p->stacks, p->n ? 2 * p->n : 1, sizeof(*p->stacks));
    struct profile_stack *st = &p->stacks[p->n];
    memset(st, 0, sizeof(*st));
    st->site_id = (uint32_t)p->n++;
    char *copy = xstrdup(functions), *save = NULL;
    for (char *name = strtok_r(copy, "|", &save); name; name = strtok_r(NULL, "|", &save)) {
        st->frames = xreallocarray(st->frames, st->nframes + 1, sizeof(*st->frames));
        size_t len = strlen(name);
        bool inlined = len > 1 && name[len - 1] == '+';
        char *fn = xstrndup(name, inlined ? len - 1 : len);
        st->frames[st->nframes] = (struct frame_info){.function = fn,
                                                      .mangled = fn,
                                                      .file = "/src/prog.c",
                                                      .line = (int)st->nframes + 10,
                                                      .object = "/usr/bin/prog",
                                                      .inlined = inlined,
                                                      .address = pcs[st->nframes % 8]};
        st->nframes++;
    }
    free(copy);
    st->pcs = pcs;
    st->depth = st->nframes < 8 ? st->nframes : 8;
    return st;
}

static void fake_profile_free(struct site_profile *p)
{
    for (size_t i = 0; i < p->n; i++)
        for (unsigned f = 0; f < p->stacks[i].nframes; f++)
            free((char *)p->stacks[i].frames[f].function);
    site_profile_free(p);
}

#endif
