/* ch02: Chapter 2, Working with text data.
 *
 *   ch02 walkthrough            the chapter's sections in order, as the notebook prints them
 *   ch02 tokenize ...           text -> token ids, one per line
 *   ch02 decode ...             token ids -> the exact bytes
 *   ch02 batches ...            the sliding-window data loader's batches
 *   ch02 train-bpe ...          train a byte pair encoding from scratch
 *
 * Run `ch02 COMMAND --help` for the flags of each. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/rng.h"
#include "../common/tensor.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "bpe.h"
#include "bpe_train.h"
#include "dataloader.h"
#include "embedding.h"
#include "simple_tokenizer.h"
#include "utf8.h"

/* ---- printing like the notebook ------------------------------------------ */

/* A Python-style repr of a string: 'word', or "it's" when it holds a quote. */
static void print_repr(const char *s) {
    char quote = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    putchar(quote);
    for (; *s; s++) {
        if (*s == '\n') fputs("\\n", stdout);
        else if (*s == '\\' || *s == quote) printf("\\%c", *s);
        else putchar(*s);
    }
    putchar(quote);
}

static void print_repr_list(char **items, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        print_repr(items[i]);
    }
    puts("]");
}

static void print_id_list(const int *ids, size_t n) {
    putchar('[');
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
    putchar(']');
}

static void print_ids(const int *ids, size_t n) {
    print_id_list(ids, n);
    putchar('\n');
}

/* A (rows, cols) int matrix the way PyTorch prints it: equal widths. */
static void print_int_tensor(const int *x, int rows, int cols) {
    int width = 1;
    for (int i = 0; i < rows * cols; i++) {
        int w = snprintf(NULL, 0, "%d", x[i]);
        if (w > width) width = w;
    }
    fputs("tensor([", stdout);
    for (int r = 0; r < rows; r++) {
        fputs(r ? ",\n        [" : "[", stdout);
        for (int c = 0; c < cols; c++) printf("%s%*d", c ? ", " : "", width, x[r * cols + c]);
        putchar(']');
    }
    puts("])");
}

static void print_bytes(const Bpe *bpe, const int *ids, size_t n) {
    ByteBuf text = {0};
    bpe_decode(bpe, ids, n, &text, NULL);
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    bytebuf_free(&text);
}

static void section(const char *title) { printf("\n== %s ==\n", title); }

/* ---- walkthrough ------------------------------------------------------------
 * One function per section of the chapter, in the book's order. */

/* ==== 2.2 Tokenizing text ==== */

static void walkthrough_tokenizing(const char *raw, size_t raw_len) {
    section("2.2 Tokenizing text");
    printf("Total number of character: %zu\n", raw_len);
    printf("%.99s\n", raw);
    const char *example = "Hello, world. Is this-- a test?";
    TokenList words = simple_split(example, strlen(example));
    print_repr_list(words.tokens, words.count);
    token_list_free(&words);
    words = simple_split(raw, raw_len);
    printf("%d\n", words.count);
    print_repr_list(words.tokens, words.count < 30 ? words.count : 30);
    token_list_free(&words);
}

/* ==== 2.3 Converting tokens into token IDs ==== */

/* Returns SimpleTokenizerV1, which 2.4 shows failing. */
static SimpleTokenizer walkthrough_token_ids(const char *raw, size_t raw_len) {
    section("2.3 Converting tokens into token IDs");
    SimpleTokenizer v1 = simple_tokenizer_build(raw, raw_len, false);
    printf("%d\n", v1.size);
    for (int i = 0; i <= 50 && i < v1.size; i++) {
        putchar('(');
        print_repr(v1.words[i]);
        printf(", %d)\n", i);
    }
    const char *text = "\"It's the last he painted, you know,\" \n           Mrs. Gisburn said with pardonable pride.";
    int n_ids;
    int *ids = simple_encode(&v1, text, strlen(text), &n_ids, NULL);
    print_ids(ids, n_ids);
    char *decoded = simple_decode(&v1, ids, n_ids, NULL);
    printf("%s\n", decoded);
    free(decoded);
    free(ids);
    return v1;
}

/* ==== 2.4 Adding special context tokens ==== */

static void walkthrough_special_tokens(const char *raw, size_t raw_len, SimpleTokenizer *v1) {
    section("2.4 Adding special context tokens");
    char *unknown;
    int n_ids;
    const char *tea = "Hello, do you like tea?";
    int *ids = simple_encode(v1, tea, strlen(tea), &n_ids, &unknown);
    printf("SimpleTokenizerV1 cannot encode \"%s\": KeyError: '%s'\n", tea, unknown ? unknown : "?");
    free(unknown);
    free(ids);
    SimpleTokenizer v2 = simple_tokenizer_build(raw, raw_len, true);
    printf("%d\n", v2.size);
    for (int i = v2.size - 5; i < v2.size; i++) {
        putchar('(');
        print_repr(v2.words[i]);
        printf(", %d)\n", i);
    }
    const char *text = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace.";
    printf("%s\n", text);
    ids = simple_encode(&v2, text, strlen(text), &n_ids, NULL);
    print_ids(ids, n_ids);
    char *decoded = simple_decode(&v2, ids, n_ids, NULL);
    printf("%s\n", decoded);
    free(decoded);
    free(ids);
    simple_tokenizer_free(&v2);
}

/* ==== 2.5 Byte pair encoding ==== */

static void walkthrough_bpe(Bpe *bpe) {
    section("2.5 Byte pair encoding");
    const char *text = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace.";
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), true, &ids);
    print_ids(ids.data, ids.len);
    print_bytes(bpe, ids.data, ids.len);
    putchar('\n');
    ids.len = 0;
    const char *unknown = "Akwirw ier";
    bpe_encode(bpe, unknown, strlen(unknown), false, &ids);
    print_ids(ids.data, ids.len);
    for (size_t i = 0; i < ids.len; i++) {
        printf("%d -> '", ids.data[i]);
        print_bytes(bpe, ids.data + i, 1);
        puts("'");
    }
    print_bytes(bpe, ids.data, ids.len);
    putchar('\n');
    intvec_free(&ids);
}

/* ==== 2.6 Data sampling with a sliding window ==== */

/* enc: The Verdict's token ids. */
static void walkthrough_sampling(Bpe *bpe, const IntVec *enc) {
    section("2.6 Data sampling with a sliding window");
    printf("%zu\n", enc->len);
    const int *sample = enc->data + 50;
    const int context_size = 4;
    printf("x: ");
    print_ids(sample, context_size);
    printf("y:      ");
    print_ids(sample + 1, context_size);
    for (int i = 1; i <= context_size; i++) {
        print_id_list(sample, i);
        printf(" ----> %d\n", sample[i]);
    }
    for (int i = 1; i <= context_size; i++) {
        print_bytes(bpe, sample, i);
        fputs(" ---->", stdout);
        print_bytes(bpe, sample + i, 1);
        putchar('\n');
    }

    char err[256];
    int batch[8 * 4], target[8 * 4];
    TokenDataset ds;
    DataLoader dl;
    if (!dataset_init(&ds, enc->data, enc->len, 4, 1, err, sizeof err) ||
        !loader_init(&dl, &ds, 1, false, false, 0, err, sizeof err))
        fatal("%s", err);
    for (int b = 0; b < 2; b++) {
        loader_next(&dl, batch, target);
        fputs(b == 0 ? "first batch:\n" : "second batch:\n", stdout);
        print_int_tensor(batch, 1, 4);
        print_int_tensor(target, 1, 4);
    }
    loader_free(&dl);
    if (!dataset_init(&ds, enc->data, enc->len, 4, 4, err, sizeof err) ||
        !loader_init(&dl, &ds, 8, false, false, 0, err, sizeof err))
        fatal("%s", err);
    loader_next(&dl, batch, target);
    puts("Inputs:");
    print_int_tensor(batch, 8, 4);
    puts("\nTargets:");
    print_int_tensor(target, 8, 4);
    loader_free(&dl);
}

/* ==== 2.7 Creating token embeddings ==== */

