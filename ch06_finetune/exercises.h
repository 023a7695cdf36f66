/* exercises.h: `ch06 exercise`, the book's exercises of chapters 6 and 7
 * (exercise-solutions.ipynb of ch06 and ch07), solved with the training
 * commands' options:
 *
 *   6.1  pad the texts to the model's context   train-classifier --max-length context
 *   6.2  finetune the whole model               train-classifier --trainable-blocks all
 *   6.3  classify from the first token          train-classifier --token first
 *   7.1  Phi-3's prompt template                train-instruct --prompt-style phi3
 *   7.2  mask the instructions out of the loss  train-instruct --mask-instructions
 *   7.3  the 52k Alpaca data set                make alpaca; train-instruct --data ...
 *   7.4  LoRA                                   train-instruct --lora-rank 16 ...
 *
 * Each prints the question, what can be computed without training (from
 * the data and the configurations), the full run at the book's settings,
 * and then runs a quick version of it: the same code on a tiny random
 * model, a handful of examples and a few steps. */
#ifndef CH06_EXERCISES_H
#define CH06_EXERCISES_H

/* The `exercise` subcommand (argv[0] is "exercise"). */
int cmd_exercise(int argc, char **argv);

#endif
