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

/* One collated batch, its buffers grown as needed. */
typedef struct {
    int B, T;
    int *inputs, *targets;
    size_t capacity;
    const int **seqs;
    int *lengths;
} Collated;

/* The loader's next batch, collated (7.3); false at the end of the epoch. */
static bool next_batch(const InstructionDataset *ds, ExampleLoader *dl, int allowed_max_length, int pad_id,
                       Collated *b) {
    const int *idx;
    int n = example_loader_next(dl, &idx);
    if (n == 0) return false;
    for (int i = 0; i < n; i++) {
        b->seqs[i] = ds->encoded[idx[i]].data;
        b->lengths[i] = (int)ds->encoded[idx[i]].len;
    }
    int T = collate_length(b->lengths, n, allowed_max_length);
    if (T < 1) fatal("an instruction batch has no tokens");
    if ((size_t)n * T > b->capacity) {
        b->capacity = (size_t)n * T;
        b->inputs = xrealloc(b->inputs, b->capacity * sizeof(int));
        b->targets = xrealloc(b->targets, b->capacity * sizeof(int));
    }
    collate_batch(b->seqs, b->lengths, n, T, pad_id, b->inputs, b->targets);
    b->B = n;
    b->T = T;
    return true;
}

/* calc_loss_loader: the mean batch loss over the first num_batches batches. */
static float loss_loader(GPTModel *m, const InstructionDataset *ds, ExampleLoader *dl, int num_batches, int allowed,
                         int pad_id, Collated *b) {
    if (num_batches <= 0 || num_batches > dl->n_batches) num_batches = dl->n_batches;
    bool was_training = m->training;
    m->training = false;
    example_loader_reset(dl);
    double total = 0.0;
    for (int i = 0; i < num_batches && next_batch(ds, dl, allowed, pad_id, b); i++)
        total += calc_loss_batch(m, b->inputs, b->targets, b->B, b->T, false);
    m->training = was_training;
    return (float)(total / num_batches);
}

InstructRunResult train_instruct(const InstructTrainOptions *o) {
    InstructRunResult result = {NAN, NAN, NAN};
    make_dirs(o->out_dir);
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
    instruction_dataset_init(&train_ds, &train, bpe);
    instruction_dataset_init(&val_ds, &val, bpe);
    ExampleLoader train_dl, train_eval_dl, val_dl;
    char err[160];
    if (!example_loader_init(&train_dl, train_ds.n, o->batch_size, true, true, o->seed, err, sizeof err) ||
        !example_loader_init(&train_eval_dl, train_ds.n, o->batch_size, true, true, o->seed + 1, err, sizeof err))
        fatal("training data: %s", err);
    if (!example_loader_init(&val_dl, val_ds.n, o->batch_size, false, false, 0, err, sizeof err))
        fatal("validation data: %s", err);
    fprintf(stderr, "%d training batches, %d validation batches; the longest training text has %d tokens\n",
            train_dl.n_batches, val_dl.n_batches, instruction_dataset_longest(&train_ds));

    /* 7.5: the pretrained model; every parameter trains */
    GPTModel *m = finetune_load_model(&o->model, "355M", bpe_vocab_size(bpe));
    const int allowed = o->allowed_max_length < m->config.context_length ? o->allowed_max_length
                                                                          : m->config.context_length;
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
    char *start_context = format_input(&val.items[0]);

    /* 7.6: train_model_simple */
    char *log_path;
    FILE *log = finetune_open_csv(o->out_dir, "log.csv", "step,epoch,tokens_seen,train_loss,val_loss,lr\n", &log_path);
    Collated b = {.seqs = xmalloc((size_t)o->batch_size * sizeof(int *)),
                  .lengths = xmalloc((size_t)o->batch_size * sizeof(int))};
    const long steps_per_epoch = train_dl.n_batches, total_steps = steps_per_epoch * o->epochs;
    long global_step = -1, tokens_seen = 0;
    Progress progress;
    progress_start(&progress, "train", "steps", total_steps);
    const double t0 = now_seconds();
    for (int epoch = 0; epoch < o->epochs; epoch++) {
        example_loader_reset(&train_dl);
        while (next_batch(&train_ds, &train_dl, allowed, pad_id, &b)) {
            m->training = true;
            trainable_zero_grad(&trainable);
            float loss = calc_loss_batch(m, b.inputs, b.targets, b.B, b.T, true);
            if (!isfinite(loss)) fatal("the training loss became %g at step %ld: lower --lr", loss, global_step + 1);
            trainable_step(&trainable, &adam, o->lr);
            tokens_seen += (long)b.B * b.T;
            global_step++;
            progress_update(&progress, global_step + 1);
            if (global_step % o->eval_freq == 0) {
                float train_loss = loss_loader(m, &train_ds, &train_eval_dl, o->eval_iter, allowed, pad_id, &b);
                float val_loss = loss_loader(m, &val_ds, &val_dl, o->eval_iter, allowed, pad_id, &b);
                if (isnan(result.first_train_loss)) result.first_train_loss = train_loss;
                result.last_train_loss = train_loss;
                result.last_val_loss = val_loss;
                progress_clear(&progress);
                printf("Ep %d (Step %06ld): Train loss %.3f, Val loss %.3f\n", epoch + 1, global_step, train_loss,
                       val_loss);
                fflush(stdout);
                fprintf(log, "%ld,%.4f,%ld,%.6f,%.6f,%.8g\n", global_step, (double)(global_step + 1) / steps_per_epoch,
                        tokens_seen, train_loss, val_loss, o->lr);
                fflush(log);
            }
        }
        m->training = false;
        if (!o->no_samples) {
            progress_clear(&progress);
            print_sample(m, bpe, start_context, 50);
        }
    }
    progress_finish(&progress);
    m->training = false;
    fprintf(stderr, "Training completed in %.2f minutes.\n", (now_seconds() - t0) / 60);
    finetune_close_csv(log, log_path);
    char *ckpt_path = path_join(o->out_dir, "checkpoint.safetensors");
    if (lora) { /* W += (alpha/r) A B: a plain model, which also writes the responses */
        lora_merge(lora, m->out_head);
        lora_free(lora);
        lora = NULL;
    }
    const char *keys[] = {"task"}, *values[] = {"instruction"};
    CheckpointExtras extras = {.n_meta = 1, .meta_keys = keys, .meta_values = values};
    gpt_save_checkpoint(m, ckpt_path, &extras);
    fprintf(stderr, "wrote %s and %s\n", log_path, ckpt_path);
    char *png = path_join(o->out_dir, "loss.png");
    finetune_plot("loss.gp", log_path, png, "title='Instruction finetuning: training and validation loss'");

    /* 7.7: the responses to the test set */
    if (!o->no_responses && test.n > 0) {
        char **responses = xcalloc((size_t)test.n, sizeof(char *));
        Progress gen;
        progress_start(&gen, "responses", "entries", test.n);
        for (int i = 0; i < test.n; i++) {
            responses[i] = instruct_response(m, bpe, &test.items[i], o->max_new_tokens);
            progress_update(&gen, i + 1);
            if (i < 3) { /* the book shows the first three */
                progress_clear(&gen);
                char *prompt = format_input(&test.items[i]);
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
    free(b.inputs);
    free(b.targets);
    free(b.seqs);
    free(b.lengths);
    trainable_free(&trainable);
    gpt_free(m);
    example_loader_free(&train_dl);
    example_loader_free(&train_eval_dl);
    example_loader_free(&val_dl);
    instruction_dataset_free(&train_ds);
    instruction_dataset_free(&val_ds);
    instruction_set_free(&train);
    instruction_set_free(&test);
    instruction_set_free(&val);
    instruction_set_free(&all);
    free(data_path);
    bpe_free(bpe);
    return result;
}
