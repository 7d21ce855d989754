build-fuzz/obj/csrc/ops/linear.o: csrc/ops/linear.c csrc/ops/linear.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/copy.h csrc/ops/matmul.h

csrc/ops/linear.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/copy.h:

csrc/ops/matmul.h:
