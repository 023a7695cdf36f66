# loss.gp: training and validation loss against epochs, with the number of
# tokens seen as a second x-axis on top (the book's figure 5.12).
#
#   gnuplot -e "csv='runs/NAME/log.csv'; out='runs/NAME/loss.png'" plots/loss.gp
#   gnuplot -e "csv='runs/NAME/log.csv'; out='-'" plots/loss.gp     # terminal preview
#
# The CSV is what `ch05 train` writes: a header line, then
#   step,epoch,tokens_seen,train_loss,val_loss,lr
# with epoch the fractional position in training (1.0 = end of epoch 1).

if (!exists("csv")) csv = "log.csv"
if (!exists("out")) out = "loss.png"
if (!exists("title")) title = "Training and validation loss"
# the top axis: column 3 ("Examples seen" for chapter 6's classifier)
if (!exists("x2label")) x2label = "Tokens seen"

set datafile separator ","
if (out eq "-") {
    set terminal dumb size 100, 30
} else {
    set terminal pngcairo size 900, 540 font "sans,11"
    set output out
}

# the top axis shows tokens seen: find its range from the data
stats csv using 3 name "TOKENS" nooutput
stats csv using 2 name "EPOCHS" nooutput

set title title
set xlabel "Epochs"
set ylabel "Loss"
set x2label x2label
set xrange [0:EPOCHS_max]
set x2range [0:TOKENS_max]
set xtics nomirror
set x2tics nomirror format "%.0s%c"
set key top right
set grid ytics

plot csv using 2:4 every ::1 with lines linewidth 2 title "Training loss", \
     csv using 2:5 every ::1 with lines linewidth 2 dashtype 4 title "Validation loss"
