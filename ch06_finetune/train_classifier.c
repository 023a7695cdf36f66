/* train_classifier.c: see train_classifier.h. */
#include "train_classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A batch's buffers: ids (B, max_length) and labels (B). */
typedef struct {
    int *ids, *labels;
} Batch;

/* The mean loss and the accuracy over the loader's first num_batches
 * batches (all when num_batches <= 0), in evaluation mode: the book's
 * calc_loss_loader and calc_accuracy_loader in one pass. */
static void evaluate(Classifier *c, const SpamDataset *ds, ExampleLoader *dl, int num_batches, Batch *buf, float *loss,
                     float *accuracy) {
    if (num_batches <= 0 || num_batches > dl->n_batches) num_batches = dl->n_batches;
    bool was_training = c->gpt->training;
    c->gpt->training = false;
    example_loader_reset(dl);
    double total = 0.0;
    long correct = 0, seen = 0;
    const int *idx;
    for (int b = 0, n; b < num_batches && (n = example_loader_next(dl, &idx)) > 0; b++) {
        spam_dataset_batch(ds, idx, n, buf->ids, buf->labels);
        int right;
        total += classifier_loss_batch(c, buf->ids, buf->labels, n, ds->max_length, false, &right);
        correct += right;
        seen += n;
    }
    c->gpt->training = was_training;
    if (loss) *loss = (float)(total / num_batches);
    if (accuracy) *accuracy = seen ? (float)correct / (float)seen : NAN;
}

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
    for (int i = 0; i < 3; i++) {
        char *path = path_join(o->out_dir, names[i]);
        textset_write_csv(&sets[i], path);
        free(path);
    }
    fprintf(stderr, "%s: wrote the balanced splits to %s/{train,validation,test}.csv\n", sms, o->out_dir);
    free(sms);
}

ClassifierRunResult train_classifier(const ClassifierTrainOptions *o) {
    ClassifierRunResult result = {NAN, NAN, NAN, NAN, NAN};
    make_dirs(o->out_dir);
    Bpe *bpe = bpe_load_gpt2();
    const int pad_id = bpe_eot_id(bpe);

    /* 6.2-6.3: the data sets and loaders */
    TextSet sets[3];
    load_splits(o, sets);
    if (sets[0].n == 0) fatal("the training set is empty");
    SpamDataset train_ds, val_ds, test_ds;
    spam_dataset_init(&train_ds, &sets[0], bpe, o->max_length, pad_id);
    spam_dataset_init(&val_ds, &sets[1], bpe, train_ds.max_length, pad_id);
    spam_dataset_init(&test_ds, &sets[2], bpe, train_ds.max_length, pad_id);
    const int T = train_ds.max_length;
    fprintf(stderr, "%d training, %d validation, %d test texts, padded to %d tokens (%d, %d, %d cut to it)\n", sets[0].n,
            sets[1].n, sets[2].n, T, train_ds.n_truncated, val_ds.n_truncated, test_ds.n_truncated);
    ExampleLoader train_dl, train_eval_dl, val_dl, test_dl;
    char err[160];
    if (!example_loader_init(&train_dl, train_ds.n, o->batch_size, true, true, o->seed, err, sizeof err))
        fatal("training data: %s", err);
    /* evaluation walks the training set in its own shuffled order, as a
     * fresh pass over the book's shuffling train_loader does */
    if (!example_loader_init(&train_eval_dl, train_ds.n, o->batch_size, true, true, o->seed + 1, err, sizeof err))
        fatal("training data: %s", err);
    if (!example_loader_init(&val_dl, val_ds.n, o->batch_size, false, false, 0, err, sizeof err))
        fatal("validation data: %s", err);
    if (!example_loader_init(&test_dl, test_ds.n, o->batch_size, false, false, 0, err, sizeof err))
        fatal("test data: %s", err);
    fprintf(stderr, "%d training, %d validation, %d test batches\n", train_dl.n_batches, val_dl.n_batches,
            test_dl.n_batches);

    /* 6.4-6.5: the model with its new head, all but its top frozen */
    GPTModel *gpt = finetune_load_model(&o->model, "124M", bpe_vocab_size(bpe));
    if (T > gpt->config.context_length)
        fatal("the texts are padded to %d tokens, more than the model's context of %d: give a smaller --max-length", T,
              gpt->config.context_length);
    Classifier *c = classifier_create(gpt, 2, o->trainable_blocks, o->seed);
    rng_seed(&gpt->rng, o->seed + 2); /* dropout, if any */
    if (o->lora_rank > 0) classifier_use_lora(c, o->lora_rank, o->lora_alpha, o->seed + 3);
    Trainable trainable = {0};
    classifier_trainable(c, &trainable);
    const size_t total = gpt->n_params + (size_t)c->n_classes * (gpt->config.emb_dim + 1);
    if (c->lora)
        fprintf(stderr, "%zu LoRA parameters train (rank %d, alpha %g); the model's %zu are frozen\n",
                trainable_count(&trainable), o->lora_rank, o->lora_alpha, total);
    else
        fprintf(stderr, "%zu of %zu parameters train (the last %d block%s, the final norm and the head)\n",
                trainable_count(&trainable), total, o->trainable_blocks, o->trainable_blocks == 1 ? "" : "s");
    AdamWConfig adam = adamw_default_config();
    adam.lr = o->lr;
    adam.weight_decay = o->weight_decay;

    /* 6.7 train_classifier_simple */
    char *log_path, *acc_path;
    FILE *log = finetune_open_csv(o->out_dir, "log.csv", "step,epoch,examples_seen,train_loss,val_loss,lr\n", &log_path);
    FILE *acc_log = finetune_open_csv(o->out_dir, "accuracy.csv", "epoch,examples_seen,train_accuracy,val_accuracy\n",
                                      &acc_path);
    Batch buf = {xmalloc((size_t)o->batch_size * T * sizeof(int)), xmalloc((size_t)o->batch_size * sizeof(int))};
    const long steps_per_epoch = train_dl.n_batches, total_steps = steps_per_epoch * o->epochs;
    long global_step = -1, examples_seen = 0;
    Progress progress;
    progress_start(&progress, "train", "steps", total_steps);
    const double t0 = now_seconds();
    for (int epoch = 0; epoch < o->epochs; epoch++) {
        example_loader_reset(&train_dl);
        const int *idx;
        for (int n; (n = example_loader_next(&train_dl, &idx)) > 0;) {
            gpt->training = true;
            spam_dataset_batch(&train_ds, idx, n, buf.ids, buf.labels);
            trainable_zero_grad(&trainable);
            float loss = classifier_loss_batch(c, buf.ids, buf.labels, n, T, true, NULL);
            if (!isfinite(loss)) fatal("the training loss became %g at step %ld: lower --lr", loss, global_step + 1);
            trainable_step(&trainable, &adam, o->lr);
            examples_seen += n;
            global_step++;
            progress_update(&progress, global_step + 1);
            if (global_step % o->eval_freq == 0) {
                float train_loss, val_loss;
                evaluate(c, &train_ds, &train_eval_dl, o->eval_iter, &buf, &train_loss, NULL);
                evaluate(c, &val_ds, &val_dl, o->eval_iter, &buf, &val_loss, NULL);
                if (isnan(result.first_train_loss)) result.first_train_loss = train_loss;
                result.last_train_loss = train_loss;
                progress_clear(&progress);
                printf("Ep %d (Step %06ld): Train loss %.3f, Val loss %.3f\n", epoch + 1, global_step, train_loss,
                       val_loss);
                fflush(stdout);
                fprintf(log, "%ld,%.4f,%ld,%.6f,%.6f,%.8g\n", global_step, (double)(global_step + 1) / steps_per_epoch,
                        examples_seen, train_loss, val_loss, o->lr);
                fflush(log);
            }
        }
        /* the accuracies after each epoch, over eval_iter batches */
        float train_acc, val_acc;
        evaluate(c, &train_ds, &train_eval_dl, o->eval_iter, &buf, NULL, &train_acc);
        evaluate(c, &val_ds, &val_dl, o->eval_iter, &buf, NULL, &val_acc);
        progress_clear(&progress);
        printf("Training accuracy: %.2f%% | Validation accuracy: %.2f%%\n", train_acc * 100, val_acc * 100);
        fflush(stdout);
        fprintf(acc_log, "%d,%ld,%.6f,%.6f\n", epoch + 1, examples_seen, train_acc, val_acc);
        fflush(acc_log);
    }
    progress_finish(&progress);
    fprintf(stderr, "Training completed in %.2f minutes.\n", (now_seconds() - t0) / 60);
    finetune_close_csv(log, log_path);
    finetune_close_csv(acc_log, acc_path);

    /* 6.8: save the model, then the accuracies over the whole sets */
    char *ckpt_path = path_join(o->out_dir, "checkpoint.safetensors");
    classifier_merge_lora(c); /* W += (alpha/r) A B: a plain classifier */
    classifier_save(c, ckpt_path, T);
    fprintf(stderr, "wrote %s, %s and %s\n", log_path, acc_path, ckpt_path);
    Progress eval_progress;
    progress_start(&eval_progress, "evaluate", "sets", 3);
    evaluate(c, &train_ds, &train_eval_dl, 0, &buf, NULL, &result.train_accuracy);
    progress_update(&eval_progress, 1);
    evaluate(c, &val_ds, &val_dl, 0, &buf, NULL, &result.val_accuracy);
    progress_update(&eval_progress, 2);
    evaluate(c, &test_ds, &test_dl, 0, &buf, NULL, &result.test_accuracy);
    progress_finish(&eval_progress);
    printf("Training accuracy: %.2f%%\nValidation accuracy: %.2f%%\nTest accuracy: %.2f%%\n",
           result.train_accuracy * 100, result.val_accuracy * 100, result.test_accuracy * 100);
    fflush(stdout);

    char *loss_png = path_join(o->out_dir, "loss.png"), *acc_png = path_join(o->out_dir, "accuracy.png");
    finetune_plot("loss.gp", log_path, loss_png, "title='Classifier: training and validation loss'; x2label='Examples seen'");
    finetune_plot("accuracy.gp", acc_path, acc_png, "title='Classifier: training and validation accuracy'");

    free(loss_png);
    free(acc_png);
    free(ckpt_path);
    free(log_path);
    free(acc_path);
    free(buf.ids);
    free(buf.labels);
    trainable_free(&trainable);
    classifier_free(c);
    example_loader_free(&train_dl);
    example_loader_free(&train_eval_dl);
    example_loader_free(&val_dl);
    example_loader_free(&test_dl);
    spam_dataset_free(&train_ds);
    spam_dataset_free(&val_ds);
    spam_dataset_free(&test_ds);
    for (int i = 0; i < 3; i++) textset_free(&sets[i]);
    bpe_free(bpe);
    return result;
}
