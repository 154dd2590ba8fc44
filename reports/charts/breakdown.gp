# Where RSS goes, stacked from the bottom: live heap (the program's blocks), free memory the
# allocator holds (its own statistics), LazyFree (MADV_FREE'd, not yet reclaimed by the
# kernel), and the rest of the process (code, stacks, mappings, allocator metadata).
# Data: @DATA@ (t_s live_mib allocator_free_mib lazyfree_mib rest_mib rss_mib).
reset
load 'style.gp'
set title '@TITLE@'
set xlabel 'time since start (s)'
set ylabel 'MiB'
set key outside right top vertical
set yrange [0:*]
set xrange [0:*]
@PHASES@
plot '@DATA@' using 1:($2+$3+$4+$5):($2+$3+$4) with filledcurves fc rgb '#999999' fs @fill_cross border lc rgb '#666666' title 'rest of the process', \
     '' using 1:($2+$3+$4):($2+$3) with filledcurves fc rgb '#CC79A7' fs @fill_hatch2 border lc rgb '#CC79A7' title 'LazyFree (MADV_FREE)', \
     '' using 1:($2+$3):2 with filledcurves fc rgb '#D55E00' fs @fill_hatch1 border lc rgb '#D55E00' title 'allocator-held free', \
     '' using 1:2 with filledcurves x1 fc rgb '#0072B2' fs solid 0.55 border lc rgb '#0072B2' title 'live heap', \
     '' using 1:6 with lines lc rgb '#000000' lw 1.5 dt 1 title 'RSS'
