/* ch05: Chapter 5, Pretraining on unlabeled data.
 *
 *   ch05 walkthrough     5.1's loss and loaders, 5.3's decoding examples, 5.5's settings
 *   ch05 train ...       the book's training run (train_model_simple) with its plot
 *   ch05 generate ...    continue a prompt with a MODEL (greedy, or sampled)
 *   ch05 loss ...        a MODEL's mean next-token loss on a text
 *   ch05 exercise [N.M]  the chapter's exercises (5.1 to 5.6), solved (exercises.c)
 *   ch05 appendix-d      appendix D's learning rates (CSV and figures) and clipping example
 *   ch05 prepare-corpus  a directory of text files (Project Gutenberg's) to token shards
 *
 * MODEL is a directory with OpenAI's GPT-2 files (hparams.json and
 * model.ckpt.*; `make gpt2-124M` fetches them), a Hugging Face directory
 * (config.json and model.safetensors), or a checkpoint written by train. */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/dataloader.h"
#include "../ch02_text/utf8.h"
#include "../common/ops.h"
#include "../common/tensor.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "corpus.h"
#include "exercises.h"
#include "gpt_weights.h"
#include "loss.h"
#include "notebook.h"
#include "pretrain.h"
#include "sampling.h"
#include "train.h"

static void print_bytes(const Bpe *bpe, const int *ids, int n) {
    ByteBuf text = {0};
    if (!bpe_decode(bpe, ids, n, &text, NULL)) fatal("the model produced an id outside the tokenizer's vocabulary");
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    bytebuf_free(&text);
}

/* ---- walkthrough ---------------------------------------------------------- */

/* The cells are numbered as in ch05.ipynb (appendix-D.ipynb for
 * `appendix-d`): notebook.h. */

/* Token ids of shape (ndim dimensions) as print(tensor) shows an integer
 * tensor: ids are exact in float, and 0 decimals print them as integers. */
static void print_id_tensor(const int *ids, int ndim, const int shape[]) {
    Tensor t = tensor_zeros(ndim, shape);
    for (size_t i = 0; i < t.size; i++) t.data[i] = (float)ids[i];
    tensor_print(stdout, &t, 0);
    tensor_free(&t);
}

static void print_text(const char *label, const Bpe *tokenizer, const int *ids, int n) {
    fputs(label, stdout);
    print_bytes(tokenizer, ids, n);
    putchar('\n');
}

/* 5.1.2: the book's two texts of four tokens; the first three are a row of
 * inputs, the last three its targets (the inputs shifted by one). */
static void walkthrough_loss(uint64_t seed) {
    section("5.1.2 Calculating the text generation loss");
    Bpe *tokenizer = bpe_load_gpt2();
    const char *texts[] = {"every effort moves you", "I really like chocolate"};
    enum { B = 2, T = 3 };
    int inputs[B * T], targets[B * T];
    for (int b = 0; b < B; b++) {
        IntVec ids = {0};
        bpe_encode(tokenizer, texts[b], strlen(texts[b]), false, &ids);
        if (ids.len != T + 1) fatal("'%s' is %zu tokens, not %d", texts[b], ids.len, T + 1);
        memcpy(inputs + b * T, ids.data, T * sizeof(int));
        memcpy(targets + b * T, ids.data + 1, T * sizeof(int));
        intvec_free(&ids);
    }
    cell(4, "inputs and targets: \"every effort moves\", \"I really like\", and each one token on");
    printf("# the cell prints nothing; print(inputs) and print(targets) show our tokenizer's ids\n");
    print_id_tensor(inputs, 2, (int[]){B, T});
    print_id_tensor(targets, 2, (int[]){B, T});

    GPTConfig cfg = gpt_config_124m();
    cfg.context_length = 256; /* the book shortens the context for training */
    GPTModel *m = gpt_create(&cfg);
    gpt_init_weights(m, seed);
    gpt_forward(m, inputs, B, T);
    const int V = cfg.vocab_size;
    float *probas = xmalloc((size_t)B * T * V * sizeof(float));
    float loss = cross_entropy_forward(NULL, probas, m->logits, targets, B * T, V);
    cell(5, "probas = torch.softmax(model(inputs), dim=-1): print(probas.shape)");
    printf("# the model is GPT_CONFIG_124M with our random weights (seed %llu), not torch's: the ids,\n"
           "# probabilities and losses of In [6]-[11], [14] and [15] are ours, not the book's\n",
           (unsigned long long)seed);
    printf("torch.Size([%d, %d, %d])\n", B, T, V);
    int token_ids[B * T];
    for (int i = 0; i < B * T; i++) token_ids[i] = vec_argmax(probas + (size_t)i * V, V);
    cell(6, "token_ids = torch.argmax(probas, dim=-1, keepdim=True)");
    printf("Token IDs:\n ");
    print_id_tensor(token_ids, 3, (int[]){B, T, 1}); /* keepdim=True */
    cell(7, "the first text's targets and the untrained model's outputs, as text");
    print_text("Targets batch 1: ", tokenizer, targets, T);
    print_text("Outputs batch 1: ", tokenizer, token_ids, T);
    float target_probas[B * T], log_probas[B * T], avg_log_probas = 0;
    for (int i = 0; i < B * T; i++) {
        target_probas[i] = probas[(size_t)i * V + targets[i]];
        log_probas[i] = logf(target_probas[i]);
        avg_log_probas += log_probas[i] / (B * T);
    }
    cell(8, "each text's probabilities of its targets: probas[text_idx, [0, 1, 2], targets[text_idx]]");
    for (int b = 0; b < B; b++) {
        printf("Text %d: ", b + 1);
        print_torch_vector(target_probas + b * T, T);
    }
    cell(9, "log_probas = torch.log(torch.cat((target_probas_1, target_probas_2)))");
    print_torch_vector(log_probas, B * T);
    cell(10, "avg_log_probas = torch.mean(log_probas)");
    print_torch_scalar(avg_log_probas);
    cell(11, "neg_avg_log_probas = avg_log_probas * -1");
    print_torch_scalar(-avg_log_probas);
    cell(12, "the shapes cross_entropy is given");
    printf("Logits shape: torch.Size([%d, %d, %d])\nTargets shape: torch.Size([%d, %d])\n", B, T, V, B, T);
    cell(13, "flattened over the batch");
    printf("Flattened logits: torch.Size([%d, %d])\nFlattened targets: torch.Size([%d])\n", B * T, V, B * T);
    cell(14, "loss = torch.nn.functional.cross_entropy(logits_flat, targets_flat)");
    printf("# computed from the logits, not from In [11]'s probabilities: the same number\n");
    print_torch_scalar(loss);
    cell(15, "perplexity = torch.exp(loss)");
    printf("# an untrained model is about as unsure as a uniform guess over the %d tokens\n", V);
    print_torch_scalar(expf(loss));
    free(probas);
    gpt_free(m);
    bpe_free(tokenizer);
}

/* The byte offset of code point n of text (len bytes): Python's text[:n]. */
static size_t code_point_offset(const char *text, size_t len, size_t n) {
    size_t i = 0;
    for (size_t seen = 0; i < len; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80 && seen++ == n) break;
    return i;
}

/* 5.1.3: The Verdict, split 90/10 by characters, in the loaders of the
 * book's training run: windows of 256 tokens at stride 256, batches of 2
 * (the training loader drops a last short batch, the validation one keeps
 * it). */
static void walkthrough_data(void) {
    section("5.1.3 Calculating the training and validation set losses");
    char *path = data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(path, &len);
    Bpe *tokenizer = bpe_load_gpt2();
    size_t n_chars = 0;
    for (size_t i = 0; i < len; i++) n_chars += ((unsigned char)text[i] & 0xC0) != 0x80;
    cell(17, "print(text_data[:99])");
    size_t first = code_point_offset(text, len, 99), last = code_point_offset(text, len, n_chars - 99);
    printf("%.*s\n", (int)first, text);
    cell(18, "print(text_data[-99:])");
    printf("%.*s\n", (int)(len - last), text + last);
    IntVec all = {0};
    bpe_encode(tokenizer, text, len, false, &all);
    cell(19, "the characters and tokens of the whole text");
    printf("Characters: %zu\nTokens: %zu\n", n_chars, all.len);

    /* the notebook's sanity check: each part's share of the tokens must
     * fill one window of the context (256) */
    const double train_ratio = 0.90;
    const int context = 256;
    cell(21, "the sanity check: enough tokens for each loader?");
    if (all.len * train_ratio < context)
        printf("Not enough tokens for the training loader. Try to lower the `GPT_CONFIG_124M['context_length']` or "
               "increase the `training_ratio`\n");
    if (all.len * (1 - train_ratio) < context)
        printf("Not enough tokens for the validation loader. Try to lower the `GPT_CONFIG_124M['context_length']` or "
               "decrease the `training_ratio`\n");
    printf("# (nothing printed: %.0f and %.0f tokens, each at least %d)\n", all.len * train_ratio,
           all.len * (1 - train_ratio), context);
    /* the loaders of `ch05 train` with its defaults are the book's */
    TrainOptions book = train_default_options();
    PretrainData data;
    pretrain_data_init(&data, &book);
    BatchLoader loaders[2] = {token_batches_loader(&data.train), token_batches_loader(&data.val)};
    cell(22, "the shapes of each loader's batches (inputs, targets)");
    const char *names[2] = {"Train loader:", "\nValidation loader:"};
    long tokens[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        printf("%s\n", names[k]);
        loaders[k].reset(loaders[k].self);
        for (Batch b; loaders[k].next(loaders[k].self, &b); tokens[k] += (long)b.B * b.T)
            printf("torch.Size([%d, %d]) torch.Size([%d, %d])\n", b.B, b.T, b.B, b.T);
    }
    pretrain_data_free(&data);
    cell(23, "the tokens in each loader's inputs");
    printf("Training tokens: %ld\nValidation tokens: %ld\nAll tokens: %ld\n", tokens[0], tokens[1], tokens[0] + tokens[1]);
    printf("# the losses of an untrained model over these loaders (In [25]) are the first line of `ch05 train`\n");
    intvec_free(&all);
    bpe_free(tokenizer);
    free(text);
    free(path);
}

/* 5.3: the book's toy vocabulary of nine words and its next-token logits */
static void walkthrough_decoding(uint64_t seed) {
    section("5.3 Decoding strategies to control randomness");
    enum { V = TOY_VOCAB_SIZE };
    const float *next_token_logits = TOY_NEXT_TOKEN_LOGITS;
    float probas[V];
    softmax_rows(probas, next_token_logits, 1, V);
    cell(30, "probas = torch.softmax(next_token_logits, dim=0); the argmax's word");
    printf("# probas itself is In [34]'s first line (temperature 1)\n");
    printf("%s\n", TOY_VOCAB[vec_argmax(probas, V)]);
    cell(31, "torch.manual_seed(123); one token drawn by torch.multinomial(probas)");
    printf("# the draws of In [31]-[36] come from torch's random generator in the book; these are ours\n"
           "# (seed %llu), so the counts differ a little from the book's\n",
           (unsigned long long)seed);
    Rng rng;
    rng_seed(&rng, seed);
    printf("%s\n", TOY_VOCAB[multinomial_draw(&rng, probas, V)]);
    cell(32, "print_sampled_tokens(probas): 1000 draws");
    print_sampled_tokens(probas, seed, V, NULL);

    const float temperatures[] = {1.0f, 0.1f, 5.0f};
    enum { N_T = sizeof temperatures / sizeof temperatures[0] };
    float scaled_probas[N_T][V];
    for (int t = 0; t < N_T; t++) softmax_with_temperature(scaled_probas[t], next_token_logits, V, temperatures[t]);
    cell(34, "the figure of scaled_probas = softmax_with_temperature(next_token_logits, T), T = 1, 0.1, 5");
    printf("# the figure's bars, temperature by temperature\n");
    for (int t = 0; t < N_T; t++) {
        printf("Temperature = %g: ", temperatures[t]);
        print_torch_vector(scaled_probas[t], V);
    }
    cell(35, "print_sampled_tokens(scaled_probas[1]): temperature 0.1");
    print_sampled_tokens(scaled_probas[1], seed, V, NULL);
    cell(36, "print_sampled_tokens(scaled_probas[2]): temperature 5");
    print_sampled_tokens(scaled_probas[2], seed, V, NULL);

    const int top_k = 3;
    /* torch.topk: the k largest, largest first */
    int top_pos[V];
    for (int i = 0; i < V; i++) top_pos[i] = i;
    for (int i = 0; i < top_k; i++)
        for (int j = i + 1; j < V; j++)
            if (next_token_logits[top_pos[j]] > next_token_logits[top_pos[i]]) {
                int t = top_pos[i];
                top_pos[i] = top_pos[j];
                top_pos[j] = t;
            }
    float top_logits[V];
    for (int i = 0; i < top_k; i++) top_logits[i] = next_token_logits[top_pos[i]];
    cell(37, "torch.topk(next_token_logits, 3)");
    printf("Top logits: ");
    print_torch_vector(top_logits, top_k);
    printf("Top positions: tensor([");
    for (int i = 0; i < top_k; i++) printf(i ? ", %d" : "%d", top_pos[i]);
    printf("])\n");
    float new_logits[V];
    memcpy(new_logits, next_token_logits, sizeof new_logits);
    top_k_filter(new_logits, V, top_k);
    cell(38, "new_logits: -inf below the third largest logit");
    print_torch_vector(new_logits, V);
    float topk_probas[V];
    softmax_rows(topk_probas, new_logits, 1, V);
    cell(39, "topk_probas = torch.softmax(new_logits, dim=0)");
    print_torch_vector(topk_probas, V);
}

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

/* 5.5: the settings and the parameters of OpenAI's GPT-2 small. The
 * weights are not fetched here: the settings are GPT_CONFIG_124M's with
 * OpenAI's context of 1024, and the token embedding is that of a model of
 * the same shape. */
static void walkthrough_openai(void) {
    section("5.5 Loading pretrained weights from OpenAI");
    printf("# `make gpt2-124M` fetches OpenAI's files; `ch05 generate --model <dir>` runs them\n");
    GPTConfig cfg = gpt_config_124m();
    cell(50, "print(\"Settings:\", settings), hparams.json of GPT-2 small");
    printf("Settings: {'n_vocab': %d, 'n_ctx': %d, 'n_embd': %d, 'n_head': %d, 'n_layer': %d}\n", cfg.vocab_size,
           cfg.context_length, cfg.emb_dim, cfg.n_heads, cfg.n_layers);
    /* the book's loader keeps a variable "model/hL/..." under params["blocks"][L]
     * and any other under its last name part, in the checkpoint's (sorted) order */
    GPTConfig small = cfg; /* OpenAI's layout (qkv bias, tied head) at a size that allocates little */
    small.qkv_bias = small.tie_weights = true;
    small.emb_dim = 8, small.n_heads = 2, small.n_layers = 2, small.context_length = 8;
    GPTModel *m = gpt_create(&small);
    char (*names)[96] = xcalloc((size_t)m->n_tensors, sizeof *names);
    int n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const char *openai = m->tensors[i].spec->openai;
        if (!openai) continue;
        if (m->tensors[i].layer >= 0) snprintf(names[n++], sizeof names[0], "model/h%d/%s", m->tensors[i].layer, openai);
        else snprintf(names[n++], sizeof names[0], "model/%s", openai);
    }
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    cell(51, "print(\"Parameter dictionary keys:\", params.keys())");
    printf("Parameter dictionary keys: dict_keys([");
    const char *printed[8];
    int n_keys = 0;
    for (int i = 0; i < n; i++) {
        const char *key = strncmp(names[i], "model/h", 7) == 0 ? "blocks" : strrchr(names[i], '/') + 1;
        bool seen = false;
        for (int k = 0; k < n_keys; k++) seen |= strcmp(printed[k], key) == 0;
        if (seen || n_keys == 8) continue;
        printf(n_keys ? ", '%s'" : "'%s'", key);
        printed[n_keys++] = key;
    }
    printf("])\n");
    free(names);
    gpt_free(m);
    cell(52, "the token embedding's dimensions, params[\"wte\"].shape");
    printf("Token embedding weight tensor dimensions: (%d, %d)\n", cfg.vocab_size, cfg.emb_dim);
}

static void walkthrough(uint64_t seed) {
    walkthrough_loss(seed);
    walkthrough_data();
    walkthrough_decoding(seed);
    walkthrough_openai();
    printf("# The training run of 5.2 is `ch05 train`; loading OpenAI's weights (5.5) is `ch05 generate --model DIR`.\n");
}

