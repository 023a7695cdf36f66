/* exercises.h: `ch05 exercise [5.1..5.6]`, chapter 5's exercises solved as
 * the book's exercise-solutions notebook solves them, with chapter 5's own
 * functions (sampling, generate, calc_loss_loader, pretrain and its resume). */
#ifndef CH05_EXERCISES_H
#define CH05_EXERCISES_H

/* The subcommand: argv[0] is "exercise". Returns the exit status. */
int cmd_exercise(int argc, char **argv);

#endif
