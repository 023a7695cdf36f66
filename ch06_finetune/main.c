/* ch06: Chapters 6 and 7 of the book, finetuning.
 *
 *   ch06 walkthrough          both chapters section by section, as the notebooks run
 *                             (walkthrough.c)
 *   ch06 prepare-spam ...     6.2: the balanced SMS spam splits as CSV files
 *   ch06 train-classifier ... 6.3-6.8: finetune a GPT to classify spam
 *   ch06 classify ...         6.8: spam or not spam, with a finetuned classifier
 *   ch06 train-instruct ...   7.2-7.7: finetune a GPT to follow instructions
 *   ch06 instruct ...         7.7: a finetuned model's response to an instruction
 *   ch06 exercise [N.M]       the exercises of chapters 6 and 7, solved (exercises.c)
 *   ch06 appendix-e ...       appendix E: LoRA, the notebook cell by cell
 *
 * MODEL is a directory with OpenAI's GPT-2 files (make gpt2-124M), a Hugging
 * Face directory (config.json and model.safetensors), a checkpoint written by
 * ch05 or ch06, or "random" for a randomly initialised model (for trying the
 * programs out quickly). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ch02_text/bpe.h"
#include "../ch02_text/utf8.h"
#include "../ch04_gpt/gpt.h"
#include "../ch05_pretrain/gpt_weights.h"
#include "../common/cli.h"
#include "../common/util.h"
#include "appendix_e.h"
#include "classifier.h"
#include "csv.h"
#include "example_loader.h"
#include "exercises.h"
#include "finetune.h"
#include "instruction_data.h"
#include "spam_data.h"
#include "train_classifier.h"
#include "train_instruct.h"
#include "walkthrough.h"

/* ---- prepare-spam ------------------------------------------------------------ */

static int cmd_prepare_spam(int argc, char **argv) {
    static const struct option options[] = {{"out", required_argument, NULL, 'o'},
                                            {"sms", required_argument, NULL, 'i'},
                                            {"seed", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *out = NULL, *sms_path = NULL;
    long seed = 123;
    for (int c; (c = getopt_long(argc, argv, "o:i:s:h", options, NULL)) != -1;) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'i': sms_path = optarg; break;
        case 's': seed = cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case 'h':
            printf("usage: ch06 prepare-spam --out DIR [--sms FILE] [--seed N]\n"
                   "6.2: reads the SMS Spam Collection (default: DATA_DIR/sms_spam/SMSSpamCollection), keeps\n"
                   "all spam and as many ham messages drawn at random, shuffles, splits 70/10/20 and writes\n"
                   "DIR/train.csv, DIR/validation.csv and DIR/test.csv (header Label,Text; ham 0, spam 1).\n"
                   "  --seed N    seed of the draw and the shuffle (123)\n");
            return 0;
        default: return cli_bad_usage("prepare-spam");
        }
    }
    cli_no_arguments("prepare-spam", argc, argv);
    if (!out) fatal("prepare-spam: --out is required");
    char *path = sms_path ? xstrdup(sms_path) : data_file("sms_spam/SMSSpamCollection");
    TextSet all = sms_read_collection(path);
    printf("%s: ham %d, spam %d\n", path, textset_count(&all, LABEL_HAM), textset_count(&all, LABEL_SPAM));
    TextSet balanced = sms_balance(&all, (uint64_t)seed);
    TextSet sets[3];
    textset_split(&balanced, 0.7, 0.1, (uint64_t)seed, &sets[0], &sets[1], &sets[2]);
    make_dirs(out);
    const char *names[3] = {"train.csv", "validation.csv", "test.csv"};
    for (int i = 0; i < 3; i++) {
        char *p = path_join(out, names[i]);
        textset_write_csv(&sets[i], p);
        printf("%s: %d texts (ham %d, spam %d)\n", p, sets[i].n, textset_count(&sets[i], LABEL_HAM),
               textset_count(&sets[i], LABEL_SPAM));
        free(p);
        textset_free(&sets[i]);
    }
    textset_free(&balanced);
    textset_free(&all);
    free(path);
    return 0;
}

/* ---- shared flags of the training commands ---------------------------------------- */

enum {
    OPT_EMB = 256, OPT_LAYERS, OPT_HEADS, OPT_CONTEXT, OPT_DROPOUT, OPT_WD, OPT_BATCH, OPT_EVAL_FREQ, OPT_EVAL_ITER,
    OPT_MAX_LENGTH, OPT_TRAINABLE, OPT_DATA_DIR, OPT_ALLOWED, OPT_MAX_NEW, OPT_NO_SAMPLES, OPT_NO_RESPONSES,
    OPT_INSTRUCTION, OPT_INPUT, OPT_LORA_RANK, OPT_LORA_ALPHA, OPT_TOKEN, OPT_PROMPT_STYLE, OPT_MASK,
};

#define MODEL_FLAGS_HELP                                                                                    \
    "  --model MODEL        the model to start from; \"random\" for a random one of this size:\n"           \
    "  --emb-dim N, --n-layers N, --n-heads N, --context N   (defaults: GPT-2 small's 768, 12, 12, 1024)\n"   \
    "  --dropout X          dropout while training (0, as the book)\n"

/* The flags every training command has; false when c is not one of them. */
static bool model_flag(int c, ModelChoice *mc) {
    switch (c) {
    case 'm': mc->path = optarg; return true;
    case OPT_EMB: mc->emb_dim = (int)cli_long("--emb-dim", optarg, 1, 1 << 16); return true;
    case OPT_LAYERS: mc->n_layers = (int)cli_long("--n-layers", optarg, 1, 1024); return true;
    case OPT_HEADS: mc->n_heads = (int)cli_long("--n-heads", optarg, 1, 1024); return true;
    case OPT_CONTEXT: mc->context = (int)cli_long("--context", optarg, 1, 1 << 20); return true;
    case OPT_DROPOUT: mc->dropout = cli_float("--dropout", optarg, 0, 0.99); return true;
    default: return false;
    }
}

#define LORA_FLAGS_HELP                                                                                     \
    "  --lora-rank N        appendix E: freeze the whole model and train LoRA adapters of rank N on every\n" \
    "                       linear layer and the head (0, the default: off; the book: 16); the checkpoint\n" \
    "                       has them merged into the weights\n"                                               \
    "  --lora-alpha X       LoRA's alpha: the adapters are scaled by alpha / rank (16)\n"

/* --lora-rank and --lora-alpha; false when c is not one of them. */
static bool lora_flag(int c, int *rank, float *alpha) {
    switch (c) {
    case OPT_LORA_RANK: *rank = (int)cli_long("--lora-rank", optarg, 0, 1 << 16); return true;
    case OPT_LORA_ALPHA: *alpha = cli_float("--lora-alpha", optarg, 1e-6, 1e6); return true;
    default: return false;
    }
}

#define MODEL_OPTIONS                                                                                                \
    {"model", required_argument, NULL, 'm'}, {"emb-dim", required_argument, NULL, OPT_EMB},                         \
        {"n-layers", required_argument, NULL, OPT_LAYERS}, {"n-heads", required_argument, NULL, OPT_HEADS},         \
        {"context", required_argument, NULL, OPT_CONTEXT}, {"dropout", required_argument, NULL, OPT_DROPOUT},       \
        {"epochs", required_argument, NULL, 'e'}, {"lr", required_argument, NULL, 'l'},                             \
        {"weight-decay", required_argument, NULL, OPT_WD}, {"batch-size", required_argument, NULL, OPT_BATCH},      \
        {"seed", required_argument, NULL, 's'}, {"eval-freq", required_argument, NULL, OPT_EVAL_FREQ},              \
        {"eval-iter", required_argument, NULL, OPT_EVAL_ITER}, {"out", required_argument, NULL, 'o'},               \
        {"lora-rank", required_argument, NULL, OPT_LORA_RANK}, {"lora-alpha", required_argument, NULL, OPT_LORA_ALPHA}, \
        {"help", no_argument, NULL, 'h'}

/* ---- train-classifier ------------------------------------------------------------------ */

static void usage_train_classifier(FILE *out) {
    fprintf(out,
            "usage: ch06 train-classifier [options]\n"
            "Finetunes a GPT to classify SMS messages as spam or not, as the book's chapter 6 does (defaults:\n"
            "the book's run on GPT-2 small from DATA_DIR/gpt2/124M, which `make gpt2-124M` downloads).\n"
            "Writes OUT/log.csv, OUT/accuracy.csv, their plots OUT/loss.png and OUT/accuracy.png, and the\n"
            "finetuned model OUT/checkpoint.safetensors for `ch06 classify`.\n" MODEL_FLAGS_HELP
            "  --data-dir DIR       train.csv, validation.csv, test.csv from `ch06 prepare-spam` (default: made\n"
            "                       from DATA_DIR/sms_spam/SMSSpamCollection and written to OUT)\n"
            "  --epochs N           (5)\n"
            "  --lr X               AdamW learning rate (5e-5)\n"
            "  --weight-decay X     AdamW weight decay (0.1)\n"
            "  --batch-size N       (8)\n"
            "  --max-length N       pad and cut every text to N tokens (default: the longest training text);\n"
            "                       `context`: the model's context length (exercise 6.1)\n"
            "  --trainable-blocks N train the last N transformer blocks (1), with the final norm and the head;\n"
            "                       `all`: every parameter, the embeddings too (exercise 6.2)\n"
            "  --token first|last   the token whose output the head reads (last; exercise 6.3: first)\n"
            LORA_FLAGS_HELP
            "  --seed N             seed of the split, the new head, shuffling, dropout and LoRA's A (123)\n"
            "  --eval-freq N        evaluate the losses every N steps (50)\n"
            "  --eval-iter N        batches per evaluation and per epoch's accuracy (5)\n"
            "  --out DIR            run directory (runs/classifier)\n");
}

static int cmd_train_classifier(int argc, char **argv) {
    static const struct option options[] = {MODEL_OPTIONS,
                                            {"data-dir", required_argument, NULL, OPT_DATA_DIR},
                                            {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
                                            {"trainable-blocks", required_argument, NULL, OPT_TRAINABLE},
                                            {"token", required_argument, NULL, OPT_TOKEN},
                                            {0}};
    ClassifierTrainOptions o = classifier_train_default_options();
    for (int c; (c = getopt_long(argc, argv, "m:e:l:s:o:h", options, NULL)) != -1;) {
        if (model_flag(c, &o.model)) continue;
        if (lora_flag(c, &o.lora_rank, &o.lora_alpha)) continue;
        switch (c) {
        case 'e': o.epochs = (int)cli_long("--epochs", optarg, 1, 1000000); break;
        case 'l': o.lr = cli_float("--lr", optarg, 0, 10); break;
        case OPT_WD: o.weight_decay = cli_float("--weight-decay", optarg, 0, 10); break;
        case OPT_BATCH: o.batch_size = (int)cli_long("--batch-size", optarg, 1, 65536); break;
        case 's': o.seed = (uint64_t)cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case OPT_EVAL_FREQ: o.eval_freq = (int)cli_long("--eval-freq", optarg, 1, 1 << 30); break;
        case OPT_EVAL_ITER: o.eval_iter = (int)cli_long("--eval-iter", optarg, 1, 1 << 30); break;
        case 'o': o.out_dir = optarg; break;
        case OPT_DATA_DIR: o.data_dir = optarg; break;
        case OPT_MAX_LENGTH:
            o.max_length = strcmp(optarg, "context") == 0 ? CLASSIFIER_MAX_LENGTH_CONTEXT
                                                          : (int)cli_long("--max-length", optarg, 1, 1 << 20);
            break;
        case OPT_TRAINABLE:
            o.trainable_blocks = strcmp(optarg, "all") == 0 ? CLASSIFIER_TRAINABLE_ALL
                                                            : (int)cli_long("--trainable-blocks", optarg, 0, 1024);
            break;
        case OPT_TOKEN:
            if (!classifier_token_parse(optarg, &o.token)) fatal("--token: '%s' is not 'first' or 'last'", optarg);
            break;
        case 'h': usage_train_classifier(stdout); return 0;
        default: return cli_bad_usage("train-classifier");
        }
    }
    cli_no_arguments("train-classifier", argc, argv);
    o.model.seed = o.seed;
    train_classifier(&o);
    return 0;
}

/* ---- classify ---------------------------------------------------------------------------- */

static int cmd_classify(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"text", required_argument, NULL, 't'},
                                            {"max-length", required_argument, NULL, OPT_MAX_LENGTH},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *text = NULL;
    long max_length = 0;
    for (int c; (c = getopt_long(argc, argv, "m:t:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 't': text = optarg; break;
        case OPT_MAX_LENGTH: max_length = cli_long("--max-length", optarg, 1, 1 << 20); break;
        case 'h':
            printf("usage: ch06 classify --model CHECKPOINT --text TEXT [--max-length N]\n"
                   "6.8 classify_review: prints \"spam\" or \"not spam\" for TEXT, using a checkpoint written by\n"
                   "`ch06 train-classifier`. The text is cut and padded to the length the model was trained\n"
                   "on (stored in the checkpoint), or to N tokens; the head reads the token it was trained on\n"
                   "(the last, or the first: stored too).\n");
            return 0;
        default: return cli_bad_usage("classify");
        }
    }
    cli_no_arguments("classify", argc, argv);
    if (!model_path || !text) fatal("classify: --model and --text are required");
    int trained_length;
    Classifier *c = classifier_load(model_path, &trained_length);
    if (max_length == 0) max_length = trained_length;
    const int context = c->gpt->config.context_length;
    if (max_length > context) fatal("--max-length %ld is longer than the model's context of %d", max_length, context);
    Bpe *bpe = gpt_load_tokenizer(model_path);
    printf("%s\n", classify_review(c, bpe, text, (int)max_length) == LABEL_SPAM ? "spam" : "not spam");
    bpe_free(bpe);
    classifier_free(c);
    return 0;
}

/* ---- train-instruct ------------------------------------------------------------------------ */

static void usage_train_instruct(FILE *out) {
    fprintf(out,
            "usage: ch06 train-instruct [options]\n"
            "Finetunes a GPT to follow instructions, as the book's chapter 7 does (defaults: the book's run\n"
            "on GPT-2 medium from DATA_DIR/gpt2/355M, which `make gpt2-355M` downloads), then writes its\n"
            "responses to the test set. Writes OUT/log.csv, OUT/loss.png, OUT/checkpoint.safetensors and\n"
            "OUT/instruction-data-with-response.json.\n" MODEL_FLAGS_HELP
            "  --data FILE          the instruction data (default: DATA_DIR/instruction-data.json); the first\n"
            "                       85%% train, the next 10%% test, the rest validate\n"
            "  --epochs N           (2)\n"
            "  --lr X               AdamW learning rate (5e-5)\n"
            "  --weight-decay X     AdamW weight decay (0.1)\n"
            "  --batch-size N       (8)\n"
            "  --allowed-max-length N   cut batches to N tokens (1024, or the model's context if shorter)\n"
            "  --max-new-tokens N   the longest response generated for the test set (256)\n"
            "  --prompt-style S     alpaca (the book's) or phi3 (exercise 7.1: <|user|> ... <|assistant|>:)\n"
            "  --mask-instructions  the loss counts the responses only: the prompts' targets are -100 too\n"
            "                       (exercise 7.2)\n"
            LORA_FLAGS_HELP
            "  --seed N             seed of shuffling, dropout and LoRA's A (123)\n"
            "  --eval-freq N        evaluate the losses every N steps (5)\n"
            "  --eval-iter N        batches per evaluation (5)\n"
            "  --out DIR            run directory (runs/instruct)\n"
            "  --no-samples         don't print a sample response after each epoch\n"
            "  --no-responses       don't generate the test set's responses\n");
}

static int cmd_train_instruct(int argc, char **argv) {
    static const struct option options[] = {MODEL_OPTIONS,
                                            {"data", required_argument, NULL, 'd'},
                                            {"allowed-max-length", required_argument, NULL, OPT_ALLOWED},
                                            {"max-new-tokens", required_argument, NULL, OPT_MAX_NEW},
                                            {"no-samples", no_argument, NULL, OPT_NO_SAMPLES},
                                            {"no-responses", no_argument, NULL, OPT_NO_RESPONSES},
                                            {"prompt-style", required_argument, NULL, OPT_PROMPT_STYLE},
                                            {"mask-instructions", no_argument, NULL, OPT_MASK},
                                            {0}};
    InstructTrainOptions o = instruct_train_default_options();
    for (int c; (c = getopt_long(argc, argv, "m:d:e:l:s:o:h", options, NULL)) != -1;) {
        if (model_flag(c, &o.model)) continue;
        if (lora_flag(c, &o.lora_rank, &o.lora_alpha)) continue;
        switch (c) {
        case 'd': o.data_path = optarg; break;
        case 'e': o.epochs = (int)cli_long("--epochs", optarg, 1, 1000000); break;
        case 'l': o.lr = cli_float("--lr", optarg, 0, 10); break;
        case OPT_WD: o.weight_decay = cli_float("--weight-decay", optarg, 0, 10); break;
        case OPT_BATCH: o.batch_size = (int)cli_long("--batch-size", optarg, 1, 65536); break;
        case 's': o.seed = (uint64_t)cli_long("--seed", optarg, 0, 0x7fffffffL); break;
        case OPT_EVAL_FREQ: o.eval_freq = (int)cli_long("--eval-freq", optarg, 1, 1 << 30); break;
        case OPT_EVAL_ITER: o.eval_iter = (int)cli_long("--eval-iter", optarg, 1, 1 << 30); break;
        case 'o': o.out_dir = optarg; break;
        case OPT_ALLOWED: o.allowed_max_length = (int)cli_long("--allowed-max-length", optarg, 1, 1 << 20); break;
        case OPT_MAX_NEW: o.max_new_tokens = (int)cli_long("--max-new-tokens", optarg, 0, 1 << 20); break;
        case OPT_NO_SAMPLES: o.no_samples = true; break;
        case OPT_NO_RESPONSES: o.no_responses = true; break;
        case OPT_PROMPT_STYLE:
            if (!prompt_style_parse(optarg, &o.prompt_style))
                fatal("--prompt-style: '%s' is not 'alpaca' or 'phi3'", optarg);
            break;
        case OPT_MASK: o.mask_instructions = true; break;
        case 'h': usage_train_instruct(stdout); return 0;
        default: return cli_bad_usage("train-instruct");
        }
    }
    cli_no_arguments("train-instruct", argc, argv);
    o.model.seed = o.seed;
    train_instruct(&o);
    return 0;
}

/* ---- instruct ------------------------------------------------------------------------------- */

static int cmd_instruct(int argc, char **argv) {
    static const struct option options[] = {{"model", required_argument, NULL, 'm'},
                                            {"instruction", required_argument, NULL, OPT_INSTRUCTION},
                                            {"input", required_argument, NULL, OPT_INPUT},
                                            {"max-new-tokens", required_argument, NULL, OPT_MAX_NEW},
                                            {"prompt-style", required_argument, NULL, OPT_PROMPT_STYLE},
                                            {"help", no_argument, NULL, 'h'},
                                            {0}};
    const char *model_path = NULL, *instruction = NULL, *input = "", *style_name = NULL;
    long max_new = 256;
    for (int c; (c = getopt_long(argc, argv, "m:h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case OPT_INSTRUCTION: instruction = optarg; break;
        case OPT_INPUT: input = optarg; break;
        case OPT_MAX_NEW: max_new = cli_long("--max-new-tokens", optarg, 0, 1 << 20); break;
        case OPT_PROMPT_STYLE: style_name = optarg; break;
        case 'h':
            printf("usage: ch06 instruct --model MODEL --instruction TEXT [--input TEXT] [--max-new-tokens N]\n"
                   "                     [--prompt-style alpaca|phi3]\n"
                   "7.7: the model's response to an instruction (and its input), as the book extracts it:\n"
                   "greedy decoding after the prompt, stopping at <|endoftext|> or after N tokens (256).\n"
                   "Prints the response only. The prompt's style is the one the checkpoint was trained with\n"
                   "(`train-instruct --prompt-style`; Alpaca's for other models) unless given.\n");
            return 0;
        default: return cli_bad_usage("instruct");
        }
    }
    cli_no_arguments("instruct", argc, argv);
    if (!model_path || !instruction) fatal("instruct: --model and --instruction are required");
    PromptStyle style;
    if (style_name && !prompt_style_parse(style_name, &style))
        fatal("--prompt-style: '%s' is not 'alpaca' or 'phi3'", style_name);
    if (!style_name) style = instruct_checkpoint_style(model_path);
    GPTModel *m = gpt_load_any(model_path);
    Bpe *bpe = gpt_load_tokenizer(model_path);
    if (m->config.vocab_size != bpe_vocab_size(bpe))
        fatal("the model's vocabulary (%d) is not GPT-2's tokenizer's (%d)", m->config.vocab_size, bpe_vocab_size(bpe));
    InstructionEntry e = {utf8_sanitize(instruction, strlen(instruction), NULL), utf8_sanitize(input, strlen(input), NULL),
                          xstrdup("")};
    char *response = instruct_response_as(m, bpe, &e, (int)max_new, style);
    printf("%s\n", response);
    free(response);
    free(e.instruction);
    free(e.input);
    free(e.output);
    bpe_free(bpe);
    gpt_free(m);
    return 0;
}

static const CliCommand commands[] = {
    {"walkthrough", ch06_walkthrough, "chapters 6 and 7 section by section, as the notebooks run"},
    {"prepare-spam", cmd_prepare_spam, "6.2: the balanced SMS spam splits as CSV files"},
    {"train-classifier", cmd_train_classifier, "6.3-6.8: finetune a GPT to classify spam"},
    {"classify", cmd_classify, "6.8: spam or not spam, with a finetuned classifier"},
    {"train-instruct", cmd_train_instruct, "7.2-7.7: finetune a GPT to follow instructions"},
    {"instruct", cmd_instruct, "7.7: a finetuned model's response to an instruction"},
    {"exercise", cmd_exercise, "the chapters' exercises solved: 6.1-6.3, 7.1-7.4"},
    {"appendix-e", cmd_appendix_e, "appendix E: LoRA, the notebook cell by cell (appendix_e.c)"},
};

int main(int argc, char **argv) {
    static const CliProgram program = {
        .name = "ch06",
        .description =
            "Chapters 6 and 7 of Build a Large Language Model (From Scratch): finetuning for\n"
            "classification and to follow instructions.",
        .footer =
            "MODEL: a directory with OpenAI's GPT-2 files (make gpt2-124M), a Hugging Face directory\n"
            "(config.json + model.safetensors), a checkpoint written by ch05 or ch06, or \"random\".\n",
        .commands = commands,
        .n_commands = sizeof commands / sizeof commands[0],
    };
    return cli_main(&program, argc, argv);
}
