build-fuzz/obj/csrc/core/iter.o: csrc/core/iter.c csrc/core/iter.h \
  csrc/core/tensor.h csrc/core/ctx.h csrc/core/rng.h csrc/core/dtype.h \
  csrc/core/error.h csrc/core/threads.h

csrc/core/iter.h:

csrc/core/tensor.h:

csrc/core/ctx.h:

csrc/core/rng.h:

csrc/core/dtype.h:

csrc/core/error.h:

csrc/core/threads.h:
