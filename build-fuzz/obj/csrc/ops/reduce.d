build-fuzz/obj/csrc/ops/reduce.o: csrc/ops/reduce.c csrc/ops/reduce.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/../core/threads.h csrc/ops/copy.h \
  csrc/ops/index.h

csrc/ops/reduce.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/../core/threads.h:

csrc/ops/copy.h:

csrc/ops/index.h:
