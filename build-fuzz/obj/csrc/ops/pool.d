build-fuzz/obj/csrc/ops/pool.o: csrc/ops/pool.c csrc/ops/pool.h \
  csrc/ops/../core/tensor.h csrc/ops/../core/ctx.h \
  csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/../core/threads.h csrc/ops/copy.h \
  csrc/ops/vecmath.h csrc/ops/window.h

csrc/ops/pool.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/../core/threads.h:

csrc/ops/copy.h:

csrc/ops/vecmath.h:

csrc/ops/window.h:
