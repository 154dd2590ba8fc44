# RSS over time: one line per allocator configuration; the idle, load and cooldown phases
# shaded. Data: @DATA@ (one block per configuration: t_s rss_mib).
reset
load 'style.gp'
set title '@TITLE@'
set xlabel 'time since start (s)'
set ylabel 'RSS (MiB)'
set key outside right top vertical
set yrange [0:*]
set xrange [0:*]
@PHASES@
@PLOT@