/* rng: seeded as the book seeds torch (123); 2.8 draws on from here. */
static void walkthrough_token_embeddings(Rng *rng) {
    section("2.7 Creating token embeddings");
    Tensor small = tensor_zeros2(6, 3);
    tensor_fill_normal(&small, rng, 0.0f, 1.0f);
    puts("embedding weights (6 x 3, normal(0, 1) from our seeded RNG, so not PyTorch's numbers):");
    tensor_print(stdout, &small, 4);
    int input_ids[4] = {2, 3, 5, 1};
    Tensor looked_up = tensor_zeros2(4, 3);
    embedding_forward(looked_up.data, input_ids + 1, 1, small.data, 6, 3);
    puts("embedding of id 3:");
    Tensor row = tensor_view(looked_up.data, 2, (int[]){1, 3});
    tensor_print(stdout, &row, 4);
    embedding_forward(looked_up.data, input_ids, 4, small.data, 6, 3);
    puts("embeddings of [2, 3, 5, 1]:");
    tensor_print(stdout, &looked_up, 4);
    tensor_free(&small);
    tensor_free(&looked_up);
}

/* ==== 2.8 Encoding word positions ==== */

static void walkthrough_positions(Rng *rng, const IntVec *enc) {
    section("2.8 Encoding word positions");
    const int vocab_size = 50257, output_dim = 256, max_length = 4, batch_size = 8;
    Tensor token_table = tensor_zeros2(vocab_size, output_dim);
    Tensor pos_table = tensor_zeros2(max_length, output_dim);
    tensor_fill_normal(&token_table, rng, 0.0f, 1.0f);
    tensor_fill_normal(&pos_table, rng, 0.0f, 1.0f);
    char err[256];
    int batch[8 * 4], target[8 * 4];
    TokenDataset ds;
    DataLoader dl;
    if (!dataset_init(&ds, enc->data, enc->len, max_length, max_length, err, sizeof err) ||
        !loader_init(&dl, &ds, batch_size, false, false, 0, err, sizeof err))
        fatal("%s", err);
    loader_next(&dl, batch, target);
    puts("Token IDs:");
    print_int_tensor(batch, batch_size, max_length);
    char shape[64];
    Tensor inputs = tensor_view(NULL, 2, (int[]){batch_size, max_length});
    Tensor x = tensor_zeros3(batch_size, max_length, output_dim);
    embedding_forward(x.data, batch, batch_size * max_length, token_table.data, vocab_size, output_dim);
    printf("\nInputs shape:\n torch.Size(%s)\n", tensor_shape_str(&inputs, shape, sizeof shape));
    printf("token embeddings: torch.Size(%s)\n", tensor_shape_str(&x, shape, sizeof shape));
    printf("positional embeddings: torch.Size(%s)\n", tensor_shape_str(&pos_table, shape, sizeof shape));
    add_position_embeddings(x.data, pos_table.data, batch_size, max_length, output_dim);
    printf("input embeddings: torch.Size(%s)\n", tensor_shape_str(&x, shape, sizeof shape));
    tensor_free(&x);
    tensor_free(&token_table);
    tensor_free(&pos_table);
    loader_free(&dl);
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch02 walkthrough [--help]\n"
                 "Runs chapter 2's sections in order on The Verdict and prints what the book's notebook prints.\n");
}

static int cmd_walkthrough(int argc, char **argv) {
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
    for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
        if (c == 'h') return usage_walkthrough(stdout), 0;
        return cli_bad_usage("walkthrough");
    }
    cli_no_arguments("walkthrough", argc, argv);
    char *path = data_file("the-verdict.txt");
    size_t raw_len;
    char *raw = read_text_file(path, &raw_len);
    walkthrough_tokenizing(raw, raw_len);
    SimpleTokenizer v1 = walkthrough_token_ids(raw, raw_len);
    walkthrough_special_tokens(raw, raw_len, &v1);
    simple_tokenizer_free(&v1);
    Bpe *bpe = bpe_load_gpt2();
    walkthrough_bpe(bpe);
    IntVec enc = {0};
    bpe_encode(bpe, raw, raw_len, false, &enc);
    walkthrough_sampling(bpe, &enc);
    Rng rng;
    rng_seed(&rng, 123);
    walkthrough_token_embeddings(&rng);
    walkthrough_positions(&rng, &enc);
    intvec_free(&enc);
    bpe_free(bpe);
    free(raw);
    free(path);
    return 0;
}

/* ---- tokenize / decode -------------------------------------------------------- */

/* The tokenizer named by --tokenizer: gpt2, simple (V2 built from The
 * Verdict), or a directory holding encoder.json and vocab.bpe. */
typedef struct {
    Bpe *bpe;
    SimpleTokenizer simple;
    bool is_simple;
} AnyTokenizer;

static AnyTokenizer open_tokenizer(const char *name) {
    AnyTokenizer tok = {0};
    if (strcmp(name, "gpt2") == 0) {
        tok.bpe = bpe_load_gpt2();
    } else if (strcmp(name, "simple") == 0) {
        char *path = data_file("the-verdict.txt");
        size_t len;
        char *text = read_text_file(path, &len);
        tok.simple = simple_tokenizer_build(text, len, true);
        tok.is_simple = true;
        free(text);
        free(path);
    } else {
        char *enc = path_join(name, "encoder.json");
        if (!file_exists(enc)) fatal("--tokenizer %s: expected gpt2, simple, or a directory with encoder.json and vocab.bpe", name);
        free(enc);
        tok.bpe = bpe_load_dir(name);
    }
    return tok;
}

static void close_tokenizer(AnyTokenizer *tok) {
    if (tok->is_simple) simple_tokenizer_free(&tok->simple);
    else bpe_free(tok->bpe);
}

static void usage_tokenize(FILE *out) {
    fprintf(out, "usage: ch02 tokenize [--allow-special] [--tokenizer gpt2|simple|DIR] (--file FILE | --text TEXT)\n"
                 "Prints the token ids of the text, one per line.\n"
                 "  --tokenizer NAME   gpt2 (default), simple (the book's V2 built from The Verdict),\n"
                 "                     or a directory with encoder.json and vocab.bpe (see train-bpe)\n"
                 "  --allow-special    encode <|endoftext|> as its special id (otherwise it is plain text)\n"
                 "  --file FILE        read the text from FILE (UTF-8; invalid bytes become U+FFFD)\n"
                 "  --text TEXT        the text itself\n");
}

