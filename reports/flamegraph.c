#include "reports/flamegraph.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/format.h"
#include "common/util.h"

#define SVG_WIDTH 1200
#define SVG_PAD 10
#define FRAME_HEIGHT 16
#define HEADER_HEIGHT 60
#define FOOTER_HEIGHT 26
#define CHAR_WIDTH 6.6  /* 11 px Verdana, on average */
#define MIN_SHARE 0.002 /* 2.4 px of 1200: narrower frames are merged */
#define MAX_BOXES 6000  /* beyond that, merge more */

static const char *const kind_names[FLAME_KINDS] = {"peak", "exit", "growth"};
static const char *const class_titles[REACH_CLASSES] = {"definitely lost", "indirectly lost",
                                                        "possibly lost", "still reachable"};

const char *flame_kind_name(enum flame_kind k)
{
    return k < FLAME_KINDS ? kind_names[k] : "?";
}

const char *flame_kind_title(enum flame_kind k, bool exited)
{
    switch (k) {
    case FLAME_PEAK:
        return "live bytes at the peak";
    case FLAME_EXIT:
        return exited ? "bytes unfreed at exit" : "bytes live at the end (no clean exit)";
    default:
        return "growth (bytes added per second)";
    }
}

/* A stack's value for K and, for exit with reachability, for memcheck class CLS. */
static double stack_value(const struct profile_stack *s, enum flame_kind k, int cls)
{
    if (cls >= 0)
        return (double)s->reach.bytes[cls];
    return k == FLAME_PEAK   ? (double)s->peak_bytes
           : k == FLAME_EXIT ? (double)s->exit_bytes
                             : fmax(s->growth_bytes_per_s, 0.0);
}

static double stack_blocks(const struct profile_stack *s, enum flame_kind k, int cls)
{
    if (cls >= 0)
        return (double)s->reach.blocks[cls];
    return k == FLAME_PEAK ? (double)s->peak_blocks : k == FLAME_EXIT ? (double)s->exit_blocks : -1;
}

bool flame_has_data(const struct site_profile *p, enum flame_kind k)
{
    for (size_t i = 0; i < p->n; i++)
        if (stack_value(&p->stacks[i], k, -1) > 0)
            return true;
    return false;
}

/* ---- the tree ---------------------------------------------------------------------- */

static struct flame_node *add_child(struct flame_node *parent, const char *name)
{
    if (parent->nchildren == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->children = xreallocarray(parent->children, parent->cap, sizeof(struct flame_node));
    }
    struct flame_node *c = &parent->children[parent->nchildren++];
    memset(c, 0, sizeof(*c));
    c->name = xstrdup(name);
    c->file = c->object = "";
    c->reach_class = -1;
    return c;
}

static bool same_frame(const struct frame_info *a, const struct frame_info *b)
{
    return a->inlined == b->inlined && !strcmp(a->function, b->function) &&
           !strcmp(a->object, b->object);
}

/* Frames of one function (and object, inlined or not) merge into one box under a parent.
 * The stacks come sorted outermost frame first (by_frames), so a frame already under this
 * parent is its last child: no search, whatever the number of children. */
static struct flame_node *child_for_frame(struct flame_node *parent, const struct frame_info *f)
{
    struct flame_node *last = parent->nchildren ? &parent->children[parent->nchildren - 1] : NULL;
    if (last && last->reach_class < 0 && !last->merged && last->inlined == f->inlined &&
        !strcmp(last->name, f->function) && !strcmp(last->object, f->object)) {
        if (last->line != f->line || strcmp(last->file, f->file))
            last->several_lines = true;
        return last;
    }
    struct flame_node *c = add_child(parent, f->function);
    c->file = f->file;
    c->line = f->line;
    c->object = f->object;
    c->inlined = f->inlined;
    return c;
}

static const struct site_profile *sorting_profile;

