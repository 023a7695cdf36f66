/* pretrain.c: see pretrain.h. */
#include "pretrain.h"

#include <errno.h>
#include <signal.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "../ch02_text/dataloader.h"
#include "../ch02_text/utf8.h"
#include "../common/util.h"
#include "adamw.h"
#include "corpus.h"
#include "data_parallel.h"
#include "gpt_weights.h"
#include "shard_loader.h"
#include "train.h"

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
                          .initial_lr = 1e-4f,
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
    SETTING("data", TEXT, data_path),           SETTING("epochs", INT, epochs),
    SETTING("batch-size", INT, batch_size),     SETTING("context", INT, context),
    SETTING("lr", FLOAT, lr),                   SETTING("weight-decay", FLOAT, weight_decay),
    SETTING("dropout", FLOAT, dropout),         SETTING("seed", SEED, seed),
    SETTING("no-shuffle", SWITCH_OFF, shuffle), SETTING("warmup-ratio", FLOAT, warmup_ratio),
    SETTING("initial-lr", FLOAT, initial_lr),   SETTING("min-lr", FLOAT, min_lr),
    SETTING("no-decay", SWITCH_ON, no_decay),   SETTING("clip", FLOAT, clip),
    SETTING("eval-freq", INT, eval_freq),
    SETTING("eval-iter", INT, eval_iter),       SETTING("save-every", INT, save_every),
    SETTING("start-context", TEXT, start_context), SETTING("no-samples", SWITCH_ON, quiet_samples),
    SETTING("max-steps", INT, max_steps),       SETTING("total-batch", INT, total_batch),
    SETTING("checkpoint-every", INT, checkpoint_every),
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
    if (safetensors_metadata(sf, "train.shard_position")) /* a run from shards counts steps */
        fprintf(stderr, "resuming %s after step %ld of %d:", sf->path, meta_long(sf, "train.global_step") + 1,
                used->max_steps);
    else
        fprintf(stderr, "resuming %s after epoch %ld of %d:", sf->path, meta_long(sf, "train.epochs_done"), used->epochs);
    fprintf(stderr, "%s (%s%s%s)\n", line.data,
            kept ? "from the checkpoint" : "an older checkpoint without its settings: defaults and the model's context",
            changed.len ? "; from the command line:" : "", changed.len ? changed.data : "");
    bytebuf_free(&line);
    bytebuf_free(&changed);
}

/* ---- 5.2's data loaders: chapter 2's token windows, a batch at a time ----------- */

static void token_batches_init(TokenBatches *tb, const TokenDataset *ds, int batch_size, bool shuffle,
                               bool drop_last, uint64_t seed, const char *what) {
    char err[256];
    if (!loader_init(&tb->loader, ds, batch_size, shuffle, drop_last, seed, err, sizeof err))
        fatal("%s: %s", what, err);
    tb->inputs = xmalloc((size_t)batch_size * ds->max_length * sizeof(int));
    tb->targets = xmalloc((size_t)batch_size * ds->max_length * sizeof(int));
}

static void token_batches_reset(void *self) { loader_reset(&((TokenBatches *)self)->loader); }

static bool token_batches_next(void *self, Batch *batch) {
    TokenBatches *tb = self;
    int rows = loader_next(&tb->loader, tb->inputs, tb->targets);
    if (rows == 0) return false;
    *batch = (Batch){.B = rows, .T = tb->loader.ds->max_length, .inputs = tb->inputs, .targets = tb->targets};
    return true;
}

BatchLoader token_batches_loader(TokenBatches *tb) {
    return (BatchLoader){.n_batches = tb->loader.n_batches,
                         .reset = token_batches_reset,
                         .next = token_batches_next,
                         .self = tb};
}

static void token_batches_free(TokenBatches *tb) {
    loader_free(&tb->loader);
    free(tb->inputs);
    free(tb->targets);
}

/* ---- 5.2's optimizer: AdamW over every parameter of the model ----------------- */