static int cmd_walkthrough(int argc, char **argv) {
    static const struct option options[] = {{"seed", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {0}};
    long seed = 123;
    for (int c; (c = getopt_long(argc, argv, "s:h", options, NULL)) != -1;) {
        if (c == 's') seed = cli_long("--seed", optarg, 0, 0x7fffffffL);
        else if (c == 'h') {
            printf("usage: ch05 walkthrough [--seed N]\n"
                   "5.1's loss and perplexity on an untrained model and the book's loaders, 5.3's decoding\n"
                   "examples and 5.5's settings of GPT-2 small.\n");
            return 0;
        } else return cli_bad_usage("walkthrough");
    }
    cli_no_arguments("walkthrough", argc, argv);
    walkthrough((uint64_t)seed);
    return 0;
}

/* ---- train -------------------------------------------------------------------- */

static void usage_train(FILE *out) {
    fprintf(out,
            "usage: ch05 train [options]\n"
            "Pretrains a GPT as the book's train_model_simple does (defaults: the book's run on The Verdict)\n"
            "and writes OUT/log.csv, OUT/checkpoint.safetensors and OUT/loss.png.\n"
            "  --data FILE          training text (default: The Verdict); 90%% trains, 10%% validates\n"
            "  --epochs N           passes over the training data (10)\n"
            "  --batch-size N       sequences per step (2)\n"
            "  --context N          tokens per sequence and the model's context (256)\n"
            "  --lr X               AdamW learning rate (0.0004)\n"
            "  --weight-decay X     AdamW weight decay (0.1)\n"
            "  --dropout X          dropout rate (0.1)\n"
            "  --seed N             seed for initialisation, shuffling and dropout (123)\n"
            "  --init MODEL         start from this model instead of a random GPT_CONFIG_124M\n"
            "  --emb-dim N, --n-layers N, --n-heads N   a smaller random model (defaults: 768, 12, 12)\n"
            "  --out DIR            run directory (runs/pretrain)\n"
            "  --resume CKPT        continue a run from its checkpoint, in CKPT's directory, with the\n"
            "                       settings it was started with (stored in the checkpoint); the\n"
            "                       flags given with it override only what they name\n"
            "  --save-every N       also save the checkpoint every N epochs (default: at the end)\n"
            "  --no-shuffle         keep the training batches in order\n"
            "  --warmup-ratio X     appendix D: linear warm-up over this share of the steps, then cosine decay\n"
            "  --initial-lr X       where the warm-up starts (0.0001; a warm-up rises: --lr when that is lower)\n"
            "  --min-lr X           where the cosine decay ends (1e-5)\n"
            "  --no-decay           appendix D.1: keep --lr after the warm-up (no cosine decay)\n"
            "  --clip X             clip gradients to this global norm (after the warm-up)\n"
            "  --eval-freq N        evaluate every N steps (5)\n"
            "  --eval-iter N        batches per evaluation (5)\n"
            "  --start-context TEXT the prompt of the sample printed after each epoch\n"
            "  --no-samples         don't print a sample after each epoch\n"
            "Training from a prepared corpus (`ch05 prepare-corpus`; see the README's \"Pretraining on a\n"
            "larger corpus\"), in steps rather than epochs; under `mpirun -np N` N processes share each step:\n"
            "  --data DIR           the directory of token shards: its *_train*.bin train (a seeded shuffle of\n"
            "                       their windows each epoch), its *_val*.bin validates (loss and perplexity)\n"
            "  --max-steps N        the run's length in steps (required with a directory)\n"
            "  --total-batch N      tokens per step (--batch-size x --context): a multiple of that adds up\n"
            "                       the gradients of that many micro-batches of --batch-size rows\n"
            "  --checkpoint-every N save the checkpoint every N steps (default: at the end); SIGINT and\n"
            "                       SIGTERM save it too, after the current step, and stop\n");
}

/* Parse train's flags into *o. Returns -1 to go on, or the exit status to
 * leave with (0 after --help, 2 after a bad flag). */
static int parse_train_flags(int argc, char **argv, TrainOptions *o) {
    enum { EMB = 256, LAYERS, HEADS, RESUME, SAVE_EVERY, NO_SHUFFLE, WARMUP, INITIAL_LR, MIN_LR, NO_DECAY, CLIP, EVAL_FREQ,
           EVAL_ITER, START, NO_SAMPLES, WD, DROPOUT, BATCH, CONTEXT, INIT, MAX_STEPS, TOTAL_BATCH, CKPT_EVERY };
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},        {"epochs", required_argument, NULL, 'e'},
        {"batch-size", required_argument, NULL, BATCH}, {"context", required_argument, NULL, CONTEXT},
        {"lr", required_argument, NULL, 'l'},          {"weight-decay", required_argument, NULL, WD},
        {"dropout", required_argument, NULL, DROPOUT}, {"seed", required_argument, NULL, 's'},
        {"init", required_argument, NULL, INIT},       {"emb-dim", required_argument, NULL, EMB},
        {"n-layers", required_argument, NULL, LAYERS}, {"n-heads", required_argument, NULL, HEADS},
        {"out", required_argument, NULL, 'o'},         {"resume", required_argument, NULL, RESUME},
        {"save-every", required_argument, NULL, SAVE_EVERY}, {"no-shuffle", no_argument, NULL, NO_SHUFFLE},
        {"warmup-ratio", required_argument, NULL, WARMUP}, {"initial-lr", required_argument, NULL, INITIAL_LR},
        {"min-lr", required_argument, NULL, MIN_LR},   {"no-decay", no_argument, NULL, NO_DECAY},
        {"clip", required_argument, NULL, CLIP},       {"eval-freq", required_argument, NULL, EVAL_FREQ},
        {"eval-iter", required_argument, NULL, EVAL_ITER}, {"start-context", required_argument, NULL, START},
        {"no-samples", no_argument, NULL, NO_SAMPLES}, {"help", no_argument, NULL, 'h'},
        {"max-steps", required_argument, NULL, MAX_STEPS}, {"total-batch", required_argument, NULL, TOTAL_BATCH},
        {"checkpoint-every", required_argument, NULL, CKPT_EVERY},
        {0}};
    for (int c; (c = getopt_long(argc, argv, "d:e:l:s:o:h", options, NULL)) != -1;) {
        switch (c) {
        case 'd': o->data_path = optarg; break;
        case 'e': o->epochs = (int)cli_long("--epochs", optarg, 1, 1000000); break;
        case BATCH: o->batch_size = (int)cli_long("--batch-size", optarg, 1, 65536); break;
        case CONTEXT: o->context = (int)cli_long("--context", optarg, 1, 1 << 20); break;
        case 'l': o->lr = cli_float("--lr", optarg, 0, 10); break;
        case WD: o->weight_decay = cli_float("--weight-decay", optarg, 0, 10); break;
        case DROPOUT: o->dropout = cli_float("--dropout", optarg, 0, 0.99); break;
        case 's': o->seed = (uint64_t)cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case INIT: o->init_model = optarg; break;
        case EMB: o->emb_dim = (int)cli_long("--emb-dim", optarg, 1, 1 << 16); break;
        case LAYERS: o->n_layers = (int)cli_long("--n-layers", optarg, 1, 1024); break;
        case HEADS: o->n_heads = (int)cli_long("--n-heads", optarg, 1, 1024); break;
        case 'o': o->out_dir = optarg; break;
        case RESUME: o->resume = optarg; break;
        case SAVE_EVERY: o->save_every = (int)cli_long("--save-every", optarg, 0, 1000000); break;
        case NO_SHUFFLE: o->shuffle = false; break;
        case WARMUP: o->warmup_ratio = cli_float("--warmup-ratio", optarg, 0, 1); break;
        case INITIAL_LR: o->initial_lr = cli_float("--initial-lr", optarg, 0, 10); break;
        case MIN_LR: o->min_lr = cli_float("--min-lr", optarg, 0, 10); break;
        case NO_DECAY: o->no_decay = true; break;
        case CLIP: o->clip = cli_float("--clip", optarg, 0, 1e6); break;
        case EVAL_FREQ: o->eval_freq = (int)cli_long("--eval-freq", optarg, 1, 1 << 30); break;
        case EVAL_ITER: o->eval_iter = (int)cli_long("--eval-iter", optarg, 1, 1 << 30); break;
        case START: o->start_context = optarg; break;
        case NO_SAMPLES: o->quiet_samples = true; break;
        case MAX_STEPS: o->max_steps = (int)cli_long("--max-steps", optarg, 1, 0x7fffffffL); break;
        case TOTAL_BATCH: o->total_batch = (int)cli_long("--total-batch", optarg, 1, 0x7fffffffL); break;
        case CKPT_EVERY: o->checkpoint_every = (int)cli_long("--checkpoint-every", optarg, 0, 0x7fffffffL); break;
        case 'h': usage_train(stdout); return 0;
        default: return cli_bad_usage("train");
        }
    }
    cli_no_arguments("train", argc, argv);
    return -1;
}

/* The size flags make a new model: with --resume they may only repeat the checkpoint's. */
static void check_same_size(const SafetensorsFile *ckpt, const char *key, const char *flag, int value) {
    long have;
    if (value && parse_long(safetensors_metadata(ckpt, key), 1, INT_MAX, &have) && have != value)
        fatal("train: %s %d, but the model in %s has %ld: a resumed run keeps its model", flag, value, ckpt->path, have);
}

/* A resumed run starts from the settings in its checkpoint and the flags
 * given now override only what they name: so the flags are parsed twice,
 * once to check them and find --resume, then again over the checkpoint's
 * settings. */
static int cmd_train(int argc, char **argv) {
    TrainOptions o = train_default_options();
    int status = parse_train_flags(argc, argv, &o);
    if (status >= 0) return status;
    if (o.init_model && o.resume) fatal("train: give --init or --resume, not both");
    if (!o.resume) {
        pretrain(&o);
        return 0;
    }
    SafetensorsFile *ckpt = safetensors_open(o.resume);
    check_same_size(ckpt, "emb_dim", "--emb-dim", o.emb_dim);
    check_same_size(ckpt, "n_layers", "--n-layers", o.n_layers);
    check_same_size(ckpt, "n_heads", "--n-heads", o.n_heads);
    TrainOptions saved = train_default_options();
    train_options_from_checkpoint(&saved, ckpt);
    char *ckpt_dir = path_dir(o.resume);
    saved.out_dir = ckpt_dir; /* the run goes on in its own directory unless --out says otherwise */
    TrainOptions used = saved;
    optind = 0; /* glibc: start getopt afresh; the flags were checked above */
    parse_train_flags(argc, argv, &used);
    train_print_resume(ckpt, &saved, &used);
    pretrain(&used);
    safetensors_close(ckpt);
    free(ckpt_dir);
    return 0;
}

/* ---- generate ------------------------------------------------------------------- */

static void stream_token(int token, void *user) {
    print_bytes(user, &token, 1);
    fflush(stdout);
}

static void usage_generate(FILE *out) {
    fprintf(out, "usage: ch05 generate --model MODEL --prompt TEXT [--max-new-tokens N] [--temperature T]\n"
                 "                     [--top-k K] [--top-p P] [--seed N] [--stop-at-eos]\n"
                 "Prints the prompt and its continuation on stdout: exactly their bytes, with a final\n"
                 "newline only when stdout is a terminal.\n"
                 "  --max-new-tokens N   (default 25)\n"
                 "  --temperature T      0 (default) is greedy; higher is more random\n"
                 "  --top-k K            sample among the K most likely tokens only\n"
                 "  --top-p P            sample among the most likely tokens that make up probability P\n"
                 "  --seed N             seed of the sampling (123)\n"
                 "  --stop-at-eos        stop at <|endoftext|>\n");
}

static int cmd_generate(int argc, char **argv) {
    enum { TEMPERATURE = 256, TOP_K, TOP_P, MAX_NEW, EOS };
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"prompt", required_argument, NULL, 'p'},
                                            {"max-new-tokens", required_argument, NULL, MAX_NEW},
                                            {"temperature", required_argument, NULL, TEMPERATURE},
                                            {"top-k", required_argument, NULL, TOP_K},
                                            {"top-p", required_argument, NULL, TOP_P},
                                            {"seed", required_argument, NULL, 's'},
                                            {"stop-at-eos", no_argument, NULL, EOS},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *prompt = NULL;
    long max_new = 25, seed = 123;
    Sampler s = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .eos_id = -1};
    bool stop_at_eos = false;
    for (int c; (c = getopt_long(argc, argv, "m:p:s:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'p': prompt = optarg; break;
        case MAX_NEW: max_new = cli_long("--max-new-tokens", optarg, 0, 1 << 20); break;
        case TEMPERATURE: s.temperature = cli_float("--temperature", optarg, 0, 100); break;
        case TOP_K: s.top_k = (int)cli_long("--top-k", optarg, 0, 1 << 30); break;
        case TOP_P: s.top_p = cli_float("--top-p", optarg, 0, 1); break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case EOS: stop_at_eos = true; break;
        case 'h': usage_generate(stdout); return 0;
        default: return cli_bad_usage("generate");
        }
    }
    cli_no_arguments("generate", argc, argv);
    if (!model_path || !prompt) fatal("generate: --model and --prompt are required");
    rng_seed(&s.rng, (uint64_t)seed);
    GPTModel *m = gpt_load_any(model_path);
    Bpe *bpe = gpt_load_tokenizer(model_path);
    if (bpe_vocab_size(bpe) > m->config.vocab_size)
        fatal("the tokenizer has %d tokens but the model only %d", bpe_vocab_size(bpe), m->config.vocab_size);
    if (stop_at_eos) s.eos_id = bpe_eot_id(bpe);
    size_t len;
    char *text = utf8_sanitize(prompt, strlen(prompt), &len);
    IntVec ids = {0};
    bpe_encode(bpe, text, len, false, &ids);
    if (ids.len == 0) fatal("generate: the prompt is empty");
    int *seq = xmalloc((ids.len + max_new) * sizeof(int));
    memcpy(seq, ids.data, ids.len * sizeof(int));
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    double t0 = now_seconds();
    int n = generate(m, seq, (int)ids.len, (int)max_new, &s, stream_token, bpe);
    double seconds = now_seconds() - t0;
    /* exactly the model's bytes when they go to a pipe or a file (so
     * `ch05 generate ... | ch02 tokenize --file /dev/stdin` sees the text
     * itself); on a terminal a newline, so the shell's prompt starts a line */
    if (isatty(STDOUT_FILENO)) putchar('\n');
    fprintf(stderr, "%zu new tokens in %.2f s\n", n - ids.len, seconds);
    free(seq);
    intvec_free(&ids);
    free(text);
    bpe_free(bpe);
    gpt_free(m);
    return 0;
}

/* ---- loss ------------------------------------------------------------------------- */

static void usage_loss(FILE *out) {
    fprintf(out, "usage: ch05 loss --model MODEL --text-file FILE [--context N]\n"
                 "The model's mean next-token cross-entropy over the windows of N tokens that start at\n"
                 "0, N, 2N, ... (inputs ids[s..s+N), targets one token later), averaged over every\n"
                 "predicted token, printed alone on the last line of stdout. N defaults to the model's context.\n");
}

