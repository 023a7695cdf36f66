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
 * validation = the rest. The sets are copies. */
void instruction_data_split(const InstructionSet *all, InstructionSet *train, InstructionSet *test,
                            InstructionSet *val);

/* format_input: the prompt up to and without "### Response:" (malloc'd). */
char *format_input(const InstructionEntry *e);
/* What the model is trained on: format_input + "\n\n### Response:\n" + output. */
char *format_training_text(const InstructionEntry *e);

/* 7.3 InstructionDataset: every entry's training text, encoded. */
typedef struct {
    int n;
    IntVec *encoded;
} InstructionDataset;
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

/* The entries with a "model_response" each, as Python's json.dump(entries,
 * f, indent=4) writes them (ASCII only: other characters as \uXXXX escapes;
 * invalid UTF-8 as \ufffd): appended to out, or written to a file
 * atomically. */
void instruction_data_format_responses(const InstructionSet *s, char *const *responses, ByteBuf *out);
void instruction_data_write_responses(const char *path, const InstructionSet *s, char *const *responses);

#endif
