# llms-from-scratch in C: build, test, data, benchmarks.
#
#   make run     install what is missing, fetch the data, build, run the main job:
#                chapter 5's pretraining on The Verdict with the book's settings
#   make test    the Check test suite and the fuzz harnesses' regression inputs
#                (make SANITIZE=1 test: under ASan + UBSan)
#   make fuzz    build the libFuzzer harnesses (tests/fuzz) with clang and run
#                each for FUZZ_SECONDS (default 10) or FUZZ_RUNS executions
#   make data    download the data into DATA_DIR (default: ./data)
#   make plot    redraw the latest run's loss curves (runs/*/loss.png and a preview)
#   make gpt2-124M (355M, 774M, 1558M)   download OpenAI's GPT-2 weights into DATA_DIR/gpt2/SIZE
#   make alpaca  download Stanford Alpaca's 52k instructions (exercise 7.3) into DATA_DIR
#   make assignment CHAPTER=ch03 OUT=DIR   a student edition of chapters (or all) for a class
#   make grade   the autograder: each exercise's tests, its points, grade.json and grade.xml
#   make bench   install the references (OpenBLAS, PyTorch, tiktoken), build, run the
#                benchmarks (figures in the README)
#   make clean
#
# PORTABLE=1 builds without -march=native (for a binary that runs elsewhere).

CC ?= gcc
DATA_DIR ?= $(CURDIR)/data
override DATA_DIR := $(abspath $(DATA_DIR))
export DATA_DIR

# Objects go to build/ (build-san/ for the sanitizer build, so switching
# back and forth does not rebuild everything).
ifeq ($(SANITIZE),1)
  BUILD ?= build-san
else
  BUILD ?= build
endif
# make fuzz builds with clang and libFuzzer into build-fuzz/.
FUZZ_BUILD := build-fuzz
ifeq ($(SANITIZE),1)
  # -O2 and the machine's vector instructions, as the plain build: the
  # checks are the same, and the tests' arithmetic runs some 5x faster than
  # at -O1 without them (PORTABLE=1 leaves -march=native out here too)
  OPT := -O2 $(if $(filter 1,$(PORTABLE)),,-march=native) -g -fno-omit-frame-pointer \
         -fsanitize=address,undefined -fno-sanitize-recover=undefined
  SAN_LDFLAGS := -fsanitize=address,undefined
else ifeq ($(PORTABLE),1)
  OPT := -O2 -g
else
  OPT := -O3 -march=native -g
endif
# Package-dependent flags are expanded lazily (=, not :=), when a recipe
# uses them; the top-level targets below build in a sub-make that starts only
# after `deps` has installed the packages, so nothing is decided before then.
CJSON_CFLAGS = $(shell pkg-config --cflags libcjson 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lpthread -lm)
# MPI (Open MPI, or MPICH) when it is installed: `ch05 train` then runs across
# processes under mpirun (make deps installs Open MPI on Debian). MPI=0, or
# no MPI installed, builds everything as before, in one process.
MPI ?= 1
MPI_PC = $(if $(filter 1,$(MPI)),$(shell pkg-config --exists ompi-c 2>/dev/null && echo ompi-c || \
           { pkg-config --exists mpich 2>/dev/null && echo mpich; }))
MPI_CFLAGS = $(if $(MPI_PC),-DUSE_MPI $(shell pkg-config --cflags $(MPI_PC)))
MPI_LIBS = $(if $(MPI_PC),$(shell pkg-config --libs $(MPI_PC)))
CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -fopenmp $(CJSON_CFLAGS) $(MPI_CFLAGS) -MMD -MP
LDFLAGS := -fopenmp $(SAN_LDFLAGS)
LDLIBS = -lcjson -lm $(MPI_LIBS)

# ---- sources -------------------------------------------------------------
COMMON_SRC := common/util.c common/cli.c common/printing.c common/rng.c common/np_random.c common/tensor.c common/tensor_file.c common/ops.c common/matmul.c common/crc32c.c
CH02_SRC := ch02_text/utf8.c ch02_text/unicode_classes.c ch02_text/simple_tokenizer.c ch02_text/bpe.c \
            ch02_text/bpe_train.c ch02_text/dataloader.c ch02_text/embedding.c
CH03_SRC := ch03_attention/attention.c ch03_attention/attention_fast.c
CH04_SRC := ch04_gpt/config.c ch04_gpt/layernorm.c ch04_gpt/gelu.c ch04_gpt/feedforward.c \
            ch04_gpt/transformer_block.c ch04_gpt/gpt.c ch04_gpt/generate.c
CH05_SRC := ch05_pretrain/loss.c ch05_pretrain/safetensors.c ch05_pretrain/tf_checkpoint.c ch05_pretrain/gpt_weights.c \
            ch05_pretrain/adamw.c ch05_pretrain/sampling.c ch05_pretrain/train.c ch05_pretrain/pretrain.c \
            ch05_pretrain/corpus.c ch05_pretrain/shard_loader.c ch05_pretrain/data_parallel.c
# the ch05 program: its commands (main.c), the exercises, and what both print alike
CH05_PROGRAM_SRC := ch05_pretrain/main.c ch05_pretrain/exercises.c ch05_pretrain/notebook.c
CH06_SRC := ch06_finetune/csv.c ch06_finetune/spam_data.c ch06_finetune/example_loader.c ch06_finetune/trainable.c ch06_finetune/lora.c \
            ch06_finetune/classifier.c ch06_finetune/instruction_data.c ch06_finetune/finetune.c \
            ch06_finetune/train_classifier.c ch06_finetune/train_instruct.c ch06_finetune/exercises.c ch06_finetune/appendix_e.c
# Every tests/test_NAME.c defines a suite (Suite *NAME_suite(void)), and
# run_tests runs them all: the list is made from the files at build time
# (rule below), so a new test file runs without being added anywhere.
# TEST_ORDER only orders them, chapter by chapter as the book goes; a file
# not named in it runs after these.
TEST_ORDER := util printing rng np_random tensor tensor_file ops matmul \
              utf8 simple_tokenizer bpe bpe_train dataloader embedding ch02_cli \
              attention ch03_cli \
              layernorm gelu gpt generate ch04_cli \
              crc32c safetensors tf_checkpoint gpt_weights loss adamw sampling ch05_cli train_steps checkpoint \
              corpus shard_loader data_parallel pretrain \
              ch06_data ch06_loss ch06_classifier ch06_lora ch06_appendix_e ch06_cli \
              bad_input classroom
TEST_NAMES := $(patsubst tests/test_%.c,%,$(filter-out tests/test_helpers.c,$(wildcard tests/test_*.c)))
TEST_FILES := $(patsubst %,tests/test_%.c,$(foreach n,$(TEST_ORDER),$(filter $(n),$(TEST_NAMES))) \
                                          $(sort $(filter-out $(TEST_ORDER),$(TEST_NAMES))))
# the student editions' generator and the autograder (tests/classroom/), and
# what they share with the test that checks them
CLASSROOM_SRC := tests/classroom/regions.c tests/classroom/points.c
TEST_SRC := $(TEST_FILES) tests/test_helpers.c $(CLASSROOM_SRC) tests/run_tests.c
BENCH_SRC := tests/bench.c tests/bench_helpers.c tests/bench_tokenizer.c tests/bench_matmul.c tests/bench_gpt.c \
             tests/bench_corpus.c

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
LIBCOMMON := $(BUILD)/libcommon.a
LIBCH02 := $(BUILD)/libch02.a
LIBCH03 := $(BUILD)/libch03.a
LIBCH04 := $(BUILD)/libch04.a
LIBCH05 := $(BUILD)/libch05.a
LIBCH06 := $(BUILD)/libch06.a
PROGRAMS := ch02_text/ch02 ch03_attention/ch03 ch04_gpt/ch04 ch05_pretrain/ch05 ch06_finetune/ch06

# The fuzz harnesses, tests/fuzz/fuzz_NAME.c, by NAME (see "fuzzing" below).
FUZZ_NAMES := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_REPLAYS := $(patsubst %,$(BUILD)/fuzz-replay/fuzz_%,$(FUZZ_NAMES))

.PHONY: all run test bench data deps fuzz-deps fuzz fuzz-build clean plot
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
$(LIBCH06): $(call obj,$(CH06_SRC))
	$(AR) rcs $@ $^

