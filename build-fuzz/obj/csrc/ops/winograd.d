build-fuzz/obj/csrc/ops/winograd.o: csrc/ops/winograd.c \
  csrc/ops/winograd.h csrc/ops/conv2d.h csrc/ops/../core/tensor.h \
  csrc/ops/../core/ctx.h csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/../core/threads.h csrc/ops/matmul.h \
  csrc/ops/vecmath.h

csrc/ops/winograd.h:

csrc/ops/conv2d.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/../core/threads.h:

csrc/ops/matmul.h:

csrc/ops/vecmath.h:
