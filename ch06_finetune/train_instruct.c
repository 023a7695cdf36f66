/* train_instruct.c: see train_instruct.h. */
#include "train_instruct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/gpt_weights.h"
#include "../ch05_pretrain/train.h"
#include "../common/util.h"
#include "example_loader.h"
#include "instruction_data.h"
#include "lora.h"
#include "trainable.h"

InstructTrainOptions instruct_train_default_options(void) {
    return (InstructTrainOptions){.epochs = 2,
                                  .batch_size = 8,
                                  .allowed_max_length = 1024,
                                  .lr = 5e-5f,
                                  .weight_decay = 0.1f,
                                  .lora_alpha = 16.0f,
                                  .eval_freq = 5,
                                  .eval_iter = 5,
                                  .max_new_tokens = 256,
                                  .seed = 123,
                                  .out_dir = "runs/instruct"};
}

/* ---- 7.3-7.4: batches of collated instructions --------------------------------- */

void instruction_batches_init(InstructionBatches *ib, const InstructionDataset *ds, int batch_size, bool shuffle,
                              bool drop_last, uint64_t seed, int pad_id, const char *what) {
    char err[160];
    if (!example_loader_init(&ib->order, ds->n, batch_size, shuffle, drop_last, seed, err, sizeof err))
        fatal("%s: %s", what, err);
    *ib = (InstructionBatches){.order = ib->order,
                               .ds = ds,
                               .pad_id = pad_id,
                               .seqs = xmalloc((size_t)batch_size * sizeof(int *)),
                               .lengths = xmalloc((size_t)batch_size * sizeof(int)),
                               .prompt_lengths = xmalloc((size_t)batch_size * sizeof(int))};
}

static void instruction_batches_reset(void *self) { example_loader_reset(&((InstructionBatches *)self)->order); }

static bool instruction_batches_next(void *self, Batch *batch) {
    InstructionBatches *ib = self;
    const int *indices;
    int n = example_loader_next(&ib->order, &indices);
    if (n == 0) return false;
    for (int i = 0; i < n; i++) {
        ib->seqs[i] = ib->ds->encoded[indices[i]].data;
        ib->lengths[i] = (int)ib->ds->encoded[indices[i]].len;
        ib->prompt_lengths[i] = ib->ds->prompt_lengths[indices[i]];
    }
    int T = collate_length(ib->lengths, n, ib->allowed_max_length);
    if (T < 1) fatal("an instruction batch has no tokens");
    if ((size_t)n * T > ib->capacity) {
        ib->capacity = (size_t)n * T;
        ib->inputs = xrealloc(ib->inputs, ib->capacity * sizeof(int));
        ib->targets = xrealloc(ib->targets, ib->capacity * sizeof(int));
    }
    collate_batch(ib->seqs, ib->lengths, n, T, ib->pad_id, ib->inputs, ib->targets);
    if (ib->mask_prompts) collate_mask_prompts(ib->targets, n, T, ib->prompt_lengths);
    *batch = (Batch){.B = n, .T = T, .inputs = ib->inputs, .targets = ib->targets};
    return true;
}

BatchLoader instruction_batches_loader(InstructionBatches *ib) {
    return (BatchLoader){.n_batches = ib->order.n_batches,
                         .reset = instruction_batches_reset,
                         .next = instruction_batches_next,
                         .self = ib};
}

void instruction_batches_free(InstructionBatches *ib) {
    example_loader_free(&ib->order);
    free(ib->seqs);
    free(ib->lengths);
    free(ib->prompt_lengths);
    free(ib->inputs);
    free(ib->targets);
}

/* ---- the run ------------------------------------------------------------------------ */

void train_instruct(const InstructTrainOptions *o) {
    Bpe *bpe = bpe_load_gpt2();
    const int pad_id = bpe_eot_id(bpe);

    /* 7.2: the data and its split */
    char *data_path = o->data_path ? xstrdup(o->data_path) : data_file("instruction-data.json");
    InstructionSet all = instruction_data_read(data_path);
    InstructionSet train, test, val;
    instruction_data_split(&all, &train, &test, &val);
    fprintf(stderr, "%s: %d entries: %d train, %d test, %d validate\n", data_path, all.n, train.n, test.n, val.n);
    if (train.n == 0 || val.n == 0) fatal("%s: too few entries to train and validate on", data_path);

    /* 7.3-7.4: data sets and loaders */
    InstructionDataset train_ds, val_ds;
    instruction_dataset_init_as(&train_ds, &train, bpe, o->prompt_style);
    instruction_dataset_init_as(&val_ds, &val, bpe, o->prompt_style);
    InstructionBatches train_batches, train_eval_batches, val_batches;
    instruction_batches_init(&train_batches, &train_ds, o->batch_size, true, true, o->seed, pad_id, "training data");
    instruction_batches_init(&train_eval_batches, &train_ds, o->batch_size, true, true, o->seed + 1, pad_id,
                             "training data");
    instruction_batches_init(&val_batches, &val_ds, o->batch_size, false, false, 0, pad_id, "validation data");
    train_batches.mask_prompts = train_eval_batches.mask_prompts = val_batches.mask_prompts = o->mask_instructions;
    fprintf(stderr, "%d training batches, %d validation batches; the longest training text has %d tokens\n",
            train_batches.order.n_batches, val_batches.order.n_batches, instruction_dataset_longest(&train_ds));
    fprintf(stderr, "%s prompts; the loss counts %s\n", o->prompt_style == PROMPT_PHI3 ? "Phi-3" : "Alpaca",
            o->mask_instructions ? "the responses only (the prompts masked)" : "the prompts and the responses");

    /* 7.5: the pretrained model; every parameter trains. The batches are
     * cut to its context. */
    GPTModel *m = finetune_load_model(&o->model, "355M", bpe_vocab_size(bpe));
    const int allowed = o->allowed_max_length < m->config.context_length ? o->allowed_max_length
                                                                          : m->config.context_length;
    train_batches.allowed_max_length = train_eval_batches.allowed_max_length = val_batches.allowed_max_length = allowed;
    make_dirs(o->out_dir); /* only now: a run refused above leaves no directory behind */
    Lora *lora = NULL;
    Trainable trainable = {0};
    if (o->lora_rank > 0) {
        /* appendix E: everything frozen, adapters on every linear layer and
         * on the vocabulary head, which gets weights of its own to merge
         * into (the book's out_head is a separate nn.Linear) */
        m = gpt_untie(m);
        lora = lora_create(&m->config, m->config.vocab_size, o->lora_rank, o->lora_alpha, o->seed + 3);
        lora_attach(lora, m, true);
        lora_trainable(lora, &trainable);
        fprintf(stderr, "%zu LoRA parameters train (rank %d, alpha %g); the model's %zu are frozen\n",
                trainable_count(&trainable), o->lora_rank, o->lora_alpha, m->n_params);
    } else {
        gpt_zero_grad(m);
        trainable_add(&trainable, "gpt", m->params, m->grads, m->n_params);
    }
    rng_seed(&m->rng, o->seed + 2); /* dropout, if any */
    AdamWConfig adam = adamw_default_config();
    adam.lr = o->lr;
    adam.weight_decay = o->weight_decay;
    Optimizer optimizer = trainable_optimizer(&trainable, &adam);

    /* 7.6: chapter 5's train_model_simple, a sample of the first validation
     * entry's response after each epoch */
    char *log_path = path_join(o->out_dir, "log.csv");
    TrainRun run = {.global_step = -1, .log = loss_log_open(log_path, "tokens_seen", -1)};
    Model model = gpt_model(m);
    BatchLoader train_loader = instruction_batches_loader(&train_batches),
                train_eval_loader = instruction_batches_loader(&train_eval_batches),
                val_loader = instruction_batches_loader(&val_batches);
    char *start_context = format_input_as(&val.items[0], o->prompt_style);
    const double start_time = now_seconds();
    train_model_simple(&model, &train_loader, &train_eval_loader, &val_loader, &optimizer, o->epochs, o->eval_freq,
                       o->eval_iter, o->no_samples ? NULL : start_context, bpe, &run);
    m->training = false;
    fprintf(stderr, "Training completed in %.2f minutes.\n", (now_seconds() - start_time) / 60);
    csv_log_close(run.log, log_path);
    char *ckpt_path = path_join(o->out_dir, "checkpoint.safetensors");
    if (lora) { /* W += (alpha/r) A B: a plain model, which also writes the responses */
        lora_merge(lora, m->out_head);
        lora_free(lora);
        lora = NULL;
    }
    const char *keys[] = {"task", "instruction.prompt_style"};
    const char *values[] = {"instruction", prompt_style_name(o->prompt_style)};
    CheckpointExtras extras = {.n_meta = 2, .meta_keys = keys, .meta_values = values};
    gpt_save_checkpoint(m, ckpt_path, &extras);
    fprintf(stderr, "wrote %s and %s\n", log_path, ckpt_path);
    char *png = path_join(o->out_dir, "loss.png");
    plot_csv("loss.gp", log_path, png, "title='Instruction finetuning: training and validation loss'");

    /* 7.7: the responses to the test set */
    if (!o->no_responses && test.n > 0) {
        char **responses = xcalloc((size_t)test.n, sizeof(char *));
        Progress gen;
        progress_start(&gen, "responses", "entries", test.n);
        for (int i = 0; i < test.n; i++) {
            responses[i] = instruct_response_as(m, bpe, &test.items[i], o->max_new_tokens, o->prompt_style);
            progress_update(&gen, i + 1);
            if (i < 3) { /* the book shows the first three */
                progress_clear(&gen);
                char *prompt = format_input_as(&test.items[i], o->prompt_style);
                printf("%s\n\nCorrect response:\n>> %s\n\nModel response:\n>> %s\n"
                       "-------------------------------------\n",
                       prompt, test.items[i].output, responses[i]);
                fflush(stdout);
                free(prompt);
            }
        }
        progress_finish(&gen);
        char *json_path = path_join(o->out_dir, "instruction-data-with-response.json");
        instruction_data_write_responses(json_path, &test, responses);
        fprintf(stderr, "wrote %s\n", json_path);
        free(json_path);
        for (int i = 0; i < test.n; i++) free(responses[i]);
        free(responses);
    }

    free(png);
    free(ckpt_path);
    free(log_path);
    free(start_context);
    trainable_free(&trainable);
    gpt_free(m);
    instruction_batches_free(&train_batches);
    instruction_batches_free(&train_eval_batches);
    instruction_batches_free(&val_batches);
    instruction_dataset_free(&train_ds);
    instruction_dataset_free(&val_ds);
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
    free(data_path);
    bpe_free(bpe);
}