# The chapter programs are relinked on every build (it takes a moment): they
# live outside $(BUILD), so this keeps them from mixing a sanitized and a
# plain build.
ch02_text/ch02: $(call obj,ch02_text/main.c) $(LIBCH02) $(LIBCOMMON) FORCE
	$(CC) $(LDFLAGS) $(filter-out FORCE,$^) $(LDLIBS) -o $@

ch03_attention/ch03: $(call obj,ch03_attention/main.c) $(LIBCH03) $(LIBCOMMON) FORCE
	$(CC) $(LDFLAGS) $(filter-out FORCE,$^) $(LDLIBS) -o $@

# A later chapter links the earlier chapters' libraries, as the book's
# previous_chapters.py imports their code.
ch04_gpt/ch04: $(call obj,ch04_gpt/main.c) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON) FORCE
	$(CC) $(LDFLAGS) $(filter-out FORCE,$^) $(LDLIBS) -o $@

ch05_pretrain/ch05: $(call obj,$(CH05_PROGRAM_SRC)) $(LIBCH05) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON) FORCE
	$(CC) $(LDFLAGS) $(filter-out FORCE,$^) $(LDLIBS) -o $@

ch06_finetune/ch06: $(call obj,ch06_finetune/main.c ch06_finetune/walkthrough.c) $(LIBCH06) $(LIBCH05) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON) FORCE
	$(CC) $(LDFLAGS) $(filter-out FORCE,$^) $(LDLIBS) -o $@

# $(BUILD)/tests/suites.h: each test file's suite, declared and listed in
# TEST_FILES' order, for run_tests.c; a test file without a suite stops the
# build. Made on every build and replaced only when it changes (as .flags).
$(BUILD)/tests/suites.h: FORCE
	@mkdir -p $(dir $@)
	@names=""; for f in $(TEST_FILES); do \
	  found=$$(sed -n 's/^Suite \*\([A-Za-z0-9_]*_suite\)(void)[^;]*$$/\1/p' $$f); \
	  [ -n "$$found" ] || { echo "$$f defines no suite: a test file defines Suite *NAME_suite(void), which run_tests runs" >&2; exit 1; }; \
	  names="$$names $$found"; \
	done; \
	{ echo "/* Made by the Makefile from tests/test_*.c (the suites, in TEST_ORDER): do not edit. */"; \
	  for n in $$names; do echo "Suite *$$n(void);"; done; \
	  echo "static Suite *(*const all_suites[])(void) = {"; \
	  for n in $$names; do echo "    $$n,"; done; \
	  echo "};"; } > $@.tmp; \
	cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
$(BUILD)/tests/run_tests.o: tests/run_tests.c $(BUILD)/tests/suites.h $(BUILD)/.flags
	$(CC) $(CFLAGS) -I$(BUILD)/tests -c $< -o $@

$(BUILD)/run_tests: $(call obj,$(TEST_SRC)) $(LIBCH06) $(LIBCH05) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CHECK_LIBS) -o $@

# A harness linked with tests/fuzz/replay_main.c instead of libFuzzer: it
# runs the harness on the files it is given (make test: the regression
# inputs), with the normal compiler and flags.
$(BUILD)/fuzz-replay/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_main.o $(LIBCH06) $(LIBCH05) \
                             $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/assignment: $(call obj,tests/classroom/assignment.c $(CLASSROOM_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/grade: $(call obj,tests/classroom/grade.c $(CLASSROOM_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench: $(call obj,$(BENCH_SRC)) $(LIBCH05) $(LIBCH04) $(LIBCH03) $(LIBCH02) $(LIBCOMMON)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

-include $(shell find $(BUILD) $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# ---- the two commands a newcomer runs ----------------------------------------
RUN_DIR ?= runs/verdict-124M
run: deps data
	$(MAKE) --no-print-directory all
	ch05_pretrain/ch05 train --out $(RUN_DIR)

plot:
	@latest=$$(ls -td runs/*/ 2>/dev/null | head -n 1); \
	if [ -z "$$latest" ] || [ ! -f "$${latest}log.csv" ]; then echo "no run in runs/ yet: make run first" >&2; exit 1; fi; \
	gnuplot -e "csv='$${latest}log.csv'; out='$${latest}loss.png'" plots/loss.gp && \
	gnuplot -e "csv='$${latest}log.csv'; out='-'" plots/loss.gp && echo "wrote $${latest}loss.png"

# After the Check suites, every fuzz harness replays its regression inputs
# (tests/fixtures/fuzz/NAME/: inputs that once crashed it).
# Check's per-test timeouts are set for the plain build; the sanitizers
# make the arithmetic several times slower, so they get four times as long.
ifeq ($(SANITIZE),1)
  TEST_ENV := CK_TIMEOUT_MULTIPLIER=4
endif
test: deps data
	$(MAKE) --no-print-directory all $(BUILD)/run_tests $(BUILD)/assignment $(BUILD)/grade $(FUZZ_REPLAYS)
	$(TEST_ENV) $(BUILD)/run_tests
	@for name in $(FUZZ_NAMES); do \
	  $(BUILD)/fuzz-replay/fuzz_$$name tests/fixtures/fuzz/$$name || { echo "fuzz_$$name: a regression input failed" >&2; exit 1; }; \
	done

# ---- teaching: student editions and the autograder (README: "Teaching with this codebase")
# make assignment CHAPTER="ch03 ch04" OUT=../student   a student edition of those chapters (or all)
# make grade [CHAPTER=...] [EXERCISE=3d]               each exercise's tests, points, grade.json and grade.xml
.PHONY: assignment grade
assignment: deps
	$(MAKE) --no-print-directory $(BUILD)/assignment
	$(BUILD)/assignment $(if $(CHAPTER),--chapters '$(CHAPTER)') $(if $(OUT),--out '$(OUT)')
grade: deps data
	$(MAKE) --no-print-directory all $(BUILD)/run_tests $(BUILD)/grade
	$(BUILD)/grade $(if $(CHAPTER),--chapters '$(CHAPTER)') $(if $(EXERCISE),--exercise '$(EXERCISE)') \
	  --runner $(BUILD)/run_tests --out $(BUILD)/grade-report

bench: bench-deps data
	$(MAKE) --no-print-directory all $(BUILD)/bench
	$(BUILD)/bench

# ---- system packages ------------------------------------------------------------
# Debian package names; installed with apt-get when run as root, otherwise
# the exact command is printed and make stops.
APT_PACKAGES := gcc make pkg-config check libcjson-dev curl unzip gnuplot-nox openmpi-bin libopenmpi-dev
# What `make bench` compares with, on top of those (`make test` never installs
# them): OpenBLAS, the sgemm reference and, through the libblas.so.3
# alternative, the BLAS under PyTorch (without it Debian's torch runs on the
# reference BLAS, libblas3, tens of times slower); PyTorch; node and npm for
# tiktoken, from Debian only when there is no node or npm yet (a nodejs
# package from elsewhere brings its own npm, and Debian's npm conflicts with it).
BENCH_APT_PACKAGES := libopenblas0-pthread python3-torch
BENCH_NODE_PACKAGES = $$(command -v node >/dev/null && command -v npm >/dev/null || echo nodejs npm)
TIKTOKEN_VERSION := 1.0.22
# `make fuzz` needs clang, libFuzzer and clang's OpenMP besides; nothing else does.
FUZZ_APT_PACKAGES := clang libclang-rt-14-dev libomp-14-dev

# $(call apt_ensure,PACKAGES): install those of PACKAGES (shell words) that
# are not installed.
apt_ensure = if ! command -v dpkg-query >/dev/null; then echo "not a Debian system: make sure these are installed: $(1)" >&2; exit 0; fi; \
	missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${db:Status-Abbrev}' $$p 2>/dev/null | grep -q '^ii' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing:$$missing" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	else \
	  echo "missing packages:$$missing" >&2; echo "run: sudo apt-get install -y$$missing" >&2; exit 1; \
	fi

deps:
	@$(call apt_ensure,$(APT_PACKAGES))
fuzz-deps: deps
	@$(call apt_ensure,$(FUZZ_APT_PACKAGES))

.PHONY: bench-deps bench-apt bench-blas bench-tiktoken
bench-deps: bench-blas bench-tiktoken
bench-apt: deps
	@$(call apt_ensure,$(BENCH_APT_PACKAGES) $(BENCH_NODE_PACKAGES))

# Point the system's libblas.so.3 and liblapack.so.3 (Debian alternatives,
# one per multiarch triplet) at OpenBLAS, so that PyTorch, which links
# libblas.so.3, runs on it.
bench-blas: bench-apt
	@command -v update-alternatives >/dev/null || { echo "no update-alternatives: make sure libblas.so.3 is OpenBLAS" >&2; exit 0; }; \
	triplet=$$($(CC) -print-multiarch 2>/dev/null); [ -n "$$triplet" ] || triplet=$$(dpkg-architecture -qDEB_HOST_MULTIARCH); \
	for lib in libblas.so.3 liblapack.so.3; do \
	  name=$$lib-$$triplet; want=/usr/lib/$$triplet/openblas-pthread/$$lib; \
	  now=$$(update-alternatives --query $$name 2>/dev/null | sed -n 's/^Value: //p'); \
	  [ "$$now" = "$$want" ] && continue; \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "pointing $$name at OpenBLAS: $$want (was: $${now:-none})" >&2; \
	    update-alternatives --set $$name $$want >/dev/null || exit 1; \
	  else \
	    echo "$$name is $${now:-not set}, not OpenBLAS" >&2; echo "run: sudo update-alternatives --set $$name $$want" >&2; exit 1; \
	  fi; \
	done

# tiktoken from npm into tests/reference/node_modules (the version the
# fixtures were made with); the bench runs without it when npm fails.
bench-tiktoken: bench-apt
	@cd tests/reference && \
	have=$$(node -p 'require("./node_modules/tiktoken/package.json").version' 2>/dev/null); \
	[ "$$have" = "$(TIKTOKEN_VERSION)" ] && exit 0; \
	echo "installing the npm package tiktoken@$(TIKTOKEN_VERSION) (the reference the bench compares with)" >&2; \
	npm install --no-save --silent tiktoken@$(TIKTOKEN_VERSION) || echo "npm install failed: the bench runs without tiktoken" >&2

# ---- data ---------------------------------------------------------------------------
# The public URLs the book uses. Each file is downloaded only when missing,
# to a temporary name first so an interrupted download leaves nothing behind.
VERDICT_URL := https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/01_main-chapter-code/the-verdict.txt
GPT2_URL := https://openaipublic.blob.core.windows.net/gpt-2/models/124M
# chapter 6: the SMS Spam Collection (a zip at UCI; the book's mirror as a
# fallback) and the book's instruction data set
SMS_URL := https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip
SMS_BACKUP_URL := https://f001.backblazeb2.com/file/LLMs-from-scratch/sms%2Bspam%2Bcollection.zip
INSTRUCTIONS_URL := https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch07/01_main-chapter-code/instruction-data.json
# exercise 7.3: the original Stanford Alpaca data (52,002 entries, 22 MB), not part of `make data`
ALPACA_URL := https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/main/alpaca_data.json
download = mkdir -p $(dir $(2)) && curl -fsSL --retry 3 -o $(2).part '$(1)' && mv $(2).part $(2)

# Real sample files of the two weight formats chapter 5 reads, which the
# tests load: Hugging Face safetensors files and TensorFlow checkpoints, each
# from a public repository at a fixed commit (so the bytes never change).
# Each entry is "path-in-DATA_DIR|URL".
GH := https://raw.githubusercontent.com
LM_BUDDY_TINY := $(GH)/mozilla-ai/lm-buddy/dd74eed2aea33ed59a14f63c13d92f50f974c889/tests/resources/models/tiny_gpt2
LM_BUDDY_FAKE := $(GH)/mozilla-ai/lm-buddy/ed3edfaf990f35d4f107ff61880b36696f7e12fe/tests/resources/models/fake_gpt2
TF1_TINY := $(GH)/XinChan/Learn_tensorflow/a953931f12654701ed8399cee836ed4a7ea36905/my_net
TF1_ADAM := $(GH)/MattChubb/tensorflow-houseprices/860ba35f8ca220605aca6a259989ad2a56959862
TF2_KERAS := $(GH)/themasterz854/Dataspellfiles/7f727f1798556b4d9d9c41e3783dfa1a34cc8303
SWIFT_INDEX := $(GH)/tensorflow/swift-models/9761087ea87edee00da5d2ec753b6c1f1a0d9f1a/Tests/CheckpointTests/IndexFiles
SAMPLE_FILES := \
  safetensors/tiny_gpt2/model.safetensors|$(LM_BUDDY_TINY)/model.safetensors \
  safetensors/tiny_gpt2/config.json|$(LM_BUDDY_TINY)/config.json \
  safetensors/fake_gpt2/model.safetensors|$(LM_BUDDY_FAKE)/model.safetensors \
  safetensors/fake_gpt2/config.json|$(LM_BUDDY_FAKE)/config.json \
  tf_checkpoint/tf1_tiny/checkpoint|$(TF1_TINY)/checkpoint \
  tf_checkpoint/tf1_tiny/save_net.ckpt.index|$(TF1_TINY)/save_net.ckpt.index \
  tf_checkpoint/tf1_tiny/save_net.ckpt.data-00000-of-00001|$(TF1_TINY)/save_net.ckpt.data-00000-of-00001 \
  tf_checkpoint/tf1_adam_mlp/checkpoint|$(TF1_ADAM)/checkpoint \
  tf_checkpoint/tf1_adam_mlp/model.ckpt.index|$(TF1_ADAM)/model.ckpt.index \
  tf_checkpoint/tf1_adam_mlp/model.ckpt.data-00000-of-00001|$(TF1_ADAM)/model.ckpt.data-00000-of-00001 \
  tf_checkpoint/tf2_keras/1.ckpt.index|$(TF2_KERAS)/1.ckpt.index \
  tf_checkpoint/tf2_keras/1.ckpt.data-00000-of-00001|$(TF2_KERAS)/1.ckpt.data-00000-of-00001 \
  tf_checkpoint/gpt2_124M_index_only/model.ckpt.index|$(SWIFT_INDEX)/transformer.index \
  tf_checkpoint/snappy_index_only/minigo.index|$(SWIFT_INDEX)/minigo.index
sample_path = $(DATA_DIR)/$(word 1,$(subst |, ,$(1)))
sample_url = $(word 2,$(subst |, ,$(1)))
$(foreach f,$(SAMPLE_FILES),$(eval $(call sample_path,$(f)): ; $$(call download,$(call sample_url,$(f)),$$@)))

DATA_FILES := $(DATA_DIR)/the-verdict.txt $(DATA_DIR)/gpt2/encoder.json $(DATA_DIR)/gpt2/vocab.bpe \
              $(DATA_DIR)/sms_spam/SMSSpamCollection $(DATA_DIR)/instruction-data.json \
              $(foreach f,$(SAMPLE_FILES),$(call sample_path,$(f)))

data: $(DATA_FILES)
$(DATA_DIR)/the-verdict.txt:
	$(call download,$(VERDICT_URL),$@)
$(DATA_DIR)/gpt2/encoder.json:
	$(call download,$(GPT2_URL)/encoder.json,$@)
$(DATA_DIR)/gpt2/vocab.bpe:
	$(call download,$(GPT2_URL)/vocab.bpe,$@)
$(DATA_DIR)/instruction-data.json:
	$(call download,$(INSTRUCTIONS_URL),$@)
# exercise 7.3's data: ch06_finetune/ch06 train-instruct --data $(DATA_DIR)/alpaca_data.json ...
.PHONY: alpaca
alpaca: $(DATA_DIR)/alpaca_data.json
$(DATA_DIR)/alpaca_data.json:
	$(call download,$(ALPACA_URL),$@)
$(DATA_DIR)/sms_spam/SMSSpamCollection:
	mkdir -p $(dir $@)
	(curl -fL --retry 3 -o $@.zip '$(SMS_URL)' || curl -fL --retry 3 -o $@.zip '$(SMS_BACKUP_URL)') && \
	unzip -p $@.zip SMSSpamCollection > $@.part && [ -s $@.part ] && mv $@.part $@ && rm -f $@.zip || \
	{ rm -f $@.zip $@.part; echo "could not download the SMS Spam Collection" >&2; exit 1; }

# OpenAI's GPT-2 release, as the book's gpt_download.py fetches it: seven
# files per size from OpenAI's bucket, or the book's backup mirror when that
# fails. curl fails on a short transfer (so a file is complete or absent) and
# shows its progress bar.
GPT2_SIZES := 124M 355M 774M 1558M
GPT2_FILES := checkpoint encoder.json hparams.json model.ckpt.data-00000-of-00001 model.ckpt.index model.ckpt.meta vocab.bpe
GPT2_BACKUP_URL := https://f001.backblazeb2.com/file/LLMs-from-scratch/gpt2
.PHONY: $(addprefix gpt2-,$(GPT2_SIZES))
$(addprefix gpt2-,$(GPT2_SIZES)): gpt2-%:
	@mkdir -p $(DATA_DIR)/gpt2/$*
	@for f in $(GPT2_FILES); do \
	  out=$(DATA_DIR)/gpt2/$*/$$f; \
	  if [ -s $$out ]; then echo "$$out: already there"; continue; fi; \
	  echo "downloading $$f ($*)"; \
	  curl -fL --retry 3 --progress-bar -o $$out.part $(GPT2_URL:/124M=)/$*/$$f || \
	  curl -fL --retry 3 --progress-bar -o $$out.part $(GPT2_BACKUP_URL)/$*/$$f || \
	  { rm -f $$out.part; echo "could not download $$f for GPT-2 $*" >&2; exit 1; }; \
	  [ -s $$out.part ] || { rm -f $$out.part; echo "$$f: empty download" >&2; exit 1; }; \
	  mv $$out.part $$out; \
	done
	@echo "GPT-2 $* is in $(DATA_DIR)/gpt2/$*: ch05_pretrain/ch05 generate --model $(DATA_DIR)/gpt2/$* --prompt 'Every effort moves you'"

# ---- fuzzing -----------------------------------------------------------------------------
# Each tests/fuzz/fuzz_NAME.c defines LLVMFuzzerTestOneInput (and maybe
# LLVMFuzzerInitialize). make fuzz builds each with clang and libFuzzer,
# ASan and UBSan into build-fuzz/fuzz_NAME (the project's library code
# compiled with -fsanitize=fuzzer-no-link and the same sanitizers), then
# tests/fuzz/run.sh runs them one after the other, seeded from
# tests/fuzz/fuzz_NAME.seeds, each for FUZZ_SECONDS seconds or FUZZ_RUNS
# executions, and prints a line per harness: executions, seconds,
# crashes. It fails when any harness crashed; the crash input is in
# build-fuzz/artifacts/NAME/ (commit it to tests/fixtures/fuzz/NAME/ with
# the fix, and make test replays it from then on).
FUZZ_CC := clang
FUZZ_SECONDS ?= 10
FUZZ_RUNS ?=
FUZZ_TIMEOUT ?= 10
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# (-Wno-pass-failed: at -O1 clang does not vectorise the `omp simd` loops and says so)
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-pass-failed -fopenmp $(CJSON_CFLAGS) -MMD -MP
FUZZ_LIB_SRC := $(COMMON_SRC) $(CH02_SRC) $(CH03_SRC) $(CH04_SRC) $(CH05_SRC) $(CH06_SRC)
FUZZ_LIB := $(FUZZ_BUILD)/libproject.a
FUZZ_BINS := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_NAMES))

$(FUZZ_BUILD)/.flags: FORCE
	@mkdir -p $(FUZZ_BUILD)
	@echo '$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN)' | cmp -s - $@ || echo '$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SAN)' > $@

$(FUZZ_BUILD)/obj/%.o: %.c $(FUZZ_BUILD)/.flags
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -c $< -o $@

$(FUZZ_LIB): $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_LIB_SRC))
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB) $(FUZZ_BUILD)/.flags
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) $< $(FUZZ_LIB) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-deps data
	$(MAKE) --no-print-directory fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_TIMEOUT=$(FUZZ_TIMEOUT) \
	  tests/fuzz/run.sh $(FUZZ_NAMES)

clean:
	rm -rf build build-san $(FUZZ_BUILD) $(PROGRAMS)
