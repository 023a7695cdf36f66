/* classifier.h: 6.5 Adding a classification head, 6.6 Calculating the
 * classification loss and accuracy, and the model of 6.7's finetuning.
 *
 * The book replaces the GPT's output head, a linear layer from the C
 * channels to the 50257 token logits, by nn.Linear(C, 2) (with a bias), and
 * reads only the last token's output: through causal attention, the last
 * token is the only one that has seen the whole text.
 *
 *   token ids (B,T) -> GPT up to the final norm (gpt_forward_hidden)  (B,T,C)
 *   -> the last position                                                (B,C)
 *   -> head: h @ weight^T + bias                                        (B,K)
 *
 * The head is stored like the output head it replaces, weight (K,C) in
 * nn.Linear's layout, and initialised like nn.Linear. Freezing: only the
 * last trainable_blocks blocks (1 in the book), the final norm and the head
 * train; the backward pass stops at the lowest trainable block, so frozen
 * layers cost nothing there and their gradients are never computed. */
#ifndef CH06_CLASSIFIER_H
#define CH06_CLASSIFIER_H

#include <stdbool.h>
#include <stdint.h>

#include "../ch02_text/bpe.h"
#include "../ch04_gpt/gpt.h"
#include "lora.h"
#include "trainable.h"

/* Which position's output the head reads: the last (the book's chapter 6:
 * through causal attention the only one that has seen the whole text) or
 * the first (exercise 6.3: it has seen the first token only). */
typedef enum { CLASSIFIER_TOKEN_LAST = 0, CLASSIFIER_TOKEN_FIRST = 1 } ClassifierToken;
/* "last", "first"; parsing returns false for anything else. */
const char *classifier_token_name(ClassifierToken token);
bool classifier_token_parse(const char *name, ClassifierToken *out);

typedef struct {
    GPTModel *gpt;
    int n_classes;        /* K */
    int first_trainable;  /* the lowest trainable block (n_layers - trainable_blocks) */
    ClassifierToken token; /* the position the head reads (0, the default: the last) */
    float *head;          /* weight (K,C), then bias (K): one buffer */
    float *weight, *bias;
    float *head_grads;    /* the same layout */
    float *grad_weight, *grad_bias;
    Lora *lora;           /* appendix E: adapters on every linear layer and the head, or NULL */
    /* the last forward's (B,T) and logits (B,K); the backward's scratch */
    int B, T;
    float *logits;
    float *grad_hidden;      /* (B,T,C) */
    float *last, *grad_last; /* LoRA: the last positions' hidden states (B,C) and their gradient */
    size_t logits_capacity, grad_hidden_capacity;
} Classifier;

/* A classifier on gpt (taken over: classifier_free frees it) with a new
 * head of n_classes (torch.nn.Linear(C, n_classes): weight and bias uniform
 * in +-1/sqrt(C)) drawn from a generator seeded with seed, training the
 * last trainable_blocks blocks (0..n_layers; n_layers trains the whole
 * model, embeddings included). */
Classifier *classifier_create(GPTModel *gpt, int n_classes, int trainable_blocks, uint64_t seed);
void classifier_free(Classifier *c);
/* Which blocks train (as in classifier_create). */
void classifier_set_trainable_blocks(Classifier *c, int trainable_blocks);

/* The logits (B,K) at the classifier's token (the last position unless
 * c->token says the first) for ids (B,T); valid until the next call. */
const float *classifier_forward(Classifier *c, const int *ids, int B, int T);
/* The gradients of the last forward's loss, given grad_logits (B,K); they
 * accumulate into the head's gradients and the GPT's trainable ones. */
void classifier_backward(Classifier *c, const float *grad_logits);
/* Add the trainable ranges to t: the GPT's tail (see gpt_tail_range) and
 * the head; with LoRA, the adapters only. They are optimised in place. */
void classifier_trainable(Classifier *c, Trainable *t);

/* Appendix E: freeze the whole classifier (the GPT and the head) and add
 * LoRA adapters of rank and alpha (lora.h) to every linear layer and the
 * head, A drawn with seed. Call before classifier_trainable. */
void classifier_use_lora(Classifier *c, int rank, float alpha, uint64_t seed);
/* Merge the adapters into the weights (lora_merge) and drop them: the
 * classifier is an ordinary one again, computing what it computed. */
void classifier_merge_lora(Classifier *c);

/* 6.6 calc_loss_batch: cross entropy of the classifier's token's logits against
 * labels (B). With backward, the gradients accumulate as above. When
 * n_correct is not NULL it gets how many argmax predictions are right. */
float classifier_loss_batch(Classifier *c, const int *ids, const int *labels, int B, int T, bool backward,
                            int *n_correct);

/* 6.8 classify_review: text's ids cut to max_length (at most the model's
 * context: the caller checks), padded with <|endoftext|> to max_length, and
 * the argmax of the last token's logits: the predicted class (1: spam). */
int classify_review(Classifier *c, Bpe *bpe, const char *text, int max_length);

/* 6.8's torch.save (merge LoRA adapters first): the GPT through gpt_save_checkpoint, plus the head
 * (classifier.weight, classifier.bias) and metadata task "classification",
 * classifier.num_classes, classifier.max_length (the padded length the
 * model was trained on, which classification must use again) and
 * classifier.token (the position it reads, "last" or "first"). */
void classifier_save(const Classifier *c, const char *path, int max_length);
/* Read such a checkpoint; a checkpoint without a head exits with a message
 * that says so. *max_length gets the stored padded length; the token comes
 * from the metadata (the last when a checkpoint has none). */
Classifier *classifier_load(const char *path, int *max_length);

/* print(model): the book's GPTModel of configuration c, as PyTorch prints
 * its modules, with an output head of head_out features (the vocabulary's,
 * or the classifier's 2); with the LoRA adapters l (appendix E, after
 * replace_linear_with_lora) every linear layer is a LinearWithLoRA, sized
 * from its adapter (our query, key and value are one fused layer whose
 * adapter has three parts: the book's W_query, W_key and W_value); l NULL:
 * plain Linear layers. */
void print_gpt_modules(const GPTConfig *c, int head_out, bool head_bias, const Lora *l);

#endif
