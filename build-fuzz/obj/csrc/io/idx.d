build-fuzz/obj/csrc/io/idx.o: csrc/io/idx.c csrc/io/idx.h \
  csrc/io/../core/tensor.h csrc/io/../core/ctx.h csrc/io/../core/rng.h \
  csrc/io/../core/dtype.h csrc/io/../core/error.h

csrc/io/idx.h:

csrc/io/../core/tensor.h:

csrc/io/../core/ctx.h:

csrc/io/../core/rng.h:

csrc/io/../core/dtype.h:

csrc/io/../core/error.h:
