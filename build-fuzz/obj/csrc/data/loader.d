build-fuzz/obj/csrc/data/loader.o: csrc/data/loader.c csrc/data/loader.h \
  csrc/data/../core/tensor.h csrc/data/../core/ctx.h \
  csrc/data/../core/rng.h csrc/data/../core/dtype.h \
  csrc/data/../core/error.h csrc/data/pipeline.h \
  csrc/data/../ops/vision.h csrc/data/../ops/../core/error.h \
  csrc/data/../io/image.h csrc/data/../io/../core/tensor.h

csrc/data/loader.h:

csrc/data/../core/tensor.h:

csrc/data/../core/ctx.h:

csrc/data/../core/rng.h:

csrc/data/../core/dtype.h:

csrc/data/../core/error.h:

csrc/data/pipeline.h:

csrc/data/../ops/vision.h:

csrc/data/../ops/../core/error.h:

csrc/data/../io/image.h:

csrc/data/../io/../core/tensor.h:
