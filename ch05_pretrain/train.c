/* train.c: see train.h. */
#include "train.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ch02_text/utf8.h"
#include "../ch04_gpt/generate.h"
#include "../common/util.h"
#include "adamw.h"
#include "gpt_weights.h"
#include "loss.h"

size_t split_by_characters(const char *text, size_t len, double ratio, size_t *train_chars) {
    size_t n_chars = 0;
    for (size_t i = 0; i < len; i++) n_chars += ((unsigned char)text[i] & 0xC0) != 0x80;
    size_t want = (size_t)(ratio * (double)n_chars), seen = 0, i = 0;
    for (; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (seen == want) break;
            seen++;
        }
    }
    if (train_chars) *train_chars = want;
    return i;
}

float calc_loss_batch(GPTModel *m, const int *inputs, const int *targets, int B, int T, bool backward) {
    gpt_forward(m, inputs, B, T);
    const int N = B * T, V = m->config.vocab_size;
    /* the softmax overwrites the logits: the backward pass needs only it */
    float loss = cross_entropy_forward(NULL, m->logits, m->logits, targets, N, V);
    if (backward) {
        cross_entropy_backward(m->logits, m->logits, targets, N, V);
        gpt_backward(m, m->logits);
    }
    return loss;
}

float calc_loss_loader(GPTModel *m, DataLoader *dl, int num_batches) {
    if (num_batches <= 0 || num_batches > dl->n_batches) num_batches = dl->n_batches;
    const int T = dl->ds->max_length;
    int *inputs = xmalloc((size_t)dl->batch_size * T * sizeof(int));
    int *targets = xmalloc((size_t)dl->batch_size * T * sizeof(int));
    loader_reset(dl);
    double total = 0.0;
    for (int b = 0; b < num_batches; b++) {
        int rows = loader_next(dl, inputs, targets);
        total += calc_loss_batch(m, inputs, targets, rows, T, false);
    }
    free(inputs);
    free(targets);
    return (float)(total / num_batches);
}

TrainOptions train_default_options(void) {
    return (TrainOptions){.epochs = 10,
                          .batch_size = 2,
                          .context = 256,
                          .lr = 4e-4f,
                          .weight_decay = 0.1f,
                          .dropout = 0.1f,
                          .seed = 123,
                          .out_dir = "runs/pretrain",
                          .shuffle = true,
                          .min_lr = 1e-5f,
                          .eval_freq = 5,
                          .eval_iter = 5,
                          .start_context = "Every effort moves you"};
}

/* ---- the run's settings, kept in its checkpoint ---------------------------- */

/* Every setting of `ch05 train` that shapes a run, named after its flag and
 * stored in the checkpoint's metadata as "train.option.<flag>", so that
 * `train --resume CKPT` continues the run with the settings it was started
 * with. A switch stores "true" when its flag was given (--no-shuffle turns
 * shuffle off, --no-samples turns quiet_samples on). The model's size is not
 * here: the checkpoint's configuration has it. */
typedef enum { SETTING_INT, SETTING_FLOAT, SETTING_SEED, SETTING_TEXT, SETTING_SWITCH_ON, SETTING_SWITCH_OFF } SettingKind;
typedef struct {
    const char *flag;
    SettingKind kind;
    size_t offset; /* of its field in TrainOptions */
} Setting;
#define SETTING(flag, kind, field) {flag, SETTING_##kind, offsetof(TrainOptions, field)}
static const Setting SETTINGS[] = {
    SETTING("data", TEXT, data_path),          SETTING("epochs", INT, epochs),
    SETTING("batch-size", INT, batch_size),    SETTING("context", INT, context),
    SETTING("lr", FLOAT, lr),                  SETTING("weight-decay", FLOAT, weight_decay),
    SETTING("dropout", FLOAT, dropout),        SETTING("seed", SEED, seed),
    SETTING("no-shuffle", SWITCH_OFF, shuffle), SETTING("warmup-ratio", FLOAT, warmup_ratio),
    SETTING("min-lr", FLOAT, min_lr),          SETTING("clip", FLOAT, clip),
    SETTING("eval-freq", INT, eval_freq),      SETTING("eval-iter", INT, eval_iter),
    SETTING("save-every", INT, save_every),    SETTING("start-context", TEXT, start_context),
    SETTING("no-samples", SWITCH_ON, quiet_samples),
};
enum { N_SETTINGS = sizeof SETTINGS / sizeof SETTINGS[0] };
#define SETTING_PREFIX "train.option."

/* A setting's value as text: in buf, or the text setting itself ("" when
 * unset). exact: floats with the 9 digits that bring them back bit for bit,
 * else the shortest %g for people. */
static const char *setting_value(const TrainOptions *o, const Setting *s, bool exact, char *buf, size_t size) {
    const char *field = (const char *)o + s->offset;
    switch (s->kind) {
    case SETTING_INT: snprintf(buf, size, "%d", *(const int *)field); break;
    case SETTING_FLOAT: snprintf(buf, size, exact ? "%.9g" : "%g", *(const float *)field); break;
    case SETTING_SEED: snprintf(buf, size, "%" PRIu64, *(const uint64_t *)field); break;
    case SETTING_TEXT: return *(const char *const *)field ? *(const char *const *)field : "";
    case SETTING_SWITCH_ON: return *(const bool *)field ? "true" : "false";
    case SETTING_SWITCH_OFF: return *(const bool *)field ? "false" : "true";
    }
    return buf;
}

static void setting_parse(TrainOptions *o, const Setting *s, const char *value, const char *path) {
    char *field = (char *)o + s->offset;
    long n;
    double x;
    bool ok = true, on = strcmp(value, "true") == 0;
    switch (s->kind) {
    case SETTING_INT:
        if ((ok = parse_long(value, 0, INT_MAX, &n))) *(int *)field = (int)n;
        break;
    case SETTING_FLOAT:
        if ((ok = parse_double(value, 0, FLT_MAX, &x))) *(float *)field = (float)x;
        break;
    case SETTING_SEED:
        if ((ok = parse_long(value, 0, LONG_MAX, &n))) *(uint64_t *)field = (uint64_t)n;
        break;
    case SETTING_TEXT: *(const char **)field = *value ? value : NULL; break;
    case SETTING_SWITCH_ON:
    case SETTING_SWITCH_OFF:
        ok = on || strcmp(value, "false") == 0;
        *(bool *)field = s->kind == SETTING_SWITCH_ON ? on : !on;
        break;
    }
    if (!ok) fatal("%s: bad metadata '" SETTING_PREFIX "%s': '%s'", path, s->flag, value);
}

void train_options_from_checkpoint(TrainOptions *o, const SafetensorsFile *sf) {
    int found = 0;
    for (int i = 0; i < N_SETTINGS; i++) {
        char key[64];
        snprintf(key, sizeof key, SETTING_PREFIX "%s", SETTINGS[i].flag);
        const char *value = safetensors_metadata(sf, key);
        if (value) setting_parse(o, &SETTINGS[i], value, sf->path), found++;
    }
    /* a checkpoint from before the settings were kept: the model's own
     * context at least, which is what such runs trained with */
    long context;
    if (!found && parse_long(safetensors_metadata(sf, "context_length"), 1, INT_MAX, &context)) o->context = (int)context;
}

static long meta_long(const SafetensorsFile *sf, const char *key) {
    const char *v = safetensors_metadata(sf, key);
    long out;
    if (!v || !parse_long(v, 0, 0x7fffffffffffL, &out))
        fatal("%s: not a training checkpoint (metadata '%s' is missing or bad)", sf->path, key);
    return out;
}

void train_print_resume(const SafetensorsFile *sf, const TrainOptions *saved, const TrainOptions *used) {
    bool kept = safetensors_metadata(sf, SETTING_PREFIX "context") != NULL;
    ByteBuf line = {0}, changed = {0};
    for (int i = 0; i < N_SETTINGS; i++) {
        const Setting *s = &SETTINGS[i];
        char buf[64], old_buf[64];
        const char *value = setting_value(used, s, false, buf, sizeof buf);
        if (strcmp(value, setting_value(saved, s, false, old_buf, sizeof old_buf)) != 0) {
            bytebuf_append(&changed, changed.len ? ", --" : " --", changed.len ? 4 : 3);
            bytebuf_append(&changed, s->flag, strlen(s->flag));
        }
        bool is_switch = s->kind == SETTING_SWITCH_ON || s->kind == SETTING_SWITCH_OFF;
        if (!*value || (is_switch && strcmp(value, "true") != 0)) continue; /* unset, or a switch that is off */
        bytebuf_append(&line, " --", 3);
        bytebuf_append(&line, s->flag, strlen(s->flag));
        if (is_switch) continue;
        bool quote = s->kind == SETTING_TEXT;
        bytebuf_append(&line, quote ? " '" : " ", quote ? 2 : 1);
        bytebuf_append(&line, value, strlen(value));
        if (quote) bytebuf_append(&line, "'", 1);
    }
    fprintf(stderr, "resuming %s after epoch %ld of %d:%s (%s%s%s)\n", sf->path, meta_long(sf, "train.epochs_done"),
            used->epochs, line.data,
            kept ? "from the checkpoint" : "an older checkpoint without its settings: defaults and the model's context",
            changed.len ? "; from the command line:" : "", changed.len ? changed.data : "");
    bytebuf_free(&line);
    bytebuf_free(&changed);
}

/* ---- checkpoints: the model, AdamW's moments, and where the run stands ---- */

typedef struct {
    int epochs_done;
    long global_step;
    long tokens_seen;
} RunState;

static void rng_to_hex(const Rng *rng, char *out, size_t size) {
    snprintf(out, size, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, rng->s[0], rng->s[1], rng->s[2],
             rng->s[3]);
}

static bool rng_from_hex(Rng *rng, const char *hex) {
    if (!hex || strlen(hex) != 64) return false;
    for (int i = 0; i < 4; i++) {
        char part[17];
        memcpy(part, hex + 16 * i, 16);
        part[16] = '\0';
        char *end;
        errno = 0;
        rng->s[i] = strtoull(part, &end, 16);
        if (errno || *end) return false;
    }
    return true;
}

/* settings: the run's options as they go into the checkpoint (see SETTINGS) */
static void save_checkpoint(const char *path, const GPTModel *m, const AdamW *opt, const RunState *st,
                            const DataLoader *train, const DataLoader *train_eval, const TrainOptions *settings) {
    enum { N_STATE = 7, N_META = N_STATE + N_SETTINGS };
    char epochs[32], step[32], tokens[32], adam_step[32], rng_model[80], rng_train[80], rng_eval[80];
    snprintf(epochs, sizeof epochs, "%d", st->epochs_done);
    snprintf(step, sizeof step, "%ld", st->global_step);
    snprintf(tokens, sizeof tokens, "%ld", st->tokens_seen);
    snprintf(adam_step, sizeof adam_step, "%ld", opt->step);
    rng_to_hex(&m->rng, rng_model, sizeof rng_model);
    rng_to_hex(&train->rng, rng_train, sizeof rng_train);
    rng_to_hex(&train_eval->rng, rng_eval, sizeof rng_eval);
    const char *keys[N_META] = {"train.epochs_done", "train.global_step", "train.tokens_seen", "train.adam_step",
                                "train.rng_dropout", "train.rng_shuffle", "train.rng_eval"};
    const char *values[N_META] = {epochs, step, tokens, adam_step, rng_model, rng_train, rng_eval};
    char setting_keys[N_SETTINGS][64], setting_values[N_SETTINGS][64];
    for (int i = 0; i < N_SETTINGS; i++) {
        snprintf(setting_keys[i], sizeof setting_keys[i], SETTING_PREFIX "%s", SETTINGS[i].flag);
        keys[N_STATE + i] = setting_keys[i];
        values[N_STATE + i] = setting_value(settings, &SETTINGS[i], true, setting_values[i], sizeof setting_values[i]);
    }
    const char *prefixes[] = {"optimizer.m.", "optimizer.v."};
    const float *buffers[] = {opt->m, opt->v};
    CheckpointExtras extras = {.n_buffers = 2,
                               .buffer_prefixes = prefixes,
                               .buffers = buffers,
                               .n_meta = N_META,
                               .meta_keys = keys,
                               .meta_values = values};
    gpt_save_checkpoint(m, path, &extras);
}

/* ---- the CSV log ------------------------------------------------------------ */

/* Open OUT/log.csv for appending. A fresh run starts it with its header; a
 * resumed run keeps the rows up to the checkpoint's step and drops later
 * ones (from a run that went on after the checkpoint was written). */
static FILE *open_log(const char *path, bool resumed, long last_step) {
    ByteBuf kept = {0};
    bytebuf_append(&kept, "step,epoch,tokens_seen,train_loss,val_loss,lr\n", 46);
    if (resumed && file_exists(path)) {
        char *old = read_file(path, NULL);
        /* whole lines only: a row cut short by a crash has no newline yet */
        for (char *line = old, *end; (end = strchr(line, '\n')) != NULL; line = end + 1) {
            *end = '\0';
            long step;
            char *comma = strchr(line, ',');
            if (!comma) continue;
            *comma = '\0';
            bool keep = parse_long(line, 0, 0x7fffffffffffL, &step) && step <= last_step;
            *comma = ',';
            if (keep) {
                bytebuf_append(&kept, line, strlen(line));
                bytebuf_append(&kept, "\n", 1);
            }
        }
        free(old);
    }
    write_file_atomic(path, kept.data, kept.len);
    bytebuf_free(&kept);
    FILE *f = xfopen(path, "a");
    return f;
}

/* ---- sample after each epoch ---------------------------------------------------- */

static void print_sample(GPTModel *m, const Bpe *bpe, const char *start_context) {
    IntVec ids = {0};
    bpe_encode((Bpe *)bpe, start_context, strlen(start_context), false, &ids);
    const int max_new = 50;
    int *seq = xmalloc((ids.len + max_new) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    bool was_training = m->training;
    m->training = false;
    int n = generate_greedy(m, seq, (int)ids.len, max_new, true, NULL, NULL);
    m->training = was_training;
    ByteBuf text = {0};
    bpe_decode(bpe, seq, n, &text, NULL);
    for (size_t i = 0; i < text.len; i++)
        if (text.data[i] == '\n') text.data[i] = ' '; /* the book prints it on one line */
    printf("%s\n", text.data ? text.data : "");
    fflush(stdout);
    bytebuf_free(&text);
    free(seq);
    intvec_free(&ids);
}

/* Draw OUT/loss.png with plots/loss.gp, and a terminal preview on stderr,
 * when gnuplot is installed. */
static void plot_losses(const char *out_dir) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "gnuplot is not installed: no plot (apt-get install gnuplot-nox, then `make plot`)\n");
        return;
    }
    char *script = path_join(checkout_root(), "plots/loss.gp");
    char *csv = path_join(out_dir, "log.csv"), *png = path_join(out_dir, "loss.png");
    size_t n = strlen(script) + strlen(csv) + strlen(png) + 128;
    char *command = xmalloc(n);
    snprintf(command, n, "gnuplot -e \"csv='%s'; out='%s'\" '%s' && gnuplot -e \"csv='%s'; out='-'\" '%s' >&2", csv,
             png, script, csv, script);
    if (system(command) == 0) fprintf(stderr, "wrote %s\n", png);
    else fprintf(stderr, "gnuplot failed: no plot\n");
    free(command);
    free(script);
    free(csv);
    free(png);
}

/* ---- a loss that is no longer a number ------------------------------------------- */

/* Once the loss is NaN or infinite the weights are lost and every later step
 * stays so: stop, naming where it happened, before anything is saved. */
static void check_loss(float loss, int epoch, long step) {
    if (!isfinite(loss))
        fatal("train: loss is %s at epoch %d step %ld (learning rate too high?)", isnan(loss) ? "nan" : "inf", epoch,
              step);
}

/* The update after the last loss check of an epoch can still blow the
 * weights up, and a checkpoint of such a model would only make the run that
 * resumes from it fail. So before saving: the weights must be numbers and
 * give a finite loss on the batch just trained on (a forward pass without
 * dropout: it draws no random numbers, so resuming stays exact). */
static void check_before_save(GPTModel *m, const int *inputs, const int *targets, int rows, int T, int epoch,
                              long step, const char *ckpt_path) {
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            fatal("train: the weights are not finite after epoch %d step %ld (learning rate too high?); %s is left "
                  "as it was",
                  epoch, step, ckpt_path);
    if (rows == 0) return; /* an epoch without batches changed nothing */
    float loss = calc_loss_batch(m, inputs, targets, rows, T, false);
    if (!isfinite(loss))
        fatal("train: loss is %s after epoch %d step %ld (learning rate too high?); %s is left as it was",
              isnan(loss) ? "nan" : "inf", epoch, step, ckpt_path);
}

/* ---- the loop ---------------------------------------------------------------------- */

static GPTModel *initial_model(const TrainOptions *opt, SafetensorsFile **resume_file) {
    GPTModel *m;
    if (opt->resume) {
        m = gpt_load_checkpoint(opt->resume, resume_file);
    } else if (opt->init_model) {
        m = gpt_load_any(opt->init_model);
    } else {
        GPTConfig c = gpt_config_124m();
        c.context_length = opt->context;
        if (opt->emb_dim) c.emb_dim = opt->emb_dim;
        if (opt->n_layers) c.n_layers = opt->n_layers;
        if (opt->n_heads) c.n_heads = opt->n_heads;
        c.drop_rate = opt->dropout;
        m = gpt_create(&c);
        gpt_init_weights(m, opt->seed);
    }
    if (opt->context > m->config.context_length)
        fatal("--context %d is longer than the model's context of %d", opt->context, m->config.context_length);
    m->config.drop_rate = opt->dropout;
    return m;
}

float train_model(const TrainOptions *opt) {
    char *data_path = opt->data_path ? xstrdup(opt->data_path) : data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(data_path, &len);
    Bpe *bpe = bpe_load_gpt2();

    /* 5.1.2: 90% of the characters for training, the rest for validation */
    size_t train_chars;
    size_t split = split_by_characters(text, len, 0.90, &train_chars);
    IntVec train_ids = {0}, val_ids = {0};
    bpe_encode(bpe, text, split, false, &train_ids);
    bpe_encode(bpe, text + split, len - split, false, &val_ids);
    fprintf(stderr, "%s: %zu characters for training, %zu tokens; %zu for validation\n", data_path, train_chars,
            train_ids.len, val_ids.len);

    /* the checkpoints keep the settings, the data file by its absolute path so
     * a resumed run finds it from any directory */
    TrainOptions settings = *opt;
    char *data_abs = opt->data_path ? realpath(opt->data_path, NULL) : NULL;
    settings.data_path = data_abs;

    SafetensorsFile *resume_file = NULL;
    GPTModel *m = initial_model(opt, &resume_file);
    const GPTConfig *c = &m->config;
    if (c->vocab_size != bpe_vocab_size(bpe))
        fatal("the model's vocabulary (%d) is not GPT-2's tokenizer's (%d)", c->vocab_size, bpe_vocab_size(bpe));

    char err[256];
    TokenDataset train_ds, val_ds;
    DataLoader train_dl, train_eval_dl, val_dl;
    if (!dataset_init(&train_ds, train_ids.data, train_ids.len, opt->context, opt->context, err, sizeof err))
        fatal("training data: %s", err);
    if (!dataset_init(&val_ds, val_ids.data, val_ids.len, opt->context, opt->context, err, sizeof err))
        fatal("validation data: %s", err);
    if (!loader_init(&train_dl, &train_ds, opt->batch_size, opt->shuffle, true, opt->seed, err, sizeof err))
        fatal("training loader: %s", err);
    /* evaluation walks the training set in its own shuffled order, as a
     * fresh pass over a shuffling PyTorch DataLoader would */
    if (!loader_init(&train_eval_dl, &train_ds, opt->batch_size, opt->shuffle, true, opt->seed + 1, err, sizeof err) ||
        !loader_init(&val_dl, &val_ds, opt->batch_size, false, false, 0, err, sizeof err))
        fatal("loaders: %s", err);
    fprintf(stderr, "%d training batches, %d validation batches per epoch\n", train_dl.n_batches, val_dl.n_batches);

    AdamW optim;
    adamw_init(&optim, m->n_params);
    AdamWConfig adam = adamw_default_config();
    adam.lr = opt->lr;
    adam.weight_decay = opt->weight_decay;
    RunState st = {0, -1, 0};
    rng_seed(&m->rng, opt->seed + 2);
    if (resume_file) {
        st.epochs_done = (int)meta_long(resume_file, "train.epochs_done");
        st.global_step = meta_long(resume_file, "train.global_step");
        st.tokens_seen = meta_long(resume_file, "train.tokens_seen");
        optim.step = meta_long(resume_file, "train.adam_step");
        gpt_checkpoint_read_buffer(resume_file, m, "optimizer.m.", optim.m);
        gpt_checkpoint_read_buffer(resume_file, m, "optimizer.v.", optim.v);
        if (!rng_from_hex(&m->rng, safetensors_metadata(resume_file, "train.rng_dropout")) ||
            !rng_from_hex(&train_dl.rng, safetensors_metadata(resume_file, "train.rng_shuffle")) ||
            !rng_from_hex(&train_eval_dl.rng, safetensors_metadata(resume_file, "train.rng_eval")))
            fatal("%s: not a training checkpoint (bad random generator state)", opt->resume);
        safetensors_close(resume_file);
    }

    make_dirs(opt->out_dir);
    remove_stale_temp_files(opt->out_dir); /* left by a run that was killed while saving */
    char *log_path = path_join(opt->out_dir, "log.csv");
    char *ckpt_path = path_join(opt->out_dir, "checkpoint.safetensors");
    FILE *log = open_log(log_path, opt->resume != NULL, st.global_step);

    const long steps_per_epoch = train_dl.n_batches, total_steps = steps_per_epoch * opt->epochs;
    LrSchedule schedule = {.initial_lr = 1e-4f < opt->lr ? 1e-4f : opt->lr,
                           .peak_lr = opt->lr,
                           .min_lr = opt->min_lr,
                           .warmup_steps = (long)(opt->warmup_ratio * total_steps),
                           .total_steps = total_steps};
    const int T = opt->context, B = opt->batch_size;
    int *inputs = xmalloc((size_t)B * T * sizeof(int)), *targets = xmalloc((size_t)B * T * sizeof(int));
    float val_loss = NAN;
    Progress progress;
    progress_start(&progress, "train", "steps", total_steps);
    progress_update(&progress, st.global_step + 1);
    gpt_zero_grad(m);
    for (int epoch = st.epochs_done; epoch < opt->epochs; epoch++) {
        loader_reset(&train_dl);
        int rows = 0;
        for (int next; (next = loader_next(&train_dl, inputs, targets)) > 0;) {
            rows = next; /* the batch stays in inputs/targets for check_before_save */
            long step = st.global_step + 1;
            float lr = opt->warmup_ratio > 0 ? lr_at_step(&schedule, step) : opt->lr;
            m->training = true;
            gpt_zero_grad(m);
            float loss = calc_loss_batch(m, inputs, targets, rows, T, true);
            check_loss(loss, epoch + 1, step);
            if (opt->clip > 0 && step >= schedule.warmup_steps) clip_grad_norm(m->grads, m->n_params, opt->clip);
            adamw_step(&optim, m->params, m->grads, &adam, lr);
            st.tokens_seen += (long)rows * T;
            st.global_step = step;
            progress_update(&progress, step + 1);
            if (step % opt->eval_freq == 0) {
                m->training = false;
                float train_loss = calc_loss_loader(m, &train_eval_dl, opt->eval_iter);
                val_loss = calc_loss_loader(m, &val_dl, opt->eval_iter);
                progress_clear(&progress);
                printf("Ep %d (Step %06ld): Train loss %.3f, Val loss %.3f\n", epoch + 1, step, train_loss, val_loss);
                fflush(stdout);
                fprintf(log, "%ld,%.4f,%ld,%.6f,%.6f,%.8g\n", step, (double)(step + 1) / steps_per_epoch, st.tokens_seen,
                        train_loss, val_loss, lr);
                fflush(log);
            }
        }
        st.epochs_done = epoch + 1;
        m->training = false;
        if (!opt->quiet_samples) {
            progress_clear(&progress);
            print_sample(m, bpe, opt->start_context);
        }
        if (st.epochs_done == opt->epochs || (opt->save_every > 0 && st.epochs_done % opt->save_every == 0)) {
            check_before_save(m, inputs, targets, rows, T, epoch + 1, st.global_step, ckpt_path);
            save_checkpoint(ckpt_path, m, &optim, &st, &train_dl, &train_eval_dl, &settings);
        }
    }
    progress_finish(&progress);
    if (fclose(log) != 0) fatal("%s: write failed", log_path);
    fprintf(stderr, "wrote %s and %s\n", log_path, ckpt_path);
    plot_losses(opt->out_dir);

    free(inputs);
    free(targets);
    free(log_path);
    free(ckpt_path);
    adamw_free(&optim);
    loader_free(&train_dl);
    loader_free(&train_eval_dl);
    loader_free(&val_dl);
    gpt_free(m);
    intvec_free(&train_ids);
    intvec_free(&val_ids);
    bpe_free(bpe);
    free(text);
    free(data_path);
    free(data_abs);
    return val_loss;
}