static int cmd_tokenize(int argc, char **argv) {
    static const struct option options[] = {{"allow-special", no_argument, NULL, 'a'},
                                            {"tokenizer", required_argument, NULL, 'k'},
                                            {"file", required_argument, NULL, 'f'},
                                            {"text", required_argument, NULL, 't'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    bool allow_special = false;
    const char *name = "gpt2", *file = NULL, *text_arg = NULL;
    for (int c; (c = getopt_long(argc, argv, "ak:f:t:h", options, NULL)) != -1;) {
        switch (c) {
        case 'a': allow_special = true; break;
        case 'k': name = optarg; break;
        case 'f': file = optarg; break;
        case 't': text_arg = optarg; break;
        case 'h': usage_tokenize(stdout); return 0;
        default: return cli_bad_usage("tokenize");
        }
    }
    cli_no_arguments("tokenize", argc, argv);
    if (!file == !text_arg) fatal("tokenize: give exactly one of --file FILE and --text TEXT");
    size_t len;
    char *text = file ? read_text_file(file, &len) : utf8_sanitize(text_arg, strlen(text_arg), &len);
    AnyTokenizer tok = open_tokenizer(name);
    if (tok.is_simple) {
        int n_ids;
        int *ids = simple_encode(&tok.simple, text, len, &n_ids, NULL);
        for (int i = 0; i < n_ids; i++) printf("%d\n", ids[i]);
        free(ids);
    } else {
        IntVec ids = {0};
        bpe_encode(tok.bpe, text, len, allow_special, &ids);
        for (size_t i = 0; i < ids.len; i++) printf("%d\n", ids.data[i]);
        intvec_free(&ids);
    }
    close_tokenizer(&tok);
    free(text);
    return 0;
}

static void usage_decode(FILE *out) {
    fprintf(out, "usage: ch02 decode [--tokenizer gpt2|simple|DIR] [--file FILE]\n"
                 "Reads white-space separated token ids (standard input by default) and writes\n"
                 "the text they stand for, byte for byte, to standard output.\n");
}

static int cmd_decode(int argc, char **argv) {
    static const struct option options[] = {{"tokenizer", required_argument, NULL, 'k'},
                                            {"file", required_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *name = "gpt2", *file = NULL;
    for (int c; (c = getopt_long(argc, argv, "k:f:h", options, NULL)) != -1;) {
        switch (c) {
        case 'k': name = optarg; break;
        case 'f': file = optarg; break;
        case 'h': usage_decode(stdout); return 0;
        default: return cli_bad_usage("decode");
        }
    }
    cli_no_arguments("decode", argc, argv);
    FILE *in = file ? xfopen(file, "rb") : stdin;
    const char *where = file ? file : "standard input";
    IntVec ids = {0};
    char word[32];
    for (int got; (got = fscanf(in, "%31s", word)) == 1;) {
        long id;
        if (!parse_long(word, 0, 0x7fffffff, &id)) fatal("%s: '%s' is not a token id", where, word);
        intvec_push(&ids, (int)id);
    }
    if (file) fclose(in);
    AnyTokenizer tok = open_tokenizer(name);
    int bad_id = 0;
    if (tok.is_simple) {
        char *text = simple_decode(&tok.simple, ids.data, (int)ids.len, &bad_id);
        if (!text) fatal("%s: token id %d is outside the vocabulary (0..%d)", where, bad_id, tok.simple.size - 1);
        fputs(text, stdout);
        free(text);
    } else {
        ByteBuf out = {0};
        if (!bpe_decode(tok.bpe, ids.data, ids.len, &out, &bad_id))
            fatal("%s: token id %d is outside the vocabulary (0..%d)", where, bad_id, bpe_vocab_size(tok.bpe) - 1);
        if (out.len) fwrite(out.data, 1, out.len, stdout);
        bytebuf_free(&out);
    }
    close_tokenizer(&tok);
    intvec_free(&ids);
    return 0;
}

/* ---- batches -------------------------------------------------------------------- */

static void usage_batches(FILE *out) {
    fprintf(out, "usage: ch02 batches [options]\n"
                 "Tokenizes a text with GPT-2's BPE and prints the data loader's batches (2.6).\n"
                 "  --file FILE        text to sample (default: The Verdict from the data directory)\n"
                 "  --batch-size N     samples per batch (default 8)\n"
                 "  --max-length N     tokens per sample (default 4)\n"
                 "  --stride N         tokens between sample starts (default 4)\n"
                 "  --shuffle          shuffle the samples (seeded)\n"
                 "  --seed N           seed for --shuffle (default 123)\n"
                 "  --drop-last        drop a last batch smaller than the batch size\n"
                 "  --limit N          print at most N batches (default 2; 0 prints all)\n");
}

static int cmd_batches(int argc, char **argv) {
    static const struct option options[] = {{"file", required_argument, NULL, 'f'},
                                            {"batch-size", required_argument, NULL, 'b'},
                                            {"max-length", required_argument, NULL, 'm'},
                                            {"stride", required_argument, NULL, 's'},
                                            {"shuffle", no_argument, NULL, 'S'},
                                            {"seed", required_argument, NULL, 'r'},
                                            {"drop-last", no_argument, NULL, 'd'},
                                            {"limit", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *file = NULL;
    long batch_size = 8, max_length = 4, stride = 4, seed = 123, limit = 2;
    bool shuffle = false, drop_last = false;
    for (int c; (c = getopt_long(argc, argv, "f:b:m:s:Sr:dl:h", options, NULL)) != -1;) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'b': batch_size = cli_long("--batch-size", optarg, 1, 1 << 20); break;
        case 'm': max_length = cli_long("--max-length", optarg, 1, 1 << 24); break;
        case 's': stride = cli_long("--stride", optarg, 1, 1 << 24); break;
        case 'S': shuffle = true; break;
        case 'r': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'd': drop_last = true; break;
        case 'l': limit = cli_long("--limit", optarg, 0, 0x7fffffffL); break;
        case 'h': usage_batches(stdout); return 0;
        default: return cli_bad_usage("batches");
        }
    }
    cli_no_arguments("batches", argc, argv);
    char *path = file ? xstrdup(file) : data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(path, &len);
    Bpe *bpe = bpe_load_gpt2();
    IntVec ids = {0};
    bpe_encode(bpe, text, len, false, &ids);
    char err[256];
    TokenDataset ds;
    DataLoader dl;
    if (!dataset_init(&ds, ids.data, ids.len, (int)max_length, (int)stride, err, sizeof err) ||
        !loader_init(&dl, &ds, (int)batch_size, shuffle, drop_last, (uint64_t)seed, err, sizeof err))
        fatal("batches: %s", err);
    printf("tokens %zu samples %d batches %d\n", ids.len, ds.n_samples, dl.n_batches);
    int *inputs = xmalloc(checked_mul(batch_size * max_length, sizeof(int)));
    int *targets = xmalloc(checked_mul(batch_size * max_length, sizeof(int)));
    for (long b = 0; limit == 0 || b < limit; b++) {
        int rows = loader_next(&dl, inputs, targets);
        if (rows == 0) break;
        printf("batch %ld\ninputs:\n", b + 1);
        print_int_tensor(inputs, rows, (int)max_length);
        puts("targets:");
        print_int_tensor(targets, rows, (int)max_length);
    }
    free(inputs);
    free(targets);
    loader_free(&dl);
    intvec_free(&ids);
    bpe_free(bpe);
    free(text);
    free(path);
    return 0;
}

/* ---- train-bpe -------------------------------------------------------------------- */

static void usage_train_bpe(FILE *out) {
    fprintf(out, "usage: ch02 train-bpe --vocab-size N --out DIR [--file FILE]\n"
                 "Trains a byte-level BPE (the book's bonus \"BPE from scratch\") and writes\n"
                 "DIR/encoder.json and DIR/vocab.bpe, usable as `--tokenizer DIR` everywhere.\n"
                 "  --vocab-size N     vocabulary size including the 256 bytes and <|endoftext|>\n"
                 "  --out DIR          where to write the files (created if needed)\n"
                 "  --file FILE        training text (default: The Verdict from the data directory)\n");
}

static int cmd_train_bpe(int argc, char **argv) {
    static const struct option options[] = {{"vocab-size", required_argument, NULL, 'v'},
                                            {"out", required_argument, NULL, 'o'},
                                            {"file", required_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    long vocab_size = 0;
    const char *out = NULL, *file = NULL;
    for (int c; (c = getopt_long(argc, argv, "v:o:f:h", options, NULL)) != -1;) {
        switch (c) {
        case 'v': vocab_size = cli_long("--vocab-size", optarg, 257, 1 << 24); break;
        case 'o': out = optarg; break;
        case 'f': file = optarg; break;
        case 'h': usage_train_bpe(stdout); return 0;
        default: return cli_bad_usage("train-bpe");
        }
    }
    cli_no_arguments("train-bpe", argc, argv);
    if (!vocab_size || !out) fatal("train-bpe: --vocab-size and --out are required");
    char *path = file ? xstrdup(file) : data_file("the-verdict.txt");
    size_t len;
    char *text = read_text_file(path, &len);
    BpeMerges merges = bpe_train(text, len, (int)vocab_size);
    bpe_train_save(&merges, out);
    printf("merges %d vocabulary %d\n", merges.n_merges, 257 + merges.n_merges);
    fprintf(stderr, "wrote %s/encoder.json and %s/vocab.bpe\n", out, out);
    bpe_merges_free(&merges);
    free(text);
    free(path);
    return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static const CliCommand commands[] = {
    {"walkthrough", cmd_walkthrough, "the chapter's sections in order, as the book's notebook prints them"},
    {"tokenize", cmd_tokenize, "text -> token ids, one per line"},
    {"decode", cmd_decode, "token ids -> the exact bytes of the text"},
    {"batches", cmd_batches, "the sliding-window data loader's batches"},
    {"train-bpe", cmd_train_bpe, "train a byte pair encoding from scratch"},
};

int main(int argc, char **argv) {
    static const CliProgram program = {
        .name = "ch02",
        .description =
            "Chapter 2 of Build a Large Language Model (From Scratch): working with text data.",
        .footer =
            "Data is read from $DATA_DIR (default: the checkout's data/; `make data` fetches it).\n",
        .commands = commands,
        .n_commands = sizeof commands / sizeof commands[0],
    };
    return cli_main(&program, argc, argv);
}