typedef struct {
    GPTModel *model;
    AdamW adamw; /* its moments and step count */
} ModelAdamW;

static void model_adamw_zero_grad(void *params) { gpt_zero_grad(((ModelAdamW *)params)->model); }

static void model_adamw_step(void *params, const AdamWConfig *config) {
    ModelAdamW *o = params;
    adamw_step(&o->adamw, o->model->params, o->model->grads, config, config->lr);
}

/* torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1): over
 * every parameter of m, with the run's rate and decay. */
static Optimizer model_adamw_optimizer(ModelAdamW *adamw, GPTModel *m, const TrainOptions *opt) {
    *adamw = (ModelAdamW){.model = m};
    adamw_init(&adamw->adamw, m->n_params);
    Optimizer optimizer = {.config = adamw_default_config(),
                           .zero_grad = model_adamw_zero_grad,
                           .step = model_adamw_step,
                           .params = adamw};
    optimizer.config.lr = opt->lr;
    optimizer.config.weight_decay = opt->weight_decay;
    return optimizer;
}

/* ---- 5.4 checkpoints: the model, AdamW's moments, and where the run stands ---- */

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

/* Where the checkpoint goes, and what it holds beside the model: AdamW's
 * state, where the loaders stand and the run's settings. */
typedef struct {
    const char *path;
    const ModelAdamW *optimizer;
    const DataLoader *train, *train_eval;          /* a run from text: their shuffling generators */
    const ShardBatches *shard_train, *shard_eval;  /* a run from shards: their epochs and batches */
    const TrainOptions *settings;                  /* as they go into the checkpoint (see SETTINGS) */
} Checkpoint;

static void save_checkpoint(const Checkpoint *ckpt, const TrainRun *run) {
    const GPTModel *m = ckpt->optimizer->model;
    const AdamW *adamw = &ckpt->optimizer->adamw;
    enum { N_STATE = 7, N_META = N_STATE + N_SETTINGS };
    char epochs[32], step[32], tokens[32], adam_step[32], rng_model[80], position[2][80];
    snprintf(epochs, sizeof epochs, "%d", run->epochs_done);
    snprintf(step, sizeof step, "%ld", run->global_step);
    snprintf(tokens, sizeof tokens, "%ld", run->seen);
    snprintf(adam_step, sizeof adam_step, "%ld", adamw->step);
    rng_to_hex(&m->rng, rng_model, sizeof rng_model);
    const char *keys[N_META] = {"train.epochs_done", "train.global_step", "train.tokens_seen", "train.adam_step",
                                "train.rng_dropout"};
    const char *values[N_META] = {epochs, step, tokens, adam_step, rng_model, position[0], position[1]};
    if (ckpt->shard_train) {
        /* dropout draws from a generator seeded for each micro-batch, and the
         * shards' orders follow from the seed and the epoch: where each
         * loader is is all there is to keep */
        keys[4] = "train.dropout";
        values[4] = "seeded by (seed, step, micro-batch)";
        keys[5] = "train.shard_position";
        keys[6] = "train.eval_epoch";
        snprintf(position[0], sizeof position[0], "%ld:%ld", ckpt->shard_train->epoch, ckpt->shard_train->next_batch);
        snprintf(position[1], sizeof position[1], "%ld", ckpt->shard_eval->epoch);
    } else {
        keys[5] = "train.rng_shuffle";
        keys[6] = "train.rng_eval";
        rng_to_hex(&ckpt->train->rng, position[0], sizeof position[0]);
        rng_to_hex(&ckpt->train_eval->rng, position[1], sizeof position[1]);
    }
    char setting_keys[N_SETTINGS][64], setting_values[N_SETTINGS][64];
    for (int i = 0; i < N_SETTINGS; i++) {
        snprintf(setting_keys[i], sizeof setting_keys[i], SETTING_PREFIX "%s", SETTINGS[i].flag);
        keys[N_STATE + i] = setting_keys[i];
        values[N_STATE + i] =
            setting_value(ckpt->settings, &SETTINGS[i], true, setting_values[i], sizeof setting_values[i]);
    }
    const char *prefixes[] = {"optimizer.m.", "optimizer.v."};
    const float *buffers[] = {adamw->m, adamw->v};
    CheckpointExtras extras = {.n_buffers = 2,
                               .buffer_prefixes = prefixes,
                               .buffers = buffers,
                               .n_meta = N_META,
                               .meta_keys = keys,
                               .meta_values = values};
    gpt_save_checkpoint(m, ckpt->path, &extras);
}

/* A resumed run goes on from where its checkpoint sf left off: its step
 * and token counts and AdamW's moments. */
static void resume_run_state(SafetensorsFile *sf, TrainRun *run, ModelAdamW *optimizer) {
    GPTModel *m = optimizer->model;
    run->epochs_done = (int)meta_long(sf, "train.epochs_done");
    run->global_step = meta_long(sf, "train.global_step");
    run->seen = meta_long(sf, "train.tokens_seen");
    optimizer->adamw.step = meta_long(sf, "train.adam_step");
    gpt_checkpoint_read_buffer(sf, m, "optimizer.m.", optimizer->adamw.m);
    gpt_checkpoint_read_buffer(sf, m, "optimizer.v.", optimizer->adamw.v);
}

/* A run from text also restores its generators: dropout's and both shufflings'. */
static void resume_from(SafetensorsFile *sf, TrainRun *run, ModelAdamW *optimizer, DataLoader *train,
                        DataLoader *train_eval) {
    GPTModel *m = optimizer->model;
    resume_run_state(sf, run, optimizer);
    if (!rng_from_hex(&m->rng, safetensors_metadata(sf, "train.rng_dropout")) ||
        !rng_from_hex(&train->rng, safetensors_metadata(sf, "train.rng_shuffle")) ||
        !rng_from_hex(&train_eval->rng, safetensors_metadata(sf, "train.rng_eval")))
        fatal("%s: not a training checkpoint (bad random generator state)", sf->path);
}

/* The update after the last loss check of an epoch can still blow the
 * weights up, and a checkpoint of such a model would only make the run that
 * resumes from it fail. So before saving: the weights must be numbers and
 * give a finite loss on the batch just trained on (a forward pass without
 * dropout: it draws no random numbers, so resuming stays exact). */
static void check_before_save(GPTModel *m, const Batch *last_batch, int epoch, long step, const char *ckpt_path) {
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params[i]))
            fatal("train: the weights are not finite after epoch %d step %ld (learning rate too high?); %s is left "
                  "as it was",
                  epoch, step, ckpt_path);
    if (last_batch->B == 0) return; /* an epoch without batches changed nothing */
    m->training = false;
    float loss = calc_loss_batch(m, last_batch->inputs, last_batch->targets, last_batch->B, last_batch->T, false);
    if (!isfinite(loss))
        fatal("train: loss is %s after epoch %d step %ld (learning rate too high?); %s is left as it was",
              isnan(loss) ? "nan" : "inf", epoch, step, ckpt_path);
}

/* The run's after_epoch: the checkpoint after the last epoch, and after
 * every save_every-th. */
static void save_after_epoch(void *user, const TrainRun *run, const Batch *last_batch) {
    const Checkpoint *ckpt = user;
    const int done = run->epochs_done, save_every = ckpt->settings->save_every;
    if (done != ckpt->settings->epochs && !(save_every > 0 && done % save_every == 0)) return;
    check_before_save(ckpt->optimizer->model, last_batch, done, run->global_step, ckpt->path);
    save_checkpoint(ckpt, run);
}

/* ---- the run ------------------------------------------------------------------------ */

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

/* The run's loop: appendix D's train_model over total_steps when a warm-up
 * or clipping is asked for, else the book's train_model_simple. announce:
 * print the schedule on stderr. */
static void train_with_options(const Model *model, BatchLoader *train_loader, BatchLoader *train_eval_loader,
                               BatchLoader *val_loader, Optimizer *optimizer, const TrainOptions *opt, int epochs,
                               long total_steps, Bpe *tokenizer, TrainRun *run, bool announce) {
    const char *start_context = opt->quiet_samples ? NULL : opt->start_context;
    if (opt->warmup_ratio == 0 && opt->clip == 0) {
        train_model_simple(model, train_loader, train_eval_loader, val_loader, optimizer, epochs, opt->eval_freq,
                           opt->eval_iter, start_context, tokenizer, run);
        return;
    }
    /* appendix D. A warm-up rises: it starts at initial_lr, or at lr when
     * that is lower. Clipping alone keeps lr throughout: a schedule that
     * starts, peaks and ends there. */
    long warmup_steps = (long)(opt->warmup_ratio * total_steps);
    float initial_lr = opt->initial_lr < opt->lr ? opt->initial_lr : opt->lr, min_lr = opt->min_lr;
    if (opt->warmup_ratio == 0) initial_lr = min_lr = opt->lr;
    /* D.1 holds the peak after the warm-up: a cosine from lr down to lr */
    if (opt->no_decay) min_lr = opt->lr;
    if (announce) { /* D.1's print(warmup_steps), with the rest of the schedule */
        fprintf(stderr, "appendix D: %ld warm-up steps of %ld, from %g to %g, then ", warmup_steps, total_steps,
                initial_lr, opt->lr);
        if (min_lr == opt->lr) fprintf(stderr, "%g throughout", opt->lr);
        else fprintf(stderr, "a cosine decay to %g", min_lr);
        if (opt->clip > 0) fprintf(stderr, "; gradients clipped to norm %g from step %ld", opt->clip, warmup_steps);
        fputc('\n', stderr);
    }
    train_model(model, train_loader, train_eval_loader, val_loader, optimizer, epochs, opt->eval_freq, opt->eval_iter,
                start_context, tokenizer, warmup_steps, initial_lr, min_lr, opt->clip, run);
}

/* ---- Pretraining on a larger corpus: a run from token shards ------------------------- */

/* SIGINT and SIGTERM end a run from shards after its current step, with a checkpoint. */
static volatile sig_atomic_t stop_requested;
static void request_stop(int sig) { stop_requested = sig; }

typedef struct {
    const Checkpoint *ckpt;
    const TrainOptions *opt;
    int rank;
} ShardRunSaver;

/* The run's after_step: a checkpoint every checkpoint_every steps, at the
 * last step, and when a signal asks the run to stop (rank 0's signal,
 * which every rank hears, so that all of them stop at the same step). */
static bool save_after_step(void *user, const TrainRun *run) {
    const ShardRunSaver *saver = user;
    const TrainOptions *opt = saver->opt;
    int stop = stop_requested;
    data_parallel_broadcast(&stop, sizeof stop);
    stop_requested = stop;
    const long steps = run->global_step + 1;
    bool due = stop || steps >= opt->max_steps || (opt->checkpoint_every > 0 && steps % opt->checkpoint_every == 0);
    if (due && saver->rank == 0) {
        check_before_save(saver->ckpt->optimizer->model, &(Batch){0}, run->epochs_done + 1, run->global_step,
                          saver->ckpt->path);
        save_checkpoint(saver->ckpt, run);
    }
    if (stop && saver->rank == 0) {
        progress_clear((Progress *)&run->progress);
        fprintf(stderr, "stopped after step %ld: %s holds the run; `ch05 train --resume %s` continues it\n",
                run->global_step, saver->ckpt->path, saver->ckpt->path);
    }
    return stop;
}

static void open_shards(ShardBatches *sb, char *const *paths, int n, int T, int rows, bool shuffle, uint64_t seed,
                        const char *what) {
    char err[512];
    if (!shard_batches_init(sb, paths, n, T, rows, shuffle, seed, err, sizeof err)) fatal("%s: %s", what, err);
}

static void pretrain_from_shards(const TrainOptions *opt) {
    int rank, n_ranks;
    data_parallel_world(&rank, &n_ranks);
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) fatal("cannot silence rank %d's output", rank);
    if (opt->max_steps <= 0) fatal("train: a run from shards needs --max-steps N (%s is a directory)", opt->data_path);
    char err[512];
    ShardList shards;
    if (!shard_list(opt->data_path, &shards, err, sizeof err)) fatal("train: %s", err);
    if (shards.n_train == 0) fatal("train: %s has no training shards (*_train*.bin)", opt->data_path);
    Bpe *tokenizer = bpe_load_gpt2();

    TrainOptions settings = *opt;
    char *data_abs = realpath(opt->data_path, NULL);
    settings.data_path = data_abs;
    SafetensorsFile *resume_file = NULL;
    GPTModel *m = initial_model(opt, &resume_file);
    if (m->config.vocab_size != bpe_vocab_size(tokenizer))
        fatal("the model's vocabulary (%d) is not GPT-2's tokenizer's (%d)", m->config.vocab_size,
              bpe_vocab_size(tokenizer));

    /* a step: total_batch tokens, as micro-batches of batch_size rows */
    const long micro_tokens = (long)opt->batch_size * opt->context;
    const long total = opt->total_batch > 0 ? opt->total_batch : micro_tokens;
    if (total % micro_tokens != 0)
        fatal("train: --total-batch %ld is not a multiple of --batch-size x --context = %ld", total, micro_tokens);
    const int n_micro = (int)(total / micro_tokens), rows = n_micro * opt->batch_size;
    DataParallel dp;
    data_parallel_init(&dp, m, opt->batch_size, opt->seed + 2);
    if (!data_parallel_splits(&dp, n_micro))
        fatal("train: %d micro-batches a step do not split over %d ranks: give each rank the same number, a power "
              "of two (--total-batch)",
              n_micro, n_ranks);
    ShardBatches train, train_eval, val;
    open_shards(&train, shards.train, shards.n_train, opt->context, rows, opt->shuffle, opt->seed, "training shards");
    open_shards(&train_eval, shards.train, shards.n_train, opt->context, rows, opt->shuffle, opt->seed + 1,
                "training shards");
    open_shards(&val, &shards.val, 1, opt->context, rows, false, 0, "validation shard");
    if (rank == 0)
        fprintf(stderr,
                "%s: %d training shards, %d batches of %d x %d tokens an epoch; a step: %d micro-batch(es) of %d "
                "rows, %d on each of %d rank(s); validation: %d batches\n",
                opt->data_path, shards.n_train, train.n_batches, rows, opt->context, n_micro, opt->batch_size,
                n_micro / n_ranks, n_ranks, val.n_batches);

    ModelAdamW adamw;
    Optimizer optimizer = model_adamw_optimizer(&adamw, m, opt);
    TrainRun run = {.global_step = -1, .max_steps = opt->max_steps, .tokens_per_step = total, .perplexity = true};
    if (resume_file) {
        resume_run_state(resume_file, &run, &adamw);
        long epoch, batch, eval_epoch;
        const char *position = safetensors_metadata(resume_file, "train.shard_position");
        if (!position || sscanf(position, "%ld:%ld", &epoch, &batch) != 2 ||
            !parse_long(safetensors_metadata(resume_file, "train.eval_epoch"), -1, LONG_MAX, &eval_epoch))
            fatal("%s: not a checkpoint of a run from shards (no shard position)", resume_file->path);
        shard_batches_seek(&train, epoch, batch);
        train_eval.epoch = eval_epoch;
        dp.step = run.global_step + 1;
        safetensors_close(resume_file);
        if (run.global_step + 1 >= opt->max_steps)
            fatal("train: the run already took its %d steps (--max-steps): give more to go on", opt->max_steps);
    }
    /* the same weights everywhere, however each rank came by them */
    data_parallel_broadcast(m->params, (long)(m->n_params * sizeof(float)));

    char *log_path = path_join(opt->out_dir, "log.csv");
    char *ckpt_path = path_join(opt->out_dir, "checkpoint.safetensors");
    if (rank == 0) {
        make_dirs(opt->out_dir);
        remove_stale_temp_files(opt->out_dir);
        run.log = loss_log_open(log_path, "tokens_seen", opt->resume ? run.global_step : -1);
    }
    Checkpoint ckpt = {.path = ckpt_path, .optimizer = &adamw, .shard_train = &train, .shard_eval = &train_eval,
                       .settings = &settings};
    ShardRunSaver saver = {.ckpt = &ckpt, .opt = opt, .rank = rank};
    run.after_step = save_after_step;
    run.user = &saver;
    stop_requested = 0;
    struct sigaction on_stop = {.sa_handler = request_stop};
    sigaction(SIGINT, &on_stop, NULL);
    sigaction(SIGTERM, &on_stop, NULL);

    Model model = data_parallel_model(&dp);
    BatchLoader train_loader = shard_batches_loader(&train), train_eval_loader = shard_batches_loader(&train_eval),
                val_loader = shard_batches_loader(&val);
    const int epochs = (int)((opt->max_steps + train.n_batches - 1) / train.n_batches);
    double start = now_seconds();
    const long seen_before = run.seen, steps_before = run.global_step + 1;
    train_with_options(&model, &train_loader, &train_eval_loader, &val_loader, &optimizer, opt, epochs, opt->max_steps,
                       tokenizer, &run, rank == 0);
    double seconds = now_seconds() - start;
    if (rank == 0) {
        csv_log_close(run.log, log_path);
        struct rusage usage;
        getrusage(RUSAGE_SELF, &usage);
        const long steps = run.global_step + 1 - steps_before;
        fprintf(stderr, "%.0f tokens/s over %d rank(s); %.1f%% of the time in communication on rank 0 (%.3f s a "
                "step); %.0f MB of memory at most on rank 0\n",
                (double)(run.seen - seen_before) / seconds, n_ranks, 100 * data_parallel_comm_seconds() / seconds,
                steps > 0 ? data_parallel_comm_seconds() / steps : 0.0, usage.ru_maxrss / 1024.0);
        fprintf(stderr, "wrote %s and %s\n", log_path, ckpt_path);
        char *png_path = path_join(opt->out_dir, "loss.png");
        plot_csv("loss.gp", log_path, png_path, NULL);
        free(png_path);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int stopped_by = run.stopped ? stop_requested : 0;
    free(log_path);
    free(ckpt_path);
    data_parallel_free(&dp);
    adamw_free(&adamw.adamw);
    shard_batches_free(&train);
    shard_batches_free(&train_eval);
    shard_batches_free(&val);
    shard_list_free(&shards);
    gpt_free(m);
    bpe_free(tokenizer);
    free(data_abs);
    if (stopped_by) exit(128 + stopped_by); /* saved, but stopped: as the shell reports a signal */
}

