# llms-from-scratch in C: build, test, data, benchmarks.
#
#   make run     install what is missing, fetch the data, build, run the main job
#   make test    the Check test suite (make SANITIZE=1 test: under ASan + UBSan)
#   make data    download the data into DATA_DIR (default: ./data)
#   make bench   benchmarks (figures in the README)
#   make clean
#
# PORTABLE=1 builds without -march=native (for a binary that runs elsewhere).

CC ?= gcc
DATA_DIR ?= $(CURDIR)/data
override DATA_DIR := $(abspath $(DATA_DIR))
export DATA_DIR

BUILD := build
ifeq ($(SANITIZE),1)
  OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  SAN_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(PORTABLE),1)
  OPT := -O2 -g
else
  OPT := -O3 -march=native -g
endif
CJSON_CFLAGS := $(shell pkg-config --cflags libcjson 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -fopenmp $(CJSON_CFLAGS) -MMD -MP
LDFLAGS := -fopenmp $(SAN_LDFLAGS)
LDLIBS := -lcjson -lm

# ---- sources -------------------------------------------------------------
COMMON_SRC := common/util.c common/rng.c common/tensor.c common/tensor_file.c common/ops.c common/matmul.c common/crc32c.c
CH02_SRC := ch02_text/utf8.c ch02_text/unicode_classes.c ch02_text/simple_tokenizer.c ch02_text/bpe.c \
            ch02_text/bpe_train.c ch02_text/dataloader.c ch02_text/embedding.c
CH03_SRC := ch03_attention/attention.c
CH04_SRC := ch04_gpt/config.c ch04_gpt/layernorm.c ch04_gpt/gelu.c ch04_gpt/feedforward.c \
            ch04_gpt/transformer_block.c ch04_gpt/gpt.c ch04_gpt/generate.c
CH05_SRC := ch05_pretrain/loss.c ch05_pretrain/safetensors.c ch05_pretrain/tf_checkpoint.c ch05_pretrain/gpt_weights.c \
            ch05_pretrain/adamw.c ch05_pretrain/sampling.c ch05_pretrain/train.c
TEST_SRC := $(wildcard tests/test_*.c) tests/run_tests.c
BENCH_SRC := tests/bench.c tests/bench_helpers.c tests/bench_tokenizer.c tests/bench_matmul.c tests/test_helpers.c

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBCOMMON := $(BUILD)/libcommon.a
LIBCH02 := $(BUILD)/libch02.a
LIBCH03 := $(BUILD)/libch03.a
LIBCH04 := $(BUILD)/libch04.a
LIBCH05 := $(BUILD)/libch05.a
PROGRAMS := ch02_text/ch02 ch03_attention/ch03 ch04_gpt/ch04 ch05_pretrain/ch05

.PHONY: all run test bench data deps clean
all: $(PROGRAMS)

# Objects are rebuilt whenever the flags change (say, SANITIZE=1 and back).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
.PHONY: FORCE

$(BUILD)/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	$(AR) rcs $@ $^
$(LIBCH02): $(call obj,$(CH02_SRC))
	$(AR) rcs $@ $^
$(LIBCH03): $(call obj,$(CH03_SRC))
	$(AR) rcs $@ $^
$(LIBCH04): $(call obj,$(CH04_SRC))
	$(AR) rcs $@ $^
$(LIBCH05): $(call obj,$(CH05_SRC))
	$(AR) rcs $@ $^

ch02_text/ch02: $(call obj,ch02_text/main.c) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

ch03_attention/ch03: $(call obj,ch03_attention/main.c) $(LIBCH03) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# A later chapter links the earlier chapters' libraries, as the book's
# previous_chapters.py imports their code.
ch04_gpt/ch04: $(call obj,ch04_gpt/main.c) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

ch05_pretrain/ch05: $(call obj,ch05_pretrain/main.c) $(LIBCH05) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/run_tests: $(call obj,$(TEST_SRC)) $(LIBCH05) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CHECK_LIBS) -o $@

$(BUILD)/bench: $(call obj,$(BENCH_SRC)) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- the two commands a newcomer runs ----------------------------------------
run: deps data all
	ch02_text/ch02 walkthrough

test: deps data all $(BUILD)/run_tests
	$(BUILD)/run_tests

bench: deps data all $(BUILD)/bench
	@if command -v node >/dev/null && command -v npm >/dev/null && [ ! -d tests/reference/node_modules/tiktoken ]; then \
	  echo "installing the npm package tiktoken (the reference the bench compares with)" >&2; \
	  (cd tests/reference && npm install --no-save --silent tiktoken@1.0.22) || echo "npm install failed: bench runs without tiktoken" >&2; \
	fi
	$(BUILD)/bench

# ---- system packages ------------------------------------------------------------
# Debian package names; installed with apt-get when run as root, otherwise
# the exact command is printed.
APT_PACKAGES := gcc make pkg-config check libcjson-dev curl
deps:
	@if ! command -v dpkg >/dev/null; then echo "not a Debian system: make sure these are installed: $(APT_PACKAGES)" >&2; exit 0; fi; \
	missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	else \
	  echo "missing packages:$$missing" >&2; echo "run: sudo apt-get install -y$$missing" >&2; exit 1; \
	fi

# ---- data ---------------------------------------------------------------------------
# The public URLs the book uses. Each file is downloaded only when missing,
# to a temporary name first so an interrupted download leaves nothing behind.
VERDICT_URL := https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt
GPT2_URL := https://openaipublic.blob.core.windows.net/gpt-2/models/124M
DATA_FILES := $(DATA_DIR)/the-verdict.txt $(DATA_DIR)/gpt2/encoder.json $(DATA_DIR)/gpt2/vocab.bpe
download = mkdir -p $(dir $(2)) && curl -fL --retry 3 -o $(2).part '$(1)' && mv $(2).part $(2)

data: $(DATA_FILES)
$(DATA_DIR)/the-verdict.txt:
	$(call download,$(VERDICT_URL),$@)
$(DATA_DIR)/gpt2/encoder.json:
	$(call download,$(GPT2_URL)/encoder.json,$@)
$(DATA_DIR)/gpt2/vocab.bpe:
	$(call download,$(GPT2_URL)/vocab.bpe,$@)

clean:
	rm -rf $(BUILD) $(PROGRAMS)