static int cmd_loss(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"text-file", required_argument, NULL, 't'},
                                            {"context", required_argument, NULL, 'c'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *text_path = NULL;
    long context = 0;
    for (int c; (c = getopt_long(argc, argv, "m:t:c:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': text_path = optarg; break;
        case 'c': context = cli_long("--context", optarg, 1, 1 << 20); break;
        case 'h': usage_loss(stdout); return 0;
        default: return cli_bad_usage("loss");
        }
    }
    cli_no_arguments("loss", argc, argv);
    if (!model_path || !text_path) fatal("loss: --model and --text-file are required");
    size_t len;
    char *text = read_text_file(text_path, &len);
    GPTModel *m = gpt_load_any(model_path);
    if (context == 0) context = m->config.context_length;
    if (context > m->config.context_length)
        fatal("--context %ld is longer than the model's context of %d", context, m->config.context_length);
    Bpe *bpe = gpt_load_tokenizer(model_path);
    IntVec ids = {0};
    bpe_encode(bpe, text, len, false, &ids);
    char err[256];
    TokenDataset ds;
    DataLoader dl;
    const int batch = 4;
    if (!dataset_init(&ds, ids.data, ids.len, (int)context, (int)context, err, sizeof err) ||
        !loader_init(&dl, &ds, batch, false, false, 0, err, sizeof err))
        fatal("%s: %s", text_path, err);
    int *inputs = xmalloc((size_t)batch * context * sizeof(int)), *targets = xmalloc((size_t)batch * context * sizeof(int));
    Progress progress;
    progress_start(&progress, "loss", "windows", ds.n_samples);
    double total = 0.0;
    long done = 0;
    for (int rows; (rows = loader_next(&dl, inputs, targets)) > 0;) {
        total += (double)calc_loss_batch(m, inputs, targets, rows, (int)context, false) * rows;
        done += rows;
        progress_update(&progress, done);
    }
    progress_finish(&progress);
    fprintf(stderr, "%s: %zu tokens, %d windows of %ld\n", text_path, ids.len, ds.n_samples, context);
    printf("%.6f\n", total / done);
    free(inputs);
    free(targets);
    loader_free(&dl);
    intvec_free(&ids);
    bpe_free(bpe);
    gpt_free(m);
    free(text);
    return 0;
}

/* ---- appendix D: Adding bells and whistles to the training loop ---------------- */


/* The learning rate of each of total_steps steps under schedule, as the
 * notebook's track_lrs: to OUT/NAME.csv (step,lr) and its figure
 * OUT/NAME.png; the first and last rates and the peak on stdout. */
static void write_lrs(const char *out_dir, const char *name, const char *title, const LrSchedule *schedule) {
    char file[64];
    snprintf(file, sizeof file, "%s.csv", name);
    char *csv = path_join(out_dir, file);
    FILE *log = csv_log_open(csv, "step,lr\n", -1);
    float peak = 0;
    long peak_step = 0;
    for (long step = 0; step < schedule->total_steps; step++) {
        float lr = lr_at_step(schedule, step);
        if (lr > peak) peak = lr, peak_step = step;
        fprintf(log, "%ld,%.9g\n", step, lr);
    }
    csv_log_close(log, csv);
    printf("track_lrs[0] = %g, track_lrs[%ld] = %g (the peak: step %ld), track_lrs[%ld] = %.4g\n",
           lr_at_step(schedule, 0), schedule->warmup_steps - 1, lr_at_step(schedule, schedule->warmup_steps - 1),
           peak_step, schedule->total_steps - 1, lr_at_step(schedule, schedule->total_steps - 1));
    printf("# all %ld in %s\n", schedule->total_steps, csv);
    snprintf(file, sizeof file, "%s.png", name);
    char *png = path_join(out_dir, file), vars[128];
    snprintf(vars, sizeof vars, "title='%s'", title);
    plot_csv("lr.gp", csv, png, vars);
    free(png);
    free(csv);
}

/* len(train_loader) of In [3]: The Verdict split 90/10 by characters, the
 * training part in windows of 256 tokens at stride 256, batches of 2
 * (drop_last). */
static int verdict_train_batches(void) {
    TrainOptions book = train_default_options();
    PretrainData data;
    pretrain_data_init(&data, &book);
    int n = data.train.loader.n_batches;
    pretrain_data_free(&data);
    return n;
}

static void appendix_d(const char *out_dir) {
    make_dirs(out_dir);
    cell(3, "the book's loaders (The Verdict, context 256, batch size 2): len(train_loader)");
    const int batches = verdict_train_batches();
    printf("%d\n", batches);

    printf("\n== D.1 Learning rate warmup ==\n");
    cell(4, "n_epochs = 15, initial_lr = 0.0001, peak_lr = 0.01");
    const int n_epochs = 15;
    const float initial_lr = 0.0001f, peak_lr = 0.01f;
    cell(5, "print(warmup_steps): 20% of len(train_loader) * n_epochs");
    const long total_steps = (long)batches * n_epochs, warmup_steps = (long)(0.2 * total_steps);
    printf("%ld\n", warmup_steps);
    printf("# of %ld steps; `ch05 train --warmup-ratio 0.2` prints the same count on stderr\n", total_steps);
    cell(6, "warm-up from initial_lr to peak_lr, then peak_lr: track_lrs");
    /* a cosine from peak_lr down to peak_lr is D.1's constant rate */
    LrSchedule d1 = {.initial_lr = initial_lr, .peak_lr = peak_lr, .min_lr = peak_lr, .warmup_steps = warmup_steps,
                     .total_steps = total_steps};
    write_lrs(out_dir, "d1_lrs", "D.1: linear warm-up, then constant", &d1);
    printf("# In [7]'s figure: d1_lrs.png; `ch05 train --warmup-ratio 0.2 --no-decay` trains so\n");

    printf("\n== D.2 Cosine decay ==\n");
    cell(8, "min_lr = 0.1 * initial_lr; warm-up, then cosine annealing: track_lrs");
    LrSchedule d2 = d1;
    d2.min_lr = 0.1f * initial_lr;
    write_lrs(out_dir, "d2_lrs", "D.2: linear warm-up, then cosine decay", &d2);
    printf("# In [9]'s figure: d2_lrs.png\n");

    printf("\n== D.3 Gradient clipping ==\n");
    /* In [11]/[12] clip the gradients of a model drawn from torch's random
     * numbers, which ours are not; the markdown's worked example is exact */
    printf("# the text's example: G = [[1, 2], [2, 4]] clipped to max_norm 1\n");
    float g[4] = {1, 2, 2, 4};
    float norm = clip_grad_norm(g, 4, 1.0f);
    printf("||G||_2 = %g\n", norm);
    printf("tensor([[%.4f, %.4f],\n        [%.4f, %.4f]])\n", g[0], g[1], g[2], g[3]);
    printf("# In [11]-[12] on a GPT: `ch05 train --clip 1` clips every step from the end of the warm-up on\n");

    printf("\n== D.4 The modified training function ==\n");
    cell(14, "train_model's learning rates: peak_lr 0.001, initial_lr 1e-5, min_lr 1e-5, 27 warm-up steps");
    LrSchedule d4 = {.initial_lr = 1e-5f, .peak_lr = 0.001f, .min_lr = 1e-5f, .warmup_steps = warmup_steps,
                     .total_steps = total_steps};
    write_lrs(out_dir, "d4_lrs", "D.4: the learning rate of train_model", &d4);
    printf("# In [15]'s figure: d4_lrs.png. The run itself (In [14], In [16]'s losses):\n"
           "# ch05 train --epochs 15 --lr 0.001 --warmup-ratio 0.2 --initial-lr 1e-5 --min-lr 1e-5 --clip 1 "
           "--eval-iter 1\n");
}

static int cmd_appendix_d(int argc, char **argv) {
    static const struct option options[] = {{"out", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *out_dir = "runs/appendix-d";
    for (int c; (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1;) {
        if (c == 'o') out_dir = optarg;
        else if (c == 'h') {
            printf("usage: ch05 appendix-d [--out DIR]\n"
                   "Appendix D's notebook: the warm-up step count, the learning rates of D.1, D.2 and D.4\n"
                   "(DIR/d1_lrs.csv, d2_lrs.csv, d4_lrs.csv and their figures; DIR: runs/appendix-d) and\n"
                   "D.3's clipping example.\n");
            return 0;
        } else return cli_bad_usage("appendix-d");
    }
    cli_no_arguments("appendix-d", argc, argv);
    appendix_d(out_dir);
    return 0;
}

/* ---- prepare-corpus: pretraining on a larger corpus -------------------------- */

static void usage_prepare_corpus(FILE *out) {
    fprintf(out,
            "usage: ch05 prepare-corpus --input DIR --out DIR [options]\n"
            "Tokenizes every text file under DIR (*.txt, *.txt.utf8, in the order of their paths) into\n"
            "token shards in llm.c's format (a 256 x int32 header: 20240520, 1, the token count; then\n"
            "uint16 tokens), as the book's bonus pretraining on Project Gutenberg prepares its data.\n"
            "Each file is read as UTF-8 (invalid bytes replaced), documents are joined with\n"
            "<|endoftext|>; the first documents, until they hold --val-tokens tokens, become\n"
            "corpus_val_000000.bin, the rest corpus_train_000001.bin, ... Running it again continues\n"
            "where an interrupted run stopped (OUT/corpus.json); no shard is ever left half-written.\n"
            "  --input DIR          the text files (Gutenberg's layout, or any tree of .txt files)\n"
            "  --out DIR            where the shards go\n"
            "  --gutenberg          clean as the book's prepare_dataset.py: skip files under 90%% ASCII,\n"
            "                       strip Project Gutenberg's license header and footer, and make every\n"
            "                       run of blank lines one blank line\n"
            "  --shard-tokens N     tokens per training shard (100000000, as llm.c's)\n"
            "  --val-tokens N       the validation shard's least size in tokens, whole documents\n"
            "                       (1000000)\n"
            "  --threads N          encoding threads (all cores)\n");
}

static int cmd_prepare_corpus(int argc, char **argv) {
    static const struct option options[] = {{"input", required_argument, NULL, 'i'},
                                            {"out", required_argument, NULL, 'o'},
                                            {"gutenberg", no_argument, NULL, 'g'},
                                            {"shard-tokens", required_argument, NULL, 's'},
                                            {"val-tokens", required_argument, NULL, 'v'},
                                            {"threads", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    CorpusOptions o = {.shard_tokens = 100000000, .val_tokens = 1000000};
    for (int c; (c = getopt_long(argc, argv, "i:o:gs:v:t:h", options, NULL)) != -1;) {
        switch (c) {
        case 'i': o.input_dir = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 'g': o.gutenberg = true; break;
        case 's': o.shard_tokens = cli_long("--shard-tokens", optarg, 1, 0x7fffffffL); break;
        case 'v': o.val_tokens = cli_long("--val-tokens", optarg, 1, 0x7fffffffL); break;
        case 't': o.threads = (int)cli_long("--threads", optarg, 1, 1024); break;
        case 'h': usage_prepare_corpus(stdout); return 0;
        default: return cli_bad_usage("prepare-corpus");
        }
    }
    cli_no_arguments("prepare-corpus", argc, argv);
    if (!o.input_dir || !o.out_dir) fatal("prepare-corpus: --input and --out are required");
    CorpusStats s;
    char err[512];
    if (!prepare_corpus(&o, &s, err, sizeof err)) fatal("prepare-corpus: %s", err);
    printf("files: %ld (%ld not English, %ld empty)\n", s.files, s.skipped_non_english, s.skipped_empty);
    printf("validation: %ld documents, %ld tokens\n", s.documents_val, s.tokens_val);
    printf("training: %ld documents, %ld tokens\n", s.documents_train, s.tokens_train);
    printf("shards: %d written, %d already complete, in %s\n", s.shards_written, s.shards_kept, o.out_dir);
    if (s.bytes_read > 0)
        fprintf(stderr, "read %.1f MB in %.2f s: %.1f MB/s\n", s.bytes_read / 1e6, s.seconds, s.bytes_read / 1e6 / s.seconds);
    return 0;
}

static const CliCommand commands[] = {
    {"walkthrough", cmd_walkthrough, "5.1's loss and loaders, 5.3's decoding examples, 5.5's settings"},
    {"train", cmd_train, "pretrain a GPT (the book's run on The Verdict by default)"},
    {"generate", cmd_generate, "continue a prompt with a MODEL"},
    {"loss", cmd_loss, "a MODEL's mean next-token loss on a text"},
    {"exercise", cmd_exercise, "the chapter's exercises solved: 5.1 to 5.6"},
    {"appendix-d", cmd_appendix_d, "appendix D: warm-up, cosine decay and clipping, as the notebook prints them"},
    {"prepare-corpus", cmd_prepare_corpus, "a directory of text files (Project Gutenberg's) to token shards"},
};

int main(int argc, char **argv) {
    static const CliProgram program = {
        .name = "ch05",
        .description =
            "Chapter 5 of Build a Large Language Model (From Scratch): pretraining on unlabeled data.",
        .footer =
            "MODEL: a directory with OpenAI's GPT-2 files (make gpt2-124M), a Hugging Face directory\n"
            "(config.json + model.safetensors), or a checkpoint written by `ch05 train`.\n",
        .commands = commands,
        .n_commands = sizeof commands / sizeof commands[0],
    };
    return cli_main(&program, argc, argv);
}
