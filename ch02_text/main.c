/* ch02: Chapter 2, Working with text data.
 *
 *   ch02 walkthrough            the chapter's sections in order, as the notebook prints them
 *   ch02 exercise [2.1|2.2]     the chapter's exercises, solved
 *   ch02 tokenize ...           text -> token ids, one per line
 *   ch02 decode ...             token ids -> the exact bytes
 *   ch02 batches ...            the sliding-window data loader's batches
 *   ch02 train-bpe ...          train a byte pair encoding from scratch
 *
 * Run `ch02 COMMAND --help` for the flags of each. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/printing.h"
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

/* ---- printing like the notebook ------------------------------------------
 * The walkthrough prints what the notebook prints, in its form: Python's
 * repr of strings and lists, PyTorch's of tensors. Before each cell's
 * output comes a line "In [N]: ...", N the cell's number in the notebook
 * (its execution count), so the two can be read side by side; our own
 * remarks are lines that start with "# ". */

static void print_repr_list(char **items, int n) {
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", stdout);
        print_repr(items[i]);
    }
    puts("]");
}

static void print_ids(const int *ids, size_t n) {
    write_int_list(ids, n);
    putchar('\n');
}

static void print_bytes(const Bpe *bpe, const int *ids, size_t n) {
    ByteBuf text = {0};
    bpe_decode(bpe, ids, n, &text, NULL);
    if (text.len) fwrite(text.data, 1, text.len, stdout);
    bytebuf_free(&text);
}

/* The Python repr of what the ids decode to. */
static void print_decoded_repr(const Bpe *bpe, const int *ids, size_t n) {
    ByteBuf text = {0};
    bpe_decode(bpe, ids, n, &text, NULL);
    bytebuf_append(&text, "", 1); /* a C string */
    print_repr(text.data);
    putchar('\n');
    bytebuf_free(&text);
}

/* The bytes of the first n characters (code points) of a valid UTF-8
 * text, Python's text[:n]; *chars gets how many there are (n, or fewer
 * when the text is shorter). */
static size_t first_characters(const char *text, size_t len, size_t n, size_t *chars) {
    size_t i = 0, count = 0;
    for (; i < len && count < n; count++) {
        uint32_t cp;
        int bytes = utf8_decode((const unsigned char *)text + i, len - i, &cp);
        i += bytes ? (size_t)bytes : 1;
    }
    if (chars) *chars = count;
    return i;
}

/* The first batch of create_dataloader_v1(batch_size, max_length, stride,
 * shuffle=False) over the token ids: inputs and targets (batch_size,
 * max_length). */
static void first_batch(const IntVec *ids, int batch_size, int max_length, int stride, int *inputs, int *targets) {
    char err[256];
    TokenDataset ds;
    DataLoader dl;
    if (!dataset_init(&ds, ids->data, ids->len, max_length, stride, err, sizeof err) ||
        !loader_init(&dl, &ds, batch_size, false, false, 0, err, sizeof err))
        fatal("%s", err);
    if (loader_next(&dl, inputs, targets) != batch_size) fatal("fewer than %d samples", batch_size);
    loader_free(&dl);
}

/* ---- walkthrough ------------------------------------------------------------
 * One function per section of the chapter, in the book's order. */

/* ==== 2.1 Understanding word embeddings ==== */

static void walkthrough_word_embeddings(void) {
    section("2.1 Understanding word embeddings");
    puts("# no code in this section");
}

/* ==== 2.2 Tokenizing text ==== */

/* Prints the splits the section builds up to, on its two example texts
 * and then on The Verdict, whose words (preprocessed) 2.3 puts in order. */
static void walkthrough_tokenizing(const char *raw, size_t raw_len) {
    section("2.2 Tokenizing text");
    cell(3, "the length of The Verdict in characters, and its first 99");
    size_t n_chars;
    first_characters(raw, raw_len, SIZE_MAX, &n_chars); /* len(raw_text) counts characters, not bytes */
    printf("Total number of character: %zu\n", n_chars);
    printf("%.*s\n", (int)first_characters(raw, raw_len, 99, NULL), raw);

    const char *text = "Hello, world. This, is a test.";
    cell(4, "split at white space, keeping it");
    TokenList result = regex_split(text, strlen(text), SPLIT_SPACE);
    print_repr_list(result.tokens, result.count);
    token_list_free(&result);
    cell(5, "split at commas and periods too");
    result = regex_split(text, strlen(text), SPLIT_COMMA_PERIOD);
    print_repr_list(result.tokens, result.count);
    cell(6, "the blank pieces dropped");
    drop_blank(&result, false);
    print_repr_list(result.tokens, result.count);
    token_list_free(&result);

    text = "Hello, world. Is this-- a test?";
    cell(7, "the other punctuation and \"--\" too, each piece stripped");
    result = simple_split(text, strlen(text));
    print_repr_list(result.tokens, result.count);
    token_list_free(&result);

    TokenList preprocessed = simple_split(raw, raw_len);
    cell(8, "The Verdict split so: its first 30 tokens");
    print_repr_list(preprocessed.tokens, preprocessed.count < 30 ? preprocessed.count : 30);
    cell(9, "and how many there are");
    printf("%d\n", preprocessed.count);
    token_list_free(&preprocessed);
}

/* ==== 2.3 Converting tokens into token IDs ==== */

/* Returns SimpleTokenizerV1, which 2.4 shows failing. */
static SimpleTokenizer walkthrough_token_ids(const char *raw, size_t raw_len) {
    section("2.3 Converting tokens into token IDs");
    SimpleTokenizer v1 = simple_tokenizer_build(raw, raw_len, false);
    cell(10, "the vocabulary's size: the distinct tokens");
    printf("%d\n", v1.size);
    cell(12, "its first 51 entries, (token, id)");
    for (int i = 0; i <= 50 && i < v1.size; i++) {
        putchar('(');
        print_repr(v1.words[i]);
        printf(", %d)\n", i);
    }
    const char *text = "\"It's the last he painted, you know,\" \n           Mrs. Gisburn said with pardonable pride.";
    int n_ids;
    int *ids = simple_encode(&v1, text, strlen(text), &n_ids, NULL);
    cell(14, "SimpleTokenizerV1 encodes a passage of the text");
    print_ids(ids, n_ids);
    char *decoded = simple_decode(&v1, ids, n_ids, NULL);
    cell(15, "and decodes the ids");
    print_repr(decoded);
    putchar('\n');
    free(decoded);
    free(ids);
    cell(16, "decode(encode(text)) in one go");
    ids = simple_encode(&v1, text, strlen(text), &n_ids, NULL);
    decoded = simple_decode(&v1, ids, n_ids, NULL);
    print_repr(decoded);
    putchar('\n');
    free(decoded);
    free(ids);
    return v1;
}

/* ==== 2.4 Adding special context tokens ==== */

static void walkthrough_special_tokens(const char *raw, size_t raw_len, SimpleTokenizer *v1) {
    section("2.4 Adding special context tokens");
    char *unknown;
    int n_ids;
    const char *sample = "Hello, do you like tea. Is this-- a test?";
    int *ids = simple_encode(v1, sample, strlen(sample), &n_ids, &unknown);
    cell(17, "V1 on a text with a word The Verdict lacks fails with");
    printf("KeyError: ");
    print_repr(unknown ? unknown : "?");
    putchar('\n');
    free(unknown);
    free(ids);
    SimpleTokenizer v2 = simple_tokenizer_build(raw, raw_len, true);
    cell(19, "the vocabulary with <|endoftext|> and <|unk|> added");
    printf("%d\n", v2.size);
    cell(20, "its last 5 entries");
    for (int i = v2.size - 5; i < v2.size; i++) {
        putchar('(');
        print_repr(v2.words[i]);
        printf(", %d)\n", i);
    }
    const char *text = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace.";
    cell(22, "two texts joined by <|endoftext|>");
    printf("%s\n", text);
    ids = simple_encode(&v2, text, strlen(text), &n_ids, NULL);
    cell(23, "SimpleTokenizerV2 encodes them");
    print_ids(ids, n_ids);
    char *decoded = simple_decode(&v2, ids, n_ids, NULL);
    cell(24, "and decodes them: the unknown words are <|unk|>");
    print_repr(decoded);
    putchar('\n');
    free(decoded);
    free(ids);
    simple_tokenizer_free(&v2);
}

/* ==== 2.5 Byte pair encoding ==== */

static void walkthrough_bpe(Bpe *bpe) {
    section("2.5 BytePair encoding");
    /* The notebook's string pieces are joined without a space, so the
     * text reads "terracesof"; the book's page has "terraces of". */
    const char *text = "Hello, do you like tea? <|endoftext|> In the sunlit terracesof someunknownPlace.";
    IntVec ids = {0};
    bpe_encode(bpe, text, strlen(text), true, &ids);
    cell(28, "GPT-2's tokenizer encodes a text with <|endoftext|> allowed");
    puts("# the notebook's text now reads \"terracesof\", so \"of\" is id 1659; the book's page has");
    puts("# \"terraces of\", where \" of\" is id 286: we follow the notebook");
    print_ids(ids.data, ids.len);
    cell(29, "and decodes it: every word comes back, known or not");
    print_bytes(bpe, ids.data, ids.len);
    putchar('\n');
    intvec_free(&ids);
}

/* ==== 2.6 Data sampling with a sliding window ==== */

/* enc: The Verdict's token ids. */
static void walkthrough_sampling(Bpe *bpe, const IntVec *enc) {
    section("2.6 Data sampling with a sliding window");
    cell(30, "The Verdict's length in GPT-2 tokens");
    printf("%zu\n", enc->len);
    const int *enc_sample = enc->data + 50;
    const int context_size = 4;
    cell(32, "from token 50 on: an input x and its target y, x shifted by one");
    printf("x: ");
    print_ids(enc_sample, context_size);
    printf("y:      ");
    print_ids(enc_sample + 1, context_size);
    cell(33, "each context and the token to predict after it");
    for (int i = 1; i <= context_size; i++) {
        write_int_list(enc_sample, i);
        printf(" ----> %d\n", enc_sample[i]);
    }
    cell(34, "the same as text (print puts a space between its arguments)");
    for (int i = 1; i <= context_size; i++) {
        print_bytes(bpe, enc_sample, i);
        fputs(" ----> ", stdout);
        print_bytes(bpe, enc_sample + i, 1);
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
        cell(39 + b, b == 0 ? "the loader's first batch (batch_size=1, max_length=4, stride=1): [inputs, targets]"
                            : "its second batch: the window moved one token on");
        fputs("[", stdout);
        write_int_tensor(batch, 1, 4);
        fputs(", ", stdout);
        write_int_tensor(target, 1, 4);
        puts("]");
    }
    loader_free(&dl);
    first_batch(enc, 8, 4, 4, batch, target);
    cell(41, "a batch of 8 with max_length=4 and stride=4");
    puts("Inputs:");
    putchar(' ');
    print_int_tensor(batch, 8, 4);
    puts("\nTargets:");
    putchar(' ');
    print_int_tensor(target, 8, 4);
}

/* ==== 2.7 Creating token embeddings ==== */

/* rng: seeded as the book seeds torch (123); 2.8 draws on from here. */
static void walkthrough_token_embeddings(Rng *rng) {
    section("2.7 Creating token embeddings");
    const int vocab_size = 6, output_dim = 3;
    Tensor weight = tensor_zeros2(vocab_size, output_dim);
    tensor_fill_normal(&weight, rng, 0.0f, 1.0f);
    cell(44, "the embedding layer's weights, normal(0, 1)");
    puts("# the book draws them with PyTorch's generator (torch.manual_seed(123)); these, and");
    puts("# 2.8's, come from ours (common/rng.c, seeded 123), so their numbers are not the book's");
    tensor_print(stdout, &weight, 4);
    int input_ids[4] = {2, 3, 5, 1};
    Tensor looked_up = tensor_zeros2(4, output_dim);
    embedding_forward(looked_up.data, input_ids + 1, 1, weight.data, vocab_size, output_dim);
    cell(45, "the embedding of id 3: row 3 of the weights");
    Tensor row = tensor_view(looked_up.data, 2, (int[]){1, output_dim});
    tensor_print(stdout, &row, 4);
    embedding_forward(looked_up.data, input_ids, 4, weight.data, vocab_size, output_dim);
    cell(46, "the embeddings of the ids [2, 3, 5, 1]: rows 2, 3, 5, 1");
    tensor_print(stdout, &looked_up, 4);
    tensor_free(&weight);
    tensor_free(&looked_up);
}

/* ==== 2.8 Encoding word positions ==== */

static void walkthrough_positions(Rng *rng, const IntVec *enc) {
    section("2.8 Encoding word positions");
    const int vocab_size = 50257, output_dim = 256, max_length = 4, batch_size = 8;
    Tensor token_table = tensor_zeros2(vocab_size, output_dim);
    tensor_fill_normal(&token_table, rng, 0.0f, 1.0f);
    int inputs[8 * 4], targets[8 * 4];
    first_batch(enc, batch_size, max_length, max_length, inputs, targets);
    cell(49, "a batch of token ids, and its shape");
    puts("Token IDs:");
    putchar(' ');
    print_int_tensor(inputs, batch_size, max_length);
    char shape[64];
    Tensor inputs_view = tensor_view(NULL, 2, (int[]){batch_size, max_length});
    printf("\nInputs shape:\n torch.Size(%s)\n", tensor_shape_str(&inputs_view, shape, sizeof shape));
    Tensor token_embeddings = tensor_zeros3(batch_size, max_length, output_dim);
    embedding_forward(token_embeddings.data, inputs, batch_size * max_length, token_table.data, vocab_size, output_dim);
    cell(50, "the shape of its token embeddings");
    printf("torch.Size(%s)\n", tensor_shape_str(&token_embeddings, shape, sizeof shape));
    /* the positions 0..max_length-1 looked up in a table of their own */
    const int context_length = max_length;
    Tensor pos_table = tensor_zeros2(context_length, output_dim);
    tensor_fill_normal(&pos_table, rng, 0.0f, 1.0f);
    int positions[4];
    for (int i = 0; i < max_length; i++) positions[i] = i;
    Tensor pos_embeddings = tensor_zeros2(max_length, output_dim);
    embedding_forward(pos_embeddings.data, positions, max_length, pos_table.data, context_length, output_dim);
    cell(52, "the shape of the position embeddings");
    printf("torch.Size(%s)\n", tensor_shape_str(&pos_embeddings, shape, sizeof shape));
    /* token_embeddings + pos_embeddings: each sequence gets the same rows */
    add_position_embeddings(token_embeddings.data, pos_embeddings.data, batch_size, max_length, output_dim);
    cell(53, "the shape of their sum, the input embeddings");
    printf("torch.Size(%s)\n", tensor_shape_str(&token_embeddings, shape, sizeof shape));
    tensor_free(&token_embeddings);
    tensor_free(&pos_embeddings);
    tensor_free(&token_table);
    tensor_free(&pos_table);
}

