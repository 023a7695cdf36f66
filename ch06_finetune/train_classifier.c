/* train_classifier.c: see train_classifier.h. */
#include "train_classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch05_pretrain/train.h"
#include "../common/ops.h"
#include "../common/util.h"
#include "classifier.h"
#include "example_loader.h"
#include "spam_data.h"
#include "trainable.h"

ClassifierTrainOptions classifier_train_default_options(void) {
    return (ClassifierTrainOptions){.epochs = 5,
                                    .batch_size = 8,
                                    .trainable_blocks = 1,
                                    .lora_alpha = 16.0f,
                                    .lr = 5e-5f,
                                    .weight_decay = 0.1f,
                                    .eval_freq = 50,
                                    .eval_iter = 5,
                                    .seed = 123,
                                    .out_dir = "runs/classifier"};
}

/* ---- 6.3 Creating data loaders ------------------------------------------------- */

void spam_batches_init(SpamBatches *sb, const SpamDataset *ds, int batch_size, bool shuffle, bool drop_last,
                       uint64_t seed, const char *what) {
    char err[160];
    if (!example_loader_init(&sb->order, ds->n, batch_size, shuffle, drop_last, seed, err, sizeof err))
        fatal("%s: %s", what, err);
    sb->ds = ds;
    sb->ids = xmalloc((size_t)batch_size * ds->max_length * sizeof(int));
    sb->labels = xmalloc((size_t)batch_size * sizeof(int));
}

static void spam_batches_reset(void *self) { example_loader_reset(&((SpamBatches *)self)->order); }

static bool spam_batches_next(void *self, Batch *batch) {
    SpamBatches *sb = self;
    const int *indices;
    int n = example_loader_next(&sb->order, &indices);
    if (n == 0) return false;
    spam_dataset_batch(sb->ds, indices, n, sb->ids, sb->labels);
    *batch = (Batch){.B = n, .T = sb->ds->max_length, .inputs = sb->ids, .targets = sb->labels};
    return true;
}

BatchLoader spam_batches_loader(SpamBatches *sb) {
    return (BatchLoader){.n_batches = sb->order.n_batches,
                         .reset = spam_batches_reset,
                         .next = spam_batches_next,
                         .self = sb};
}

void spam_batches_free(SpamBatches *sb) {
    example_loader_free(&sb->order);
    free(sb->ids);
    free(sb->labels);
}

/* ---- 6.6 Calculating the classification loss and accuracy ------------------------- */

/* calc_loss_batch: the cross entropy of the last token's logits */
static float classifier_loss(void *c, const Batch *batch, bool backward) {
    return classifier_loss_batch(c, batch->inputs, batch->targets, batch->B, batch->T, backward, NULL);
}

Model classifier_model(Classifier *c) {
    return (Model){.gpt = c->gpt, .loss_batch = classifier_loss, .self = c};
}

float calc_accuracy_loader(Classifier *model, BatchLoader *loader, int num_batches) {
    /* BEGIN EXERCISE 6b: classification accuracy (book 6.6) */
    if (num_batches <= 0 || num_batches > loader->n_batches) num_batches = loader->n_batches;
    bool was_training = model->gpt->training;
    model->gpt->training = false;
    loader->reset(loader->self);
    long correct_predictions = 0, num_examples = 0;
    Batch batch;
    for (int i = 0; i < num_batches && loader->next(loader->self, &batch); i++) {
        const float *logits = classifier_forward(model, batch.inputs, batch.B, batch.T); /* (B, n_classes) */
        const int K = model->n_classes;
        for (int b = 0; b < batch.B; b++) correct_predictions += vec_argmax(logits + (size_t)b * K, K) == batch.targets[b];
        num_examples += batch.B;
    }
    model->gpt->training = was_training;
    return num_examples ? (float)correct_predictions / (float)num_examples : NAN;
    /* END EXERCISE 6b */
}

/* ---- 6.7 Finetuning the model on supervised data ------------------------------------ */

void train_classifier_simple(Classifier *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                             BatchLoader *val_loader, Optimizer *optimizer, int num_epochs, int eval_freq,
                             int eval_iter, TrainRun *run, FILE *accuracy_log) {
    const Model classifier = classifier_model(model);
    train_run_begin(run, train_loader, num_epochs);
    for (int epoch = run->epochs_done; epoch < num_epochs; epoch++) {
        model->gpt->training = true; /* model.train() */
        Batch batch = {0};
        train_loader->reset(train_loader->self);
        while (train_loader->next(train_loader->self, &batch)) {
            float loss = train_step(&classifier, optimizer, &batch);
            check_loss(loss, epoch + 1, run->global_step + 1);
            run->seen += batch.B; /* examples_seen += input_batch.shape[0] */
            run->global_step++;
            progress_update(&run->progress, run->global_step + 1);
            evaluate_if_due(&classifier, train_eval_loader, val_loader, eval_freq, eval_iter, epoch + 1,
                            optimizer->config.lr, run);
        }
        float train_accuracy = calc_accuracy_loader(model, train_eval_loader, eval_iter);
        float val_accuracy = calc_accuracy_loader(model, val_loader, eval_iter);
        progress_clear(&run->progress);
        printf("Training accuracy: %.2f%% | Validation accuracy: %.2f%%\n", train_accuracy * 100, val_accuracy * 100);
        fflush(stdout);
        if (accuracy_log) {
            fprintf(accuracy_log, "%d,%ld,%.6f,%.6f\n", epoch + 1, run->seen, train_accuracy, val_accuracy);
            fflush(accuracy_log);
        }
        run->epochs_done = epoch + 1;
        if (run->after_epoch) run->after_epoch(run->user, run, &batch);
    }
    progress_finish(&run->progress);
}

/* ---- the run ------------------------------------------------------------------------ */

/* The splits: read from data_dir, or prepared from the SMS collection and
 * written to out_dir as `ch06 prepare-spam` writes them. */
static void load_splits(const ClassifierTrainOptions *o, TextSet sets[3]) {
    static const char *const names[3] = {"train.csv", "validation.csv", "test.csv"};
    if (o->data_dir) {
        for (int i = 0; i < 3; i++) {
            char *path = path_join(o->data_dir, names[i]);
            sets[i] = textset_read_csv(path);
            free(path);
        }
        return;
    }
    char *sms = data_file("sms_spam/SMSSpamCollection");
    spam_prepare_splits(sms, o->seed, &sets[0], &sets[1], &sets[2]);
    make_dirs(o->out_dir);
    for (int i = 0; i < 3; i++) {
        char *path = path_join(o->out_dir, names[i]);
        textset_write_csv(&sets[i], path);
        free(path);
    }
    fprintf(stderr, "%s: wrote the balanced splits to %s/{train,validation,test}.csv\n", sms, o->out_dir);
    free(sms);
}

void train_classifier(const ClassifierTrainOptions *o) {
    Bpe *bpe = bpe_load_gpt2();
    const int pad_id = bpe_eot_id(bpe);

    /* 6.4: the model first, as its context may set the padded length */
    GPTModel *gpt = finetune_load_model(&o->model, "124M", bpe_vocab_size(bpe));
    const int context = gpt->config.context_length;
    const int max_length = o->max_length == CLASSIFIER_MAX_LENGTH_CONTEXT ? context : o->max_length;

    /* 6.2-6.3: the data sets and loaders */
    TextSet sets[3];
    load_splits(o, sets);
    if (sets[0].n == 0) fatal("the training set is empty");
    SpamDataset train_ds, val_ds, test_ds;
    spam_dataset_init(&train_ds, &sets[0], bpe, max_length, pad_id);
    spam_dataset_init(&val_ds, &sets[1], bpe, train_ds.max_length, pad_id);
    spam_dataset_init(&test_ds, &sets[2], bpe, train_ds.max_length, pad_id);
    const int T = train_ds.max_length;
    fprintf(stderr, "%d training, %d validation, %d test texts, padded to %d tokens (%d, %d, %d cut to it)\n", sets[0].n,
            sets[1].n, sets[2].n, T, train_ds.n_truncated, val_ds.n_truncated, test_ds.n_truncated);
    if (T > context)
        fatal("the texts are padded to %d tokens, more than the model's context of %d: give a smaller --max-length", T,
              context);
    SpamBatches train_batches, train_eval_batches, val_batches, test_batches;
    spam_batches_init(&train_batches, &train_ds, o->batch_size, true, true, o->seed, "training data");
    /* evaluation walks the training set in its own shuffled order, as a
     * fresh pass over the book's shuffling train_loader does */
    spam_batches_init(&train_eval_batches, &train_ds, o->batch_size, true, true, o->seed + 1, "training data");
    spam_batches_init(&val_batches, &val_ds, o->batch_size, false, false, 0, "validation data");
    spam_batches_init(&test_batches, &test_ds, o->batch_size, false, false, 0, "test data");
    fprintf(stderr, "%d training, %d validation, %d test batches\n", train_batches.order.n_batches,
            val_batches.order.n_batches, test_batches.order.n_batches);

    /* 6.5: the new head, all but the model's top frozen */
    make_dirs(o->out_dir); /* only now: a run refused above leaves no directory behind */
    const int L = gpt->config.n_layers;
    const int blocks = o->trainable_blocks == CLASSIFIER_TRAINABLE_ALL ? L : o->trainable_blocks;
    Classifier *c = classifier_create(gpt, 2, blocks, o->seed);
    c->token = o->token;
    rng_seed(&gpt->rng, o->seed + 2); /* dropout, if any */
    if (o->lora_rank > 0) classifier_use_lora(c, o->lora_rank, o->lora_alpha, o->seed + 3);
    Trainable trainable = {0};
    classifier_trainable(c, &trainable);
    /* the classifier's parameters: the GPT's, less an untied vocabulary head
     * (the new head replaces it; a tied one is the token embedding), and the new head */
    const size_t old_head = gpt->config.tie_weights ? 0 : (size_t)gpt->config.vocab_size * gpt->config.emb_dim;
    const size_t total = gpt->n_params - old_head + (size_t)c->n_classes * (gpt->config.emb_dim + 1);
    if (c->lora)
        fprintf(stderr, "%zu LoRA parameters train (rank %d, alpha %g); the model's %zu are frozen\n",
                trainable_count(&trainable), o->lora_rank, o->lora_alpha, total);
    else if (blocks == L) /* exercise 6.2: gpt_tail_range from block 0 holds the embeddings too */
        fprintf(stderr, "%zu of %zu parameters train (all: the embeddings, the %d blocks, the final norm, the head)\n",
                trainable_count(&trainable), total, L);
    else
        fprintf(stderr, "%zu of %zu parameters train (the last %d block%s, the final norm and the head)\n",
                trainable_count(&trainable), total, blocks, blocks == 1 ? "" : "s");
    fprintf(stderr, "the head reads the %s token's output\n", classifier_token_name(c->token));
    AdamWConfig adam = adamw_default_config();
    adam.lr = o->lr;
    adam.weight_decay = o->weight_decay;
    Optimizer optimizer = trainable_optimizer(&trainable, &adam);

    /* 6.7 */
    char *log_path = path_join(o->out_dir, "log.csv"), *acc_path = path_join(o->out_dir, "accuracy.csv");
    TrainRun run = {.global_step = -1, .log = loss_log_open(log_path, "examples_seen", -1)};
    FILE *acc_log = csv_log_open(acc_path, "epoch,examples_seen,train_accuracy,val_accuracy\n", -1);
    BatchLoader train_loader = spam_batches_loader(&train_batches),
                train_eval_loader = spam_batches_loader(&train_eval_batches),
                val_loader = spam_batches_loader(&val_batches), test_loader = spam_batches_loader(&test_batches);
    const double start_time = now_seconds();
    train_classifier_simple(c, &train_loader, &train_eval_loader, &val_loader, &optimizer, o->epochs, o->eval_freq,
                            o->eval_iter, &run, acc_log);
    fprintf(stderr, "Training completed in %.2f minutes.\n", (now_seconds() - start_time) / 60);
    csv_log_close(run.log, log_path);
    csv_log_close(acc_log, acc_path);

    /* 6.8: save the model, then the accuracies over the whole sets */
    char *ckpt_path = path_join(o->out_dir, "checkpoint.safetensors");
    classifier_merge_lora(c); /* W += (alpha/r) A B: a plain classifier */
    classifier_save(c, ckpt_path, T);
    fprintf(stderr, "wrote %s, %s and %s\n", log_path, acc_path, ckpt_path);
    Progress progress;
    progress_start(&progress, "evaluate", "sets", 3);
    float train_accuracy = calc_accuracy_loader(c, &train_eval_loader, 0);
    progress_update(&progress, 1);
    float val_accuracy = calc_accuracy_loader(c, &val_loader, 0);
    progress_update(&progress, 2);
    float test_accuracy = calc_accuracy_loader(c, &test_loader, 0);
    progress_finish(&progress);
    printf("Training accuracy: %.2f%%\nValidation accuracy: %.2f%%\nTest accuracy: %.2f%%\n", train_accuracy * 100,
           val_accuracy * 100, test_accuracy * 100);
    fflush(stdout);

    char *loss_png = path_join(o->out_dir, "loss.png"), *acc_png = path_join(o->out_dir, "accuracy.png");
    plot_csv("loss.gp", log_path, loss_png,
             "title='Classifier: training and validation loss'; x2label='Examples seen'");
    plot_csv("accuracy.gp", acc_path, acc_png, "title='Classifier: training and validation accuracy'");

    free(loss_png);
    free(acc_png);
    free(ckpt_path);
    free(log_path);
    free(acc_path);
    trainable_free(&trainable);
    classifier_free(c);
    spam_batches_free(&train_batches);
    spam_batches_free(&train_eval_batches);
    spam_batches_free(&val_batches);
    spam_batches_free(&test_batches);
    spam_dataset_free(&train_ds);
    spam_dataset_free(&val_ds);
    spam_dataset_free(&test_ds);
    for (int i = 0; i < 3; i++) textset_free(&sets[i]);
    bpe_free(bpe);
}