void pretrain_data_init(PretrainData *d, const TrainOptions *opt) {
    d->path = opt->data_path ? xstrdup(opt->data_path) : data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(d->path, &len);
    d->tokenizer = bpe_load_gpt2();

    /* 5.1.2: 90% of the characters for training, the rest for validation */
    size_t train_chars;
    size_t split = split_by_characters(text, len, 0.90, &train_chars);
    d->train_ids = d->val_ids = (IntVec){0};
    bpe_encode(d->tokenizer, text, split, false, &d->train_ids);
    bpe_encode(d->tokenizer, text + split, len - split, false, &d->val_ids);
    fprintf(stderr, "%s: %zu characters for training, %zu tokens; %zu for validation\n", d->path, train_chars,
            d->train_ids.len, d->val_ids.len);
    free(text);

    /* windows of the context's length, one after the other (stride = length) */
    char err[256];
    if (!dataset_init(&d->train_ds, d->train_ids.data, d->train_ids.len, opt->context, opt->context, err, sizeof err))
        fatal("training data: %s", err);
    if (!dataset_init(&d->val_ds, d->val_ids.data, d->val_ids.len, opt->context, opt->context, err, sizeof err))
        fatal("validation data: %s", err);
    token_batches_init(&d->train, &d->train_ds, opt->batch_size, opt->shuffle, true, opt->seed, "training loader");
    /* evaluation walks the training set in its own shuffled order, as a
     * fresh pass over a shuffling PyTorch DataLoader would */
    token_batches_init(&d->train_eval, &d->train_ds, opt->batch_size, opt->shuffle, true, opt->seed + 1, "loaders");
    token_batches_init(&d->val, &d->val_ds, opt->batch_size, false, false, 0, "loaders");
    fprintf(stderr, "%d training batches, %d validation batches per epoch\n", d->train.loader.n_batches,
            d->val.loader.n_batches);
}

