# accuracy.gp: training and validation accuracy against epochs, with the
# number of examples seen as a second x-axis on top (the book's figure 6.17).
#
#   gnuplot -e "csv='runs/NAME/accuracy.csv'; out='runs/NAME/accuracy.png'" plots/accuracy.gp
#   gnuplot -e "csv='runs/NAME/accuracy.csv'; out='-'" plots/accuracy.gp     # terminal preview
#
# The CSV is what `ch06 train-classifier` writes: a header line, then one row
# per epoch
#   epoch,examples_seen,train_accuracy,val_accuracy
# with the accuracies as fractions (0.9721 = 97.21%).

if (!exists("csv")) csv = "accuracy.csv"
if (!exists("out")) out = "accuracy.png"
if (!exists("title")) title = "Training and validation accuracy"

set datafile separator ","
if (out eq "-") {
    set terminal dumb size 100, 30
} else {
    set terminal pngcairo size 900, 540 font "sans,11"
    set output out
}

stats csv using 2 name "EXAMPLES" nooutput
stats csv using 1 name "EPOCHS" nooutput

set title title
set xlabel "Epochs"
set ylabel "Accuracy"
set x2label "Examples seen"
# the accuracies are measured at the end of each epoch: start at epoch 1
XMIN = EPOCHS_max > 1 ? 1 : 0
set xrange [XMIN:EPOCHS_max]
set x2range [EXAMPLES_max * XMIN / EPOCHS_max:EXAMPLES_max]
set xtics nomirror
set x2tics nomirror format "%.0s%c"
set format y "%.0f%%"
set key bottom right
set grid ytics

plot csv using 1:($3 * 100) every ::1 with linespoints linewidth 2 pointtype 7 title "Training accuracy", \
     csv using 1:($4 * 100) every ::1 with linespoints linewidth 2 dashtype 4 pointtype 5 title "Validation accuracy"
