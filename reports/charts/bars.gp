# Idle, peak and after-load RSS per configuration, and the bytes a reclaim request at the end
# of the cooldown gave back. Data: @DATA@ ("label" idle_mib peak_mib after_mib reclaimable_mib).
reset
load 'style.gp'
set title '@TITLE@'
set ylabel 'MiB'
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9
set xtics rotate by -25 noenhanced scale 0
set key outside right top vertical
set yrange [0:*]
set datafile missing 'NaN'
# One bar per measured column: idle grey, peak solid blue, after-load hatched, reclaimable
# cross-hatched.
@PLOT@
