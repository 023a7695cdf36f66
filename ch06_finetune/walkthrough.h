/* walkthrough.h: `ch06 walkthrough`, the book's chapters 6 and 7 (ch06.ipynb
 * and ch07.ipynb) section by section: each notebook cell's output after a
 * line "In [N]: what the cell does", computed by this chapter's code. The
 * data steps (6.2-6.3, 7.2-7.4) are the book's; the model steps (6.4-6.8,
 * 7.5-7.8) run on a small GPT of the same code unless a model is given,
 * and their training steps are the first steps of the chapters' own
 * training functions (train_classifier_simple, chapter 5's
 * train_model_simple) over a loader cut to its first batches. */
#ifndef CH06_WALKTHROUGH_H
#define CH06_WALKTHROUGH_H

/* The command: argv[0] is "walkthrough"; returns the exit status. */
int ch06_walkthrough(int argc, char **argv);

#endif