/* Stacks by their frames, outermost first: stacks sharing callers are neighbours. */
static int by_frames(const void *a, const void *b)
{
    const struct profile_stack *x = &sorting_profile->stacks[*(const size_t *)a];
    const struct profile_stack *y = &sorting_profile->stacks[*(const size_t *)b];
    for (unsigned i = 1; i <= x->nframes && i <= y->nframes; i++) {
        const struct frame_info *fx = &x->frames[x->nframes - i], *fy = &y->frames[y->nframes - i];
        if (same_frame(fx, fy))
            continue;
        int c = strcmp(fx->function, fy->function);
        if (!c)
            c = strcmp(fx->object, fy->object);
        return c ? c : fx->inlined - fy->inlined;
    }
    return (x->nframes > y->nframes) - (x->nframes < y->nframes);
}

static struct flame_node *child_for_class(struct flame_node *parent, int cls)
{
    for (size_t i = 0; i < parent->nchildren; i++)
        if (parent->children[i].reach_class == cls)
            return &parent->children[i];
    struct flame_node *c = add_child(parent, class_titles[cls]);
    c->reach_class = cls;
    return c;
}

/* BLOCKS < 0: not known for this kind (growth), and then for no box. */
static void add_value(struct flame_node *n, double value, double blocks)
{
    n->value += value;
    n->blocks = blocks < 0 || n->blocks < 0 ? -1 : n->blocks + blocks;
}

static void add_stack(struct flame_tree *t, const struct profile_stack *s, enum flame_kind k,
                      int cls)
{
    double v = stack_value(s, k, cls), blocks = stack_blocks(s, k, cls);
    if (!(v > 0))
        return;
    struct flame_node *node = &t->root;
    add_value(node, v, blocks);
    if (cls >= 0) {
        node = child_for_class(node, cls);
        add_value(node, v, blocks);
    }
    for (unsigned i = s->nframes; i-- > 0;) { /* outermost first */
        node = child_for_frame(node, &s->frames[i]);
        add_value(node, v, blocks);
    }
}

static int by_value(const void *a, const void *b)
{
    const struct flame_node *x = a, *y = b;
    if (x->merged != y->merged) /* the merged box last, at the right */
        return x->merged ? 1 : -1;
    if (x->value != y->value)
        return x->value > y->value ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void sort_and_count(struct flame_tree *t, struct flame_node *n, size_t depth)
{
    t->nodes++;
    if (depth > t->depth)
        t->depth = depth;
    if (n->nchildren)
        util_sort(n->children, n->nchildren, sizeof(*n->children), by_value);
    for (size_t i = 0; i < n->nchildren; i++)
        sort_and_count(t, &n->children[i], depth + 1);
}

void flame_tree_build(struct flame_tree *t, const struct site_profile *p, enum flame_kind k)
{
    memset(t, 0, sizeof(*t));
    t->root.name = xstrdup("all");
    t->root.file = t->root.object = "";
    t->root.reach_class = -1;
    bool by_class = k == FLAME_EXIT && p->has_reach;
    size_t *order = xcalloc(p->n ? p->n : 1, sizeof(size_t));
    for (size_t i = 0; i < p->n; i++)
        order[i] = i;
    sorting_profile = p;
    if (p->n)
        util_sort(order, p->n, sizeof(size_t), by_frames);
    /* Class by class, so that each class's stacks arrive in order under its box. */
    for (int c = by_class ? 0 : -1; c < (by_class ? REACH_CLASSES : 0); c++)
        for (size_t i = 0; i < p->n; i++)
            add_stack(t, &p->stacks[order[i]], k, c);
    free(order);
    sort_and_count(t, &t->root, 0);
}

static void node_free(struct flame_node *n)
{
    for (size_t i = 0; i < n->nchildren; i++)
        node_free(&n->children[i]);
    free(n->children);
    free(n->name);
    n->children = NULL;
    n->nchildren = n->cap = 0;
}

static void prune_node(struct flame_node *n, double min_value)
{
    if (n->value < min_value) { /* too narrow to show what is above it */
        for (size_t i = 0; i < n->nchildren; i++)
            node_free(&n->children[i]);
        free(n->children);
        n->children = NULL;
        n->nchildren = n->cap = 0;
        return;
    }
    size_t small = 0;
    for (size_t i = 0; i < n->nchildren; i++)
        small += n->children[i].value < min_value && !n->children[i].merged;
    if (small >= 2) {
        double value = 0, blocks = 0;
        size_t kept = 0, stacks = 0;
        for (size_t i = 0; i < n->nchildren; i++) {
            struct flame_node *c = &n->children[i];
            if (c->value < min_value && !c->merged) {
                value += c->value, blocks += c->blocks, stacks++;
                node_free(c);
            } else {
                n->children[kept++] = *c;
            }
        }
        n->nchildren = kept;
        char name[64];
        snprintf(name, sizeof(name), "%zu smaller frames", stacks);
        struct flame_node *m = add_child(n, name);
        m->merged = true;
        m->value = value;
        m->blocks = n->blocks < 0 ? -1 : blocks;
    }
    for (size_t i = 0; i < n->nchildren; i++)
        prune_node(&n->children[i], min_value);
}

void flame_tree_prune(struct flame_tree *t, double min_share)
{
    prune_node(&t->root, t->root.value * min_share);
    t->nodes = 0;
    t->depth = 0;
    sort_and_count(t, &t->root, 0);
}

void flame_tree_free(struct flame_tree *t)
{
    node_free(&t->root);
    memset(t, 0, sizeof(*t));
}

/* ---- drawing -------------------------------------------------------------------------- */

struct drawing {
    FILE *out;
    enum flame_kind kind;
    double total;
    unsigned height;
    size_t boxes;
};

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Warm colours by function (stable from one graph to the next), aqua for inlined frames,
 * greys for unknown and merged ones, one colour per memcheck class. */
static void box_colour(const struct flame_node *n, char *buf, size_t len)
{
    static const char *const class_colours[REACH_CLASSES] = {"#d62728", "#ff7f0e", "#bcbd22",
                                                             "#2ca02c"};
    uint32_t h = hash_name(n->name);
    if (n->reach_class >= 0)
        snprintf(buf, len, "%s", class_colours[n->reach_class]);
    else if (n->merged)
        snprintf(buf, len, "#d9d9d9");
    else if (!strcmp(n->name, "??") || !strcmp(n->name, "all"))
        snprintf(buf, len, "#c8c8c8");
    else if (n->inlined)
        snprintf(buf, len, "hsl(%u,55%%,%u%%)", 175 + h % 30, 60 + (h >> 8) % 15);
    else
        snprintf(buf, len, "hsl(%u,%u%%,%u%%)", h % 55, 70 + (h >> 8) % 20, 55 + (h >> 16) % 12);
}

/* The box's text: the function, cut to what fits in WIDTH px ("" when nothing does). */
static void box_label(const char *name, double width, char *buf, size_t len)
{
    long fits = (long)((width - 6) / CHAR_WIDTH);
    buf[0] = '\0';
    if (fits < 3)
        return;
    size_t used = 0, chars = 0, total = 0;
    for (const char *p = name; *p; p += escape_utf8_length(p) ? escape_utf8_length(p) : 1)
        total++;
    bool cut = (long)total > fits;
    for (const char *p = name; *p && chars < (size_t)(cut ? fits - 2 : fits);) {
        size_t n = escape_utf8_length(p) ? escape_utf8_length(p) : 1;
        if (used + n + 3 >= len)
            break;
        memcpy(buf + used, p, n);
        used += n, p += n, chars++;
    }
    if (cut)
        memcpy(buf + used, "..", 2), used += 2;
    buf[used] = '\0';
}

static void write_title(struct drawing *d, const struct flame_node *n)
{
    FILE *f = d->out;
    char human[32], text[512];
    fputs("<title>", f);
    escape_xml(f, n->name);
    if (n->inlined)
        fputs(" [inlined]", f);
    if (*n->file && strcmp(n->file, "??")) {
        fputs("\n", f);
        escape_xml(f, n->file);
        fprintf(f, ":%d%s", n->line, n->several_lines ? " (and other lines)" : "");
    }
    if (*n->object && strcmp(n->object, "??")) {
        fputs("\n", f);
        escape_xml(f, n->object);
    }
    bool growth = d->kind == FLAME_GROWTH;
    format_bytes(human, sizeof(human), n->value);
    snprintf(text, sizeof(text), "\n%lld %s (%s%s), %.2f%% of all", (long long)llround(n->value),
             growth ? "bytes/s" : "bytes", human, growth ? "/s" : "",
             d->total > 0 ? 100.0 * n->value / d->total : 0.0);
    fputs(text, f);
    if (n->blocks >= 0)
        fprintf(f, "\n%lld blocks", (long long)llround(n->blocks));
    fputs("</title>", f);
}

static void draw_box(struct drawing *d, const struct flame_node *n, double x, size_t depth)
{
    double span = SVG_WIDTH - 2 * SVG_PAD;
    double w = d->total > 0 ? n->value / d->total : 0;
    double px = SVG_PAD + x * span, pw = w * span;
    double y = d->height - FOOTER_HEIGHT - (double)(depth + 1) * FRAME_HEIGHT;
    char colour[40], label[512];
    fprintf(d->out,
            "<g class=\"fg-f\" data-x=\"%.7f\" data-w=\"%.7f\" data-d=\"%zu\" data-v=\"%lld\"", x,
            w, depth, (long long)llround(n->value));
    fputs(" data-n=\"", d->out);
    escape_xml(d->out, n->name);
    fputs("\">", d->out);
    write_title(d, n);
    box_colour(n, colour, sizeof(colour));
    fprintf(d->out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\"/>", px, y,
            pw > 0.5 ? pw - 0.5 : pw, FRAME_HEIGHT - 1, colour);
    box_label(n->name, pw, label, sizeof(label));
    fprintf(d->out, "<text x=\"%.1f\" y=\"%.1f\">", px + 3, y + FRAME_HEIGHT - 4.5);
    escape_xml(d->out, label);
    fputs("</text></g>\n", d->out);
    d->boxes++;
    double child_x = x;
    for (size_t i = 0; i < n->nchildren; i++) {
        draw_box(d, &n->children[i], child_x, depth + 1);
        child_x += d->total > 0 ? n->children[i].value / d->total : 0;
    }
}

static const char svg_style[] =
    "<style>"
    ".fg-f text{font:11px Verdana,'DejaVu Sans',sans-serif;fill:#000;pointer-events:none}"
    ".fg-f{cursor:pointer}.fg-f:hover rect{stroke:#000;stroke-width:.6}"
    ".fg-f.fg-parent rect{opacity:.55}.fg-hidden{display:none}"
    ".fg-head{font:600 15px Verdana,'DejaVu Sans',sans-serif;fill:#1d1d1f}"
    ".fg-sub,.fg-details,.fg-matched{font:12px Verdana,'DejaVu Sans',sans-serif;fill:#444}"
    ".fg-btn{font:12px Verdana,'DejaVu Sans',sans-serif;fill:#0063a0;cursor:pointer}"
    "</style>\n";

static void write_subtitle(FILE *f, const struct site_profile *p, enum flame_kind k)
{
    char buf[64];
    if (p->sampled)
        fprintf(f,
                "sampled recording (one sample per %s of allocations on average): the widths "
                "are estimates",
                format_bytes(buf, sizeof(buf), (double)p->sample_bytes));
    else
        fputs("exact recording: every allocation counted (requested bytes)", f);
    if (k == FLAME_PEAK)
        fprintf(f, "; peak at %.1f s", (double)p->peak_t_ms / 1000.0);
    else if (k == FLAME_GROWTH)
        fputs(p->growth_over_load ? "; slope over the load phase"
                                  : "; slope from each site's first snapshot to its peak",
              f);
}

size_t flame_write_svg(FILE *out, const struct site_profile *p, enum flame_kind k,
                       const struct flame_svg_options *o)
{
    struct flame_tree t;
    double share = MIN_SHARE;
    flame_tree_build(&t, p, k);
    flame_tree_prune(&t, share);
    while (t.nodes > MAX_BOXES && share < 0.1) { /* a very wide graph: merge harder */
        flame_tree_free(&t);
        share *= 2;
        flame_tree_build(&t, p, k);
        flame_tree_prune(&t, share);
    }
    struct drawing d = {.out = out, .kind = k, .total = t.root.value};
    d.height = HEADER_HEIGHT + (unsigned)(t.depth + 1) * FRAME_HEIGHT + FOOTER_HEIGHT;
    if (o->standalone)
        fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"flamegraph\" id=\"%s\" "
        "width=\"%d\" height=\"%u\" viewBox=\"0 0 %d %u\" data-width=\"%d\" data-kind=\"%s\">\n",
        o->id, SVG_WIDTH, d.height, SVG_WIDTH, d.height, SVG_WIDTH, flame_kind_name(k));
    fputs(svg_style, out);
    fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"#fbfbfc\"/>\n");
    fprintf(out, "<text class=\"fg-head\" x=\"%d\" y=\"22\" text-anchor=\"middle\">",
            SVG_WIDTH / 2);
    escape_xml(out, o->title);
    fprintf(out, "</text>\n<text class=\"fg-sub\" x=\"%d\" y=\"42\" text-anchor=\"middle\">",
            SVG_WIDTH / 2);
    write_subtitle(out, p, k);
    fputs("</text>\n", out);
    fprintf(out, "<text class=\"fg-btn fg-unzoom fg-hidden\" x=\"%d\" y=\"22\">Reset zoom</text>\n",
            SVG_PAD);
    if (o->standalone)
        fprintf(out,
                "<text class=\"fg-btn fg-searchbtn\" x=\"%d\" y=\"22\" "
                "text-anchor=\"end\">Search</text>\n",
                SVG_WIDTH - SVG_PAD);
    fprintf(out, "<text class=\"fg-matched\" x=\"%d\" y=\"%u\" text-anchor=\"end\"></text>\n",
            SVG_WIDTH - SVG_PAD, d.height - 8);
    fprintf(out, "<text class=\"fg-details\" x=\"%d\" y=\"%u\"> </text>\n", SVG_PAD, d.height - 8);
    fputs("<g class=\"fg-frames\">\n", out);
    if (d.total > 0)
        draw_box(&d, &t.root, 0.0, 0);
    fputs("</g>\n", out);
    if (o->standalone)
        fprintf(out,
                "<script type=\"text/ecmascript\"><![CDATA[\n%s\nallocscopeFlame("
                "document.getElementById('%s'));\n]]></script>\n",
                flame_script, o->id);
    fputs("</svg>\n", out);
    flame_tree_free(&t);
    return d.boxes;
}

/* The interaction, plain DOM calls that work in an SVG document and in HTML alike. */
const char flame_script[] =
    "function allocscopeFlame(svg){\n"
    "if(!svg||svg.allocscopeFlame)return svg&&svg.allocscopeFlame;\n"
    "var W=+svg.getAttribute('data-width'),P=10,CW=6.6,span=W-2*P;\n"
    "var frames=Array.prototype.slice.call(svg.querySelectorAll('g.fg-f'));\n"
    "var unzoomBtn=svg.querySelector('.fg-unzoom'),matched=svg.querySelector('.fg-matched'),"
    "details=svg.querySelector('.fg-details');\n"
    "function num(g,a){return +g.getAttribute('data-'+a);}\n"
    "function fit(g,pw){var t=g.querySelector('text'),name=g.getAttribute('data-n')||'',"
    "n=Math.floor((pw-6)/CW),chars=Array.from(name);"
    "t.textContent=n<3?'':chars.length<=n?name:chars.slice(0,n-2).join('')+'..';}\n"
    "function place(g,x,w){var r=g.querySelector('rect'),px=P+x*span,pw=w*span;"
    "r.setAttribute('x',px.toFixed(1));r.setAttribute('width',(pw>0.5?pw-0.5:pw).toFixed(2));"
    "g.querySelector('text').setAttribute('x',(px+3).toFixed(1));fit(g,pw);"
    "g.classList.remove('fg-hidden');}\n"
    "function hide(g){g.classList.add('fg-hidden');}\n"
    "function zoom(target){var x0=num(target,'x'),w0=num(target,'w'),d0=num(target,'d'),e=1e-9;"
    "if(!(w0>0))return;\n"
    "frames.forEach(function(g){var x=num(g,'x'),w=num(g,'w'),d=num(g,'d');"
    "if(d<d0){if(x<=x0+e&&x+w>=x0+w0-e){place(g,0,1);g.classList.add('fg-parent');}else hide(g);}"
    "else if(x>=x0-e&&x+w<=x0+w0+e){g.classList.remove('fg-parent');place(g,(x-x0)/w0,w/w0);}"
    "else hide(g);});\n"
    "unzoomBtn.classList.toggle('fg-hidden',d0===0);}\n"
    "function reset(){frames.forEach(function(g){g.classList.remove('fg-parent');"
    "place(g,num(g,'x'),num(g,'w'));});unzoomBtn.classList.add('fg-hidden');}\n"
    "function search(term){var re=null,lower=(term||'').toLowerCase(),spans=[];"
    "if(term){try{re=new RegExp(term,'i');}catch(err){re=null;}}\n"
    "frames.forEach(function(g){var name=g.getAttribute('data-n')||'',r=g.querySelector('rect'),"
    "hit=!!term&&(re?re.test(name):name.toLowerCase().indexOf(lower)>=0);"
    "r.style.fill=hit?'#e040fb':'';if(hit)spans.push([num(g,'x'),num(g,'x')+num(g,'w')]);});\n"
    "spans.sort(function(a,b){return a[0]-b[0];});var sum=0,end=-1;"
    "spans.forEach(function(s){if(s[0]>=end){sum+=s[1]-s[0];end=s[1];}"
    "else if(s[1]>end){sum+=s[1]-end;end=s[1];}});\n"
    "matched.textContent=term?'Matched: '+(100*sum).toFixed(1)+'% of all':'';"
    "svg.setAttribute('data-matched',term?(100*sum).toFixed(1):'');}\n"
    "svg.addEventListener('click',function(ev){var g=ev.target.closest('g.fg-f');"
    "if(g)zoom(g);else if(ev.target===unzoomBtn)reset();"
    "else if(ev.target.classList.contains('fg-searchbtn')){"
    "var term=window.prompt('Search functions (a regular expression):','');"
    "if(term!==null)search(term);}});\n"
    "svg.addEventListener('mouseover',function(ev){var g=ev.target.closest('g.fg-f');"
    "if(g&&details){var t=g.querySelector('title').textContent.split('\\n');"
    "details.textContent=t[0]+': '+(t.filter(function(l){return l.indexOf(' of all')>0;})[0]"
    "||'');}});\n"
    "var api={zoom:function(i){if(frames[i])zoom(frames[i]);},reset:reset,search:search};\n"
    "svg.allocscopeFlame=api;\n"
    "(location.hash||'').slice(1).split('&').forEach(function(kv){var i=kv.indexOf('=');"
    "if(i<0)return;var k=decodeURIComponent(kv.slice(0,i)),v=decodeURIComponent(kv.slice(i+1));"
    "if(k===svg.id+'.zoom')api.zoom(+v);else if(k===svg.id+'.search')search(v);});\n"
    "svg.setAttribute('data-frames',String(frames.length));\n"
    "return api;}\n";
