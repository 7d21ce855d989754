build-fuzz/obj/csrc/ops/norm.o: csrc/ops/norm.c csrc/ops/norm.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/../core/threads.h csrc/ops/copy.h

csrc/ops/norm.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/../core/threads.h:

csrc/ops/copy.h:
