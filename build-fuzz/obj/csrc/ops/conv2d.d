build-fuzz/obj/csrc/ops/conv2d.o: csrc/ops/conv2d.c csrc/ops/conv2d.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/../core/threads.h csrc/ops/copy.h \
  csrc/ops/matmul.h csrc/ops/vecmath.h csrc/ops/winograd.h \
  csrc/ops/window.h

csrc/ops/conv2d.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/../core/threads.h:

csrc/ops/copy.h:

csrc/ops/matmul.h:

csrc/ops/vecmath.h:

csrc/ops/winograd.h:

csrc/ops/window.h:
