build-fuzz/obj/csrc/core/tensor.o: csrc/core/tensor.c csrc/core/tensor.h \
  csrc/core/ctx.h csrc/core/rng.h csrc/core/dtype.h csrc/core/error.h

csrc/core/tensor.h:

csrc/core/ctx.h:

csrc/core/rng.h:

csrc/core/dtype.h:

csrc/core/error.h:
