# Live bytes of the fastest growing allocation sites (requested bytes, from the shim's
# sites.csv), labelled with the allocating function and file:line. Data: @DATA@ (one block
# per site: t_s live_mib).
reset
load 'style.gp'
set title '@TITLE@'
set xlabel 'time since start (s)'
set ylabel 'live bytes (MiB)'
set key below vertical left
set yrange [0:*]
set xrange [0:*]
set format y '%.1f'
@PHASES@
@PLOT@
