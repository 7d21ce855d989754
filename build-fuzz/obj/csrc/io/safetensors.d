build-fuzz/obj/csrc/io/safetensors.o: csrc/io/safetensors.c \
  csrc/io/safetensors.h csrc/io/../core/tensor.h csrc/io/../core/ctx.h \
  csrc/io/../core/rng.h csrc/io/../core/dtype.h csrc/io/../core/error.h \
  csrc/io/file.h

csrc/io/safetensors.h:

csrc/io/../core/tensor.h:

csrc/io/../core/ctx.h:

csrc/io/../core/rng.h:

csrc/io/../core/dtype.h:

csrc/io/../core/error.h:

csrc/io/file.h:
