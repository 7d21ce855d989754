build-fuzz/obj/csrc/io/image_jpeg.o: csrc/io/image_jpeg.c csrc/io/image.h \
  csrc/io/../core/tensor.h csrc/io/../core/ctx.h csrc/io/../core/rng.h \
  csrc/io/../core/dtype.h csrc/io/../core/error.h

csrc/io/image.h:

csrc/io/../core/tensor.h:

csrc/io/../core/ctx.h:

csrc/io/../core/rng.h:

csrc/io/../core/dtype.h:

csrc/io/../core/error.h:
