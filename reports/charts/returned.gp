# Bytes given back to the OS over time (munmap, madvise DONTNEED/FREE, brk and mremap
# shrinks, from the kernel events), cumulative, one line per configuration.
# Data: @DATA@ (one block per configuration: t_s returned_mib).
reset
load 'style.gp'
set title '@TITLE@'
set xlabel 'time since start (s)'
set ylabel 'returned to the OS, cumulative (MiB)'
set key outside right top vertical
set yrange [0:*]
set xrange [0:*]
@PHASES@
@PLOT@
