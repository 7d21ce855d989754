build-fuzz/obj/csrc/ops/index.o: csrc/ops/index.c csrc/ops/index.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/copy.h csrc/ops/elementwise.h

csrc/ops/index.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/copy.h:

csrc/ops/elementwise.h:
