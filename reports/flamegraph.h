/* Flame graphs of a recording's allocation stacks (reports/site_profile.h) as SVG, drawn by
 * allocscope itself: one box per frame, as wide as the bytes its stacks hold, callers below
 * their callees; hover shows the exact bytes, a click zooms into a frame, a search
 * highlights the frames whose function matches. The small script that does it is part of
 * the SVG (a file of its own) or of the report's page (inline SVG); nothing is fetched.
 *
 * Size is bounded: frames narrower than a share of the whole are merged per parent into one
 * "N smaller stacks" box and lose their children, so a recording of many thousand sites
 * still draws a few thousand boxes. */
#ifndef ALLOCSCOPE_FLAMEGRAPH_H
#define ALLOCSCOPE_FLAMEGRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "reports/site_profile.h"

enum flame_kind {
    FLAME_PEAK,   /* live bytes at the peak */
    FLAME_EXIT,   /* unfreed at exit (live at the end without a clean exit); with reachability,
                     one tower per memcheck class */
    FLAME_GROWTH, /* bytes added per second (sites that grew) */
    FLAME_KINDS
};

const char *flame_kind_name(enum flame_kind k); /* "peak", "exit", "growth" */
/* "live bytes at the peak", ...; EXITED says whether the program ended through exit. */
const char *flame_kind_title(enum flame_kind k, bool exited);
/* Whether P has anything to draw for K. */
bool flame_has_data(const struct site_profile *p, enum flame_kind k);

/* One box. Children are sorted largest first. */
struct flame_node {
    char *name;       /* function; "all", a memcheck class, or "N smaller stacks" */
    const char *file; /* of the first frame merged here; "" for the others */
    int line;
    bool several_lines; /* frames of this function at other lines were merged here too */
    const char *object;
    bool inlined;
    int reach_class; /* a memcheck class box: its enum reach_class; else -1 */
    bool merged;     /* stands for several small frames */
    double value;    /* bytes (growth: bytes per second) */
    double blocks;   /* -1 when unknown (growth) */
    struct flame_node *children;
    size_t nchildren, cap;
};

struct flame_tree {
    struct flame_node root; /* "all" */
    size_t nodes;           /* boxes, root included */
    size_t depth;           /* levels above the root */
};

/* Builds the tree of P's stacks for K: root "all", then (exit with reachability) the classes,
 * then the frames outermost first. */
void flame_tree_build(struct flame_tree *t, const struct site_profile *p, enum flame_kind k);
/* Merges the children narrower than MIN_SHARE of the root, per parent, into one box without
 * children; a box narrower than that keeps no children either. Updates nodes and depth. */
void flame_tree_prune(struct flame_tree *t, double min_share);
void flame_tree_free(struct flame_tree *t);

struct flame_svg_options {
    const char *id;    /* the <svg> element's id: letters, digits, '-' and '_' */
    const char *title; /* plain text, escaped here */
    bool standalone;   /* a file of its own: XML prolog, its own script and search button */
};

/* Writes P's flame graph of K as SVG to OUT. Returns the number of boxes drawn. */
size_t flame_write_svg(FILE *out, const struct site_profile *p, enum flame_kind k,
                       const struct flame_svg_options *o);

/* The script that makes every flame graph interactive: defines allocscopeFlame(svg), which
 * wires hover, click-to-zoom and search into one <svg class="flamegraph"> and returns
 * {zoom(index), reset(), search(text)}. A page includes it once; a standalone SVG carries it.
 * Links may open a graph zoomed or searched: #ID.zoom=INDEX&ID.search=TEXT. */
extern const char flame_script[];

#endif