static void usage_walkthrough(FILE *out) {
    fprintf(out, "usage: ch02 walkthrough [--help]\n"
                 "Runs chapter 2's notebook (ch02.ipynb) section by section on The Verdict and\n"
                 "prints every value it prints, each cell's output after a line \"In [N]: ...\",\n"
                 "N the cell's number in the notebook. The embedding weights of 2.7 and 2.8 come\n"
                 "from our seeded generator, not PyTorch's, so those numbers are not the book's.\n");
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
    walkthrough_word_embeddings();
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

/* ---- exercises ------------------------------------------------------------------
 * The chapter's exercises, as the book's exercise-solutions notebook
 * solves them; the "In [N]" numbers are that notebook's. */

/* Exercise 2.1: byte pair encoding of unknown words. */
static void exercise_2_1(void) {
    section("Exercise 2.1 Byte pair encoding of unknown words");
    puts("# Encode the made-up words \"Akwirw ier\" with GPT-2's tokenizer, decode each id on its");
    puts("# own to see the pieces BPE breaks them into, then decode all the ids to get the text back.");
    Bpe *bpe = bpe_load_gpt2();
    const char *text = "Akwirw ier";
    IntVec ids = {0}, piece_ids = {0};
    bpe_encode(bpe, text, strlen(text), false, &ids);
    cell(3, "the ids");
    print_ids(ids.data, ids.len);
    cell(4, "each id and the piece it stands for");
    for (size_t i = 0; i < ids.len; i++) {
        printf("%d -> ", ids.data[i]);
        print_bytes(bpe, ids.data + i, 1);
        putchar('\n');
    }
    /* each piece encoded on its own is its id again: the pieces are
     * tokens of the vocabulary, not just parts of the text */
    for (size_t i = 0; i < ids.len; i++) {
        ByteBuf piece = {0};
        bpe_decode(bpe, ids.data + i, 1, &piece, NULL);
        piece_ids.len = 0;
        bpe_encode(bpe, piece.data, piece.len, false, &piece_ids);
        bytebuf_append(&piece, "", 1);
        printf("In [%zu]: the piece ", 5 + i);
        print_repr(piece.data);
        puts(" encoded alone");
        print_ids(piece_ids.data, piece_ids.len);
        bytebuf_free(&piece);
    }
    cell(11, "all the ids decoded: the words come back");
    print_decoded_repr(bpe, ids.data, ids.len);
    intvec_free(&piece_ids);
    intvec_free(&ids);
    bpe_free(bpe);
}

/* Exercise 2.2: the data loader with other strides and context sizes. */
static void exercise_2_2(void) {
    section("Exercise 2.2 Data loaders with different strides and context sizes");
    puts("# Run the data loader on The Verdict with max_length=2 and stride=2, then with");
    puts("# max_length=8 and stride=2, and look at the first batch of inputs each time.");
    char *path = data_file("the-verdict.txt");
    size_t len;
    char *raw = read_text_file(path, &len);
    Bpe *bpe = bpe_load_gpt2();
    IntVec enc = {0};
    bpe_encode(bpe, raw, len, true, &enc); /* the data set allows <|endoftext|> */
    const int batch_size = 4, stride = 2, max_lengths[2] = {2, 8};
    int inputs[4 * 8], targets[4 * 8];
    for (int k = 0; k < 2; k++) {
        first_batch(&enc, batch_size, max_lengths[k], stride, inputs, targets);
        printf("In [%d]: batch_size=%d, max_length=%d, stride=%d: the first batch's inputs\n", 13 + k, batch_size,
               max_lengths[k], stride);
        print_int_tensor(inputs, batch_size, max_lengths[k]);
    }
    puts("# with stride = max_length the windows meet end to end; a smaller stride makes them");
    puts("# overlap (here by 6 tokens), so one text gives more samples, each token in several");
    intvec_free(&enc);
    bpe_free(bpe);
    free(raw);
    free(path);
}

static const struct {
    const char *number;
    void (*run)(void);
} exercises[] = {{"2.1", exercise_2_1}, {"2.2", exercise_2_2}};

static void usage_exercise(FILE *out) {
    fprintf(out, "usage: ch02 exercise [2.1|2.2]\n"
                 "Solves one of the chapter's exercises (all of them, in order, when none is named),\n"
                 "printing the question and then what the solution prints, each output after a line\n"
                 "\"In [N]: ...\", N the cell of the book's exercise-solutions notebook.\n"
                 "  2.1   byte pair encoding of the unknown words \"Akwirw ier\"\n"
                 "  2.2   the data loader with max_length 2 and 8, stride 2\n");
}

static int cmd_exercise(int argc, char **argv) {
    static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
    for (int c; (c = getopt_long(argc, argv, "h", options, NULL)) != -1;) {
        if (c == 'h') return usage_exercise(stdout), 0;
        return cli_bad_usage("exercise");
    }
    const int n = sizeof exercises / sizeof exercises[0];
    if (optind + 1 < argc) fatal("exercise: unexpected argument '%s'", argv[optind + 1]);
    const char *number = optind < argc ? argv[optind] : NULL;
    bool found = false;
    for (int i = 0; i < n; i++)
        if (!number || strcmp(number, exercises[i].number) == 0) exercises[i].run(), found = true;
    if (!found) fatal("exercise: no exercise '%s' in chapter 2 (there are 2.1 and 2.2)", number);
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
    {"exercise", cmd_exercise, "the chapter's exercises (2.1, 2.2), solved"},
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
