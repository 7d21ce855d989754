build-fuzz/obj/csrc/ops/elementwise.o: csrc/ops/elementwise.c \
  csrc/ops/elementwise.h csrc/ops/../core/tensor.h \
  csrc/ops/../core/ctx.h csrc/ops/../core/rng.h csrc/ops/../core/dtype.h \
  csrc/ops/../core/error.h csrc/ops/../core/iter.h csrc/ops/copy.h \
  csrc/ops/vecmath.h

csrc/ops/elementwise.h:

csrc/ops/../core/tensor.h:

csrc/ops/../core/ctx.h:

csrc/ops/../core/rng.h:

csrc/ops/../core/dtype.h:

csrc/ops/../core/error.h:

csrc/ops/../core/iter.h:

csrc/ops/copy.h:

csrc/ops/vecmath.h:
