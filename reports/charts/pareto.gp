# Throughput against after-load RSS, one point per configuration; the Pareto frontier (no
# other configuration has both less RSS and more throughput) drawn dashed; the recommended
# configuration circled; shaded: the throughput band the recommendation accepts.
# Data: @DATA@ (rss_mib rps "label", one block per configuration) and the file of the same
# name ending in -frontier.dat (rss_mib rps).
reset
load 'style.gp'
set title '@TITLE@'
set xlabel '@XLABEL@'
set ylabel 'throughput (requests/s)'
set key outside right top vertical
set offsets graph 0.08, graph 0.25, graph 0.12, graph 0.12
set format x '%.0f'
set format y '%g'
@PLOT@