void pretrain_data_free(PretrainData *d) {
    token_batches_free(&d->train);
    token_batches_free(&d->train_eval);
    token_batches_free(&d->val);
    intvec_free(&d->train_ids);
    intvec_free(&d->val_ids);
    bpe_free(d->tokenizer);
    free(d->path);
}

void pretrain(const TrainOptions *opt) {
    struct stat st;
    if (opt->data_path && stat(opt->data_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        pretrain_from_shards(opt);
        return;
    }
    PretrainData data;
    pretrain_data_init(&data, opt);
    Bpe *tokenizer = data.tokenizer;

    /* the checkpoints keep the settings, the data file by its absolute path so
     * a resumed run finds it from any directory */
    TrainOptions settings = *opt;
    char *data_abs = opt->data_path ? realpath(opt->data_path, NULL) : NULL;
    settings.data_path = data_abs;

    SafetensorsFile *resume_file = NULL;
    GPTModel *m = initial_model(opt, &resume_file);
    if (m->config.vocab_size != bpe_vocab_size(tokenizer))
        fatal("the model's vocabulary (%d) is not GPT-2's tokenizer's (%d)", m->config.vocab_size,
              bpe_vocab_size(tokenizer));

    ModelAdamW adamw;
    Optimizer optimizer = model_adamw_optimizer(&adamw, m, opt);
    TrainRun run = {.global_step = -1};
    rng_seed(&m->rng, opt->seed + 2); /* dropout */
    if (resume_file) {
        resume_from(resume_file, &run, &adamw, &data.train.loader, &data.train_eval.loader);
        safetensors_close(resume_file);
    }

    make_dirs(opt->out_dir);
    remove_stale_temp_files(opt->out_dir); /* left by a run that was killed while saving */
    char *log_path = path_join(opt->out_dir, "log.csv");
    char *ckpt_path = path_join(opt->out_dir, "checkpoint.safetensors");
    run.log = loss_log_open(log_path, "tokens_seen", opt->resume ? run.global_step : -1);
    Checkpoint ckpt = {.path = ckpt_path,
                       .optimizer = &adamw,
                       .train = &data.train.loader,
                       .train_eval = &data.train_eval.loader,
                       .settings = &settings};
    run.after_epoch = save_after_epoch;
    run.user = &ckpt;

    Model model = gpt_model(m);
    BatchLoader train_loader = token_batches_loader(&data.train),
                train_eval_loader = token_batches_loader(&data.train_eval), val_loader = token_batches_loader(&data.val);
    train_with_options(&model, &train_loader, &train_eval_loader, &val_loader, &optimizer, opt, opt->epochs,
                       (long)data.train.loader.n_batches * opt->epochs, tokenizer, &run, true);
    csv_log_close(run.log, log_path);
    fprintf(stderr, "wrote %s and %s\n", log_path, ckpt_path);
    char *png_path = path_join(opt->out_dir, "loss.png");
    plot_csv("loss.gp", log_path, png_path, NULL);

    free(png_path);
    free(log_path);
    free(ckpt_path);
    adamw_free(&adamw.adamw);
    gpt_free(m);
    pretrain_data_free(&data);
    free(data_abs);
}
