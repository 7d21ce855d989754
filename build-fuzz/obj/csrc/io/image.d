build-fuzz/obj/csrc/io/image.o: csrc/io/image.c csrc/io/image.h \
  csrc/io/../core/tensor.h csrc/io/../core/ctx.h csrc/io/../core/rng.h \
  csrc/io/../core/dtype.h csrc/io/../core/error.h csrc/io/file.h

csrc/io/image.h:

csrc/io/../core/tensor.h:

csrc/io/../core/ctx.h:

csrc/io/../core/rng.h:

csrc/io/../core/dtype.h:

csrc/io/../core/error.h:

csrc/io/file.h:
