# allocscope chart style, loaded by every chart script beside it. Series differ by dash
# pattern and point shape as well as by colour (Okabe-Ito palette, safe for colour-blind
# readers), so a chart printed in black and white still tells them apart. Edit freely, then
# re-run: gnuplot render-svg.gp render-png.gp
set style line 1 lc rgb '#0072B2' lw 2 dt 1 pt 7 ps 0.9
set style line 2 lc rgb '#D55E00' lw 2 dt 2 pt 5 ps 0.9
set style line 3 lc rgb '#009E73' lw 2 dt 3 pt 9 ps 1.1
set style line 4 lc rgb '#CC79A7' lw 2 dt 4 pt 13 ps 1.1
set style line 5 lc rgb '#E69F00' lw 2 dt 5 pt 11 ps 1.1
set style line 6 lc rgb '#56B4E9' lw 2 dt (12,4,3,4,3,4) pt 6 ps 0.9
set style line 7 lc rgb '#000000' lw 2 dt (3,3) pt 4 ps 0.9
set style line 8 lc rgb '#8C6D31' lw 2 dt (14,4) pt 8 ps 1.0
set border 3 lc rgb '#555555'
set tics nomirror textcolor rgb '#333333'
set grid ytics lc rgb '#e3e3e3' lw 1 dt 1
set key noenhanced textcolor rgb '#222222' samplen 4 spacing 1.15
set title font ',13' textcolor rgb '#111111'
set format y '%.0f'
# Fills. Hatching tells stacked areas and bars apart without colour (SVG: the page and its
# print); pngcairo draws hatching slowly (~50 ms a chart), so PNGs get solid fills of
# distinct lightness instead.
if (GPVAL_TERM eq 'pngcairo') {
    fill_hatch1 = 'solid 0.45'; fill_hatch2 = 'solid 0.3'; fill_cross = 'solid 0.15'
} else {
    fill_hatch1 = 'pattern 4'; fill_hatch2 = 'pattern 5'; fill_cross = 'pattern 2'
}
# Phase shading: grey levels (not hues) so they survive black-and-white printing.
idle_shade = '#eeeeee'
load_shade = '#d6d6d6'
cooldown_shade = '#f7f7f7'
