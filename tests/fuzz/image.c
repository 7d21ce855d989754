/* Fuzzes the image decoders (PNG by libpng, JPEG by libjpeg-turbo, chosen by content) and
 * the conversion to f32, with a pixel cap small enough that the fuzzer's own memory limit
 * is never what stops a large image. */
#include <stdlib.h>

#include "../../csrc/io/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    graft_image img;
    graft_error err;
    if (graft_image_decode(NULL, data, size, "fuzz", 1 << 22, &img, &err) != GRAFT_OK) return 0;
    size_t n = (size_t)img.width * (size_t)img.height;
    float *out = malloc(3 * n * sizeof *out + 1);
    if (out) graft_image_to_f32(&img, 3, out, &err);
    free(out);
    graft_image_free(&img);
    return 0;
}
