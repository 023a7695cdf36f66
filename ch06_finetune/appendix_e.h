/* appendix_e.h: `ch06 appendix-e`, the book's appendix E notebook
 * (appendix-E.ipynb, Parameter-efficient finetuning with LoRA) cell by
 * cell: the SMS data and loaders of chapter 6, GPT-2 small with a 2-class
 * head, LoRA adapters on every linear layer (lora.h), the trainable
 * parameter counts, the adapted model as PyTorch prints it, and the
 * finetuning with chapter 6's train_classifier_simple. */
#ifndef CH06_APPENDIX_E_H
#define CH06_APPENDIX_E_H

/* The subcommand: ch06 appendix-e [--model MODEL] [--seed N] [--full] */
int cmd_appendix_e(int argc, char **argv);

#endif
