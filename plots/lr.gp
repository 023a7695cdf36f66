# lr.gp: the learning rate of every training step (appendix D's figures
# D.1, D.2 and the check after D.4).
#
#   gnuplot -e "csv='runs/appendix-d/d2_lrs.csv'; out='d2.png'" plots/lr.gp
#   gnuplot -e "csv='runs/appendix-d/d2_lrs.csv'; out='-'" plots/lr.gp     # terminal preview
#
# The CSV is what `ch05 appendix-d` writes: a header line, then
#   step,lr
# one row per step, from step 0.

if (!exists("csv")) csv = "lrs.csv"
if (!exists("out")) out = "lrs.png"
if (!exists("title")) title = "Learning rate"

set datafile separator ","
if (out eq "-") {
    set terminal dumb size 100, 24
} else {
    set terminal pngcairo size 500, 300 font "sans,10"
    set output out
}

set title title noenhanced
set xlabel "Step"
set ylabel "Learning rate"
set key off
set grid ytics
plot csv using 1:2 skip 1 with lines linewidth 2
