/* instruction_data.h: the book's chapter 7 data. 7.2 Preparing a dataset for
 * supervised instruction finetuning, 7.3 Organizing data into training
 * batches, and the file of 7.7 with the model's responses.
 *
 * instruction-data.json is a list of 1100 entries {"instruction", "input",
 * "output"}. Each becomes an Alpaca-style prompt:
 *
 *   Below is an instruction that describes a task. Write a response that
 *   appropriately completes the request.
 *
 *   ### Instruction:
 *   {instruction}
 *
 *   ### Input:            (only when the input is not empty)
 *   {input}
 *
 *   ### Response:         (training: followed by the output)
 *   {output}
 *
 * The split keeps the file's order: the first 85% train, the next 10% test,
 * the rest validate (935 / 110 / 55). */
#ifndef CH06_INSTRUCTION_DATA_H
#define CH06_INSTRUCTION_DATA_H

#include "../ch02_text/bpe.h"
#include "../common/util.h"

typedef struct {
    char *instruction, *input, *output; /* malloc'd */
} InstructionEntry;

typedef struct {
    InstructionEntry *items;
    int n;
} InstructionSet;

/* Parse the JSON list from the file's bytes. Anything else (malformed JSON,
 * not a list, an entry without the three strings) returns false with a
 * one-line reason in err, naming the line or the entry, and *out empty.
 * Reading the file exits with that reason after the file's name. */
bool instruction_data_parse(const char *json, size_t len, InstructionSet *out, char *err, size_t err_size);
InstructionSet instruction_data_read(const char *path);
void instruction_set_free(InstructionSet *s);
/* The book's split: train = [0, int(0.85 n)), test = the next int(0.1 n),
 * validation = the rest. The sets are copies. instruction_split_sizes
 * gives the three sizes for n entries. */
void instruction_split_sizes(int n, int *train, int *test, int *val);
void instruction_data_split(const InstructionSet *all, InstructionSet *train, InstructionSet *test,
                            InstructionSet *val);

/* The prompt template. The book's is Alpaca's (above); exercise 7.1's is
 * Phi-3's, shorter:
 *
 *   <|user|>
 *   {instruction}
 *   {input}               (only when the input is not empty)
 *   <|assistant|>:        (training: followed by the output)
 *   {output}
 *
 * GPT-2's tokenizer knows no <|user|> or <|assistant|>: they are ordinary
 * text to it (<|user|> is the 5 tokens 27, 91, 7220, 91, 29). */
typedef enum { PROMPT_ALPACA = 0, PROMPT_PHI3 = 1 } PromptStyle;
/* "alpaca", "phi3"; parsing returns false for anything else. */
const char *prompt_style_name(PromptStyle style);
bool prompt_style_parse(const char *name, PromptStyle *out);
/* What separates the prompt from the response: "### Response:" or
 * "<|assistant|>:", which 7.7 removes from the generated text. */
const char *prompt_response_tag(PromptStyle style);

/* format_input: the prompt up to and without the response's tag
 * (malloc'd); format_input is the Alpaca style's. */
char *format_input_as(const InstructionEntry *e, PromptStyle style);
char *format_input(const InstructionEntry *e);
/* What the model is trained on: format_input + "\n\n### Response:\n" +
 * output (Phi-3: + "\n<|assistant|>:\n" + output). */
char *format_training_text_as(const InstructionEntry *e, PromptStyle style);
char *format_training_text(const InstructionEntry *e);

/* 7.3 InstructionDataset: every entry's training text, encoded, and the
 * number of tokens of its prompt alone (format_input encoded by itself, as
 * exercise 7.2's dataset counts it), for masking the prompt out of the
 * targets. instruction_dataset_init uses the Alpaca style. */
typedef struct {
    int n;
    IntVec *encoded;
    int *prompt_lengths;
} InstructionDataset;
void instruction_dataset_init_as(InstructionDataset *ds, const InstructionSet *s, Bpe *bpe, PromptStyle style);
void instruction_dataset_init(InstructionDataset *ds, const InstructionSet *s, Bpe *bpe);
void instruction_dataset_free(InstructionDataset *ds);
/* The longest encoded entry. */
int instruction_dataset_longest(const InstructionDataset *ds);

/* 7.3 custom_collate_fn. Every sequence gets one pad_id (<|endoftext|>)
 * appended and is padded with pad_id to the longest; inputs drop the last
 * token, targets the first (the inputs shifted by one); in each row of the
 * targets every pad_id after the first becomes CROSS_ENTROPY_IGNORE_INDEX
 * (-100), so the loss learns to end a response but not to predict padding;
 * then both are cut to allowed_max_length. collate_length gives the batch's
 * length T = min(longest sequence, allowed_max_length) (allowed_max_length
 * <= 0: no limit); collate_batch fills inputs and targets (n,T). */
int collate_length(const int *lengths, int n, int allowed_max_length);
void collate_batch(const int *const *seqs, const int *lengths, int n, int T, int pad_id, int *inputs, int *targets);
/* Exercise 7.2, instruction masking: after collate_batch, the targets of
 * row b's first prompt_lengths[b] - 1 positions (those whose next token is
 * still the prompt's: targets[:instruction_length-1] = -100) become
 * CROSS_ENTROPY_IGNORE_INDEX, so the loss counts the response (from the
 * "\n\n### Response:\n" that follows the prompt) and its end only. */
void collate_mask_prompts(int *targets, int n, int T, const int *prompt_lengths);

/* The entries with a "model_response" each, as Python's json.dump(entries,
 * f, indent=4) writes them (ASCII only: other characters as \uXXXX escapes;
 * invalid UTF-8 as \ufffd): appended to out, or written to a file
 * atomically. */
void instruction_data_format_responses(const InstructionSet *s, char *const *responses, ByteBuf *out);
void instruction_data_write_responses(const char *path, const InstructionSet *s, char *const *responses);

#endif
