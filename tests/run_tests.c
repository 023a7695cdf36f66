/* run_tests.c: runs every suite; `make test` builds and runs this. Each test
 * runs in its own process (Check's fork mode), so a crash fails one test,
 * not the run. */
#include <stdlib.h>

#include "test_helpers.h"

int main(void) {
    set_program_name("run_tests");
    Suite *(*const suites[])(void) = {
        util_suite, rng_suite, tensor_suite, tensor_file_suite, ops_suite, matmul_suite,       /* common */
        utf8_suite, simple_tokenizer_suite, bpe_suite, bpe_train_suite, dataloader_suite,       /* chapter 2 */
        embedding_suite, ch02_cli_suite,
        attention_suite, ch03_cli_suite,                                                        /* chapter 3 */
        layernorm_suite, gelu_suite, gpt_suite, generate_suite, ch04_cli_suite,                 /* chapter 4 */
        crc32c_suite, safetensors_suite, tf_checkpoint_suite, gpt_weights_suite,                /* chapter 5 */
        loss_suite, adamw_suite, sampling_suite, ch05_cli_suite, train_steps_suite, checkpoint_suite,
        ch06_data_suite, ch06_loss_suite, ch06_classifier_suite, ch06_lora_suite, ch06_cli_suite,              /* chapter 6 */
        bad_input_suite,                                                                        /* every program */
    };
    SRunner *runner = srunner_create(NULL);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) srunner_add_suite(runner, suites[i]());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
